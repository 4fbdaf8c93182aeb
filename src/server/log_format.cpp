#include "server/log_format.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <ctime>
#include <nlohmann/json.hpp>

namespace kiln::server {
namespace {

using Json = nlohmann::json;

constexpr const char* kTextPattern = "[%Y-%m-%d %H:%M:%S.%e] %^%l%$: %v";
std::atomic<bool> g_json{false};

std::string iso_time(spdlog::log_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch());
  const std::time_t secs = (std::time_t)(ms.count() / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", (int)(ms.count() % 1000));
  return buf;
}

// Every line as {"time", "level", "message"}, or, for a payload that is already a JSON
// object (the access logger's), that object with time and level put first.
class JsonFormatter final : public spdlog::formatter {
 public:
  explicit JsonFormatter(bool payload_is_object) : payload_is_object_(payload_is_object) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto level_name = spdlog::level::to_string_view(msg.level);
    const std::string_view level(level_name.data(), level_name.size());
    const std::string_view payload(msg.payload.data(), msg.payload.size());
    std::string line = "{\"time\":\"" + iso_time(msg.time) + "\",\"level\":\"" +
                       std::string(level) + "\",";
    if (payload_is_object_ && payload.size() >= 2 && payload.front() == '{') {
      line.append(payload.substr(1));
    } else {
      line += "\"message\":" +
              Json(std::string(payload)).dump(-1, ' ', false, Json::error_handler_t::replace) +
              "}";
    }
    line += "\n";
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>(payload_is_object_);
  }

 private:
  const bool payload_is_object_;
};

std::shared_ptr<spdlog::logger> access_logger() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = std::make_shared<spdlog::logger>("access", spdlog::default_logger()->sinks().begin(),
                                              spdlog::default_logger()->sinks().end());
    l->set_pattern(kTextPattern);
    return l;
  }();
  return logger;
}

}  // namespace

Status configure_log_format(std::string_view format) {
  if (format == "text") {
    g_json = false;
    spdlog::set_pattern(kTextPattern);
    access_logger()->set_pattern(kTextPattern);
  } else if (format == "json") {
    g_json = true;
    spdlog::set_formatter(std::make_unique<JsonFormatter>(false));
    access_logger()->set_formatter(std::make_unique<JsonFormatter>(true));
  } else {
    return Status::Error("--log-format must be text or json, got '" + std::string(format) + "'");
  }
  return Status::Ok();
}

void log_access(const AccessRecord& r) {
  // 503s are expected (loading, draining) and /health is polled while they last.
  const auto level = r.status >= 500 && r.status != 503 ? spdlog::level::warn : spdlog::level::info;
  const auto& logger = access_logger();
  if (!logger->should_log(level)) return;
  if (g_json) {
    const std::string_view path = r.target.substr(0, r.target.find('?'));
    Json line = {{"method", r.method},         {"path", path},
                 {"status", r.status},         {"seconds", std::round(r.seconds * 1e3) / 1e3},
                 {"request_id", r.request_id}, {"remote", r.remote},
                 {"note", r.note}};
    if (r.client_gone) line["client_gone"] = true;
    logger->log(level, "{}", line.dump(-1, ' ', false, Json::error_handler_t::replace));
    return;
  }
  logger->log(level, "{} \"{} {}\" {} {}{}{:.3f}s request_id={}{}", r.remote, r.method, r.target,
              r.status, r.note, r.note.empty() ? "" : " ", r.seconds, r.request_id,
              r.client_gone ? " client went away, request cancelled" : "");
}

}  // namespace kiln::server
