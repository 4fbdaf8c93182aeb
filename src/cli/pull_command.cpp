// `kiln pull SOURCE`: fetch a model into the store (store/model_store.h). On a terminal a
// progress bar with bytes, speed and ETA; otherwise one line per percent, for logs.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>

#include "cli/commands.h"
#include "cli/loaded_model.h"
#include "cli/model_arg.h"
#include "store/model_store.h"

namespace kiln::cli {
namespace {

struct PullOptionsCli {
  std::string source;
  std::string name;
  int connections = 4;
};

std::atomic<bool> g_cancel{false};
void on_sigint(int) { g_cancel.store(true); }

std::string format_duration(double seconds) {
  if (seconds < 0 || seconds > 359999) return "--:--";
  int s = (int)(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%d:%02d", s / 60, s % 60);
  }
  return buf;
}

// Draws the progress of one pull; called from the pulling thread only.
class ProgressPrinter {
 public:
  explicit ProgressPrinter(bool terminal) : terminal_(terminal) {}

  void operator()(const store::PullProgress& p) {
    const auto now = std::chrono::steady_clock::now();
    if (p.status != status_) {
      end_bar();
      status_ = p.status;
      last_percent_ = -1;
      start_ = now;
      start_bytes_ = p.completed_bytes;
      if (p.total_bytes == 0) std::printf("%s\n", p.status.c_str());
      std::fflush(stdout);
    }
    if (p.total_bytes == 0) return;
    const int percent = (int)(100.0 * (double)p.completed_bytes / (double)p.total_bytes);
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double speed = elapsed > 0 ? (double)(p.completed_bytes - start_bytes_) / elapsed : 0;
    const double eta = speed > 0 ? (double)(p.total_bytes - p.completed_bytes) / speed : -1;
    if (!terminal_) {
      if (percent != last_percent_) {
        std::printf("%s: %d%% (%s of %s)\n", status_.c_str(), percent,
                    human_bytes(p.completed_bytes).c_str(), human_bytes(p.total_bytes).c_str());
        std::fflush(stdout);
        last_percent_ = percent;
      }
      return;
    }
    if (now - last_draw_ < std::chrono::milliseconds(100) && p.completed_bytes != p.total_bytes)
      return;
    last_draw_ = now;
    constexpr int kWidth = 30;
    std::string bar(kWidth, ' ');
    for (int i = 0; i < kWidth * percent / 100; ++i) bar[i] = '=';
    std::printf("\r\033[K%s %3d%% [%s] %s/%s %s/s ETA %s", status_.c_str(), percent, bar.c_str(),
                human_bytes(p.completed_bytes).c_str(), human_bytes(p.total_bytes).c_str(),
                human_bytes((uint64_t)speed).c_str(), format_duration(eta).c_str());
    std::fflush(stdout);
    bar_open_ = true;
  }

  void end_bar() {
    if (bar_open_) std::printf("\n");
    bar_open_ = false;
  }

 private:
  bool terminal_;
  bool bar_open_ = false;
  std::string status_;
  int last_percent_ = -1;
  uint64_t start_bytes_ = 0;
  std::chrono::steady_clock::time_point start_{};
  std::chrono::steady_clock::time_point last_draw_{};
};

int pull(const PullOptionsCli& o) {
  // NOTE: a file-size limit (ulimit -f) must fail the write (EFBIG), not kill kiln, so
  // that a pull that runs out of room ends with an error and its partial file.
  signal(SIGXFSZ, SIG_IGN);
  struct sigaction action {};
  action.sa_handler = on_sigint;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);

  store::ModelStore models(store::ModelStore::default_root());
  store::PullOptions options;
  options.name = o.name;
  options.num_connections = o.connections;
  ProgressPrinter printer(isatty(STDOUT_FILENO) != 0);
  auto result = models.pull(
      o.source, [&](const store::PullProgress& p) { printer(p); }, &g_cancel, options);
  printer.end_bar();
  if (!result.ok()) {
    print_error(result.message());
    return 1;
  }
  std::printf("pulled %s (%s, %s, %s)\n", result->name.c_str(),
              human_bytes(result->size_bytes).c_str(), result->architecture.c_str(),
              result->quantization.c_str());
  return 0;
}

}  // namespace

void register_pull_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<PullOptionsCli>();
  CLI::App* cmd = app.add_subcommand("pull",
                                     "Fetch a model into the store: hf.co/OWNER/REPO[:QUANT], "
                                     "[hf.co/]OWNER/REPO/FILE.gguf, a URL or a path");
  cmd->add_option("source", opts->source, "what to fetch (docs/models.md)")->required();
  cmd->add_option("--name", opts->name, "the model's name in the store (default: from the source)");
  cmd->add_option("--connections", opts->connections,
                  "parallel ranges for a large file (1: one stream)")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  cmd->callback([opts, &exit_code] { exit_code = pull(*opts); });
}

}  // namespace kiln::cli
