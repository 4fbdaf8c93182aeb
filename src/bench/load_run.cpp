#include "bench/load_run.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdio>
#include <ctime>
#include <deque>

#include "bench/arrivals.h"

namespace kiln::bench {
namespace {

namespace net = boost::asio;
using SteadyClock = std::chrono::steady_clock;

double seconds(SteadyTime from, SteadyTime to) {
  return std::chrono::duration<double>(to - from).count();
}

std::string iso8601_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)ms);
  return buf;
}

class LoadRunner {
 public:
  LoadRunner(const HttpEndpoint& endpoint, const LoadRunOptions& options,
             const std::vector<WorkItem>& warmup_items, const std::vector<WorkItem>& items,
             const Tokenizer* tokenizer)
      : options_(options),
        warmup_items_(warmup_items),
        items_(items),
        tokenizer_(tokenizer),
        client_(io_, endpoint, options.client),
        arrivals_(options.request_rate, options.burstiness, options.seed),
        warmup_gate_(options.max_concurrency),
        gate_(options.max_concurrency),
        arrival_timer_(io_),
        duration_timer_(io_),
        progress_timer_(io_) {}

  LoadRunResult run() {
    if (options_.progress) tick_progress();
    if (warmup_items_.empty()) {
      start_timed();
    } else {
      for (size_t i = 0; i < warmup_items_.size(); ++i) warmup_gate_.arrive();
      pump_warmup();
    }
    io_.run();
    result_.duration_s = last_end_ > first_send_ ? seconds(first_send_, last_end_) : 0.0;
    result_.mean_in_flight = result_.duration_s > 0 ? in_flight_area_ / result_.duration_s : 0.0;
    if (options_.progress) {
      draw_progress();
      std::fputc('\n', stderr);
    }
    for (auto& r : records_) result_.requests.push_back(std::move(r));
    return std::move(result_);
  }

 private:
  // --- warm-up ---
  void pump_warmup() {
    while (warmup_gate_.try_send()) {
      const WorkItem& item = warmup_items_[warmup_sent_++];
      auto reader = std::make_shared<OpenAiStreamReader>(SteadyClock::now());
      client_.post(
          request_path(options_.shape), request_body(options_.shape, item),
          [reader](std::string_view data, SteadyTime t) { reader->on_data(data, t); },
          [this, reader, &item](const StreamEnd& end) {
            RequestRecord r = reader->finish(end, item, tokenizer_);
            if (!r.ok() && result_.warmup_failed++ == 0) {
              result_.warmup_error = r.error + ": " + r.error_message;
            }
            warmup_gate_.finish();
            if (++warmup_done_ == warmup_items_.size()) {
              start_timed();
            } else {
              pump_warmup();
            }
          });
    }
  }

  // --- timed run ---
  bool unbounded_arrivals() const { return arrivals_.all_at_once() && !options_.num_requests; }

  void start_timed() {
    timed_ = true;
    run_start_ = SteadyClock::now();
    if (unbounded_arrivals()) {
      pump();
      return;
    }
    next_arrival_ = run_start_;
    if (!arrivals_.all_at_once()) next_arrival_ += to_duration(arrivals_.next_gap_s());
    on_arrival_due();
  }

  static SteadyClock::duration to_duration(double s) {
    return std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(s));
  }

  bool arrivals_exhausted() const {
    return stop_sending_ || (options_.num_requests && arrived_ >= *options_.num_requests);
  }

  void on_arrival_due() {
    const auto now = SteadyClock::now();
    while (!arrivals_exhausted() && next_arrival_ <= now) {
      if (options_.duration_s && sent_ > 0 && seconds(first_send_, next_arrival_) >= *options_.duration_s) {
        stop_sending();
        break;
      }
      gate_.arrive();
      ++arrived_;
      next_arrival_ += to_duration(arrivals_.next_gap_s());
    }
    pump();
    if (arrivals_exhausted()) return maybe_finish();
    arrival_timer_.expires_at(next_arrival_);
    arrival_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) on_arrival_due();
    });
  }

  void pump() {
    if (unbounded_arrivals()) {
      while (!stop_sending_ && (options_.max_concurrency <= 0 || gate_.in_flight() < options_.max_concurrency)) {
        gate_.arrive();
        ++arrived_;
        if (!gate_.try_send()) break;
        send();
      }
      return;
    }
    while (!stop_sending_ && gate_.try_send()) send();
  }

  void stop_sending() {
    stop_sending_ = true;
    gate_.drop_waiting();
    arrival_timer_.cancel();
    duration_timer_.cancel();
    maybe_finish();
  }

  void change_in_flight(int delta, SteadyTime now) {
    if (in_flight_ > 0) in_flight_area_ += in_flight_ * seconds(last_change_, now);
    last_change_ = now;
    in_flight_ += delta;
    result_.max_in_flight = std::max(result_.max_in_flight, in_flight_);
  }

  void send() {
    const size_t index = sent_++;
    const WorkItem& item = items_[index % items_.size()];
    std::string body = request_body(options_.shape, item);
    const auto start = SteadyClock::now();
    if (index == 0) {
      first_send_ = start;
      result_.started_at = iso8601_now();
      if (options_.duration_s) {
        duration_timer_.expires_at(start + to_duration(*options_.duration_s));
        duration_timer_.async_wait([this](boost::system::error_code ec) {
          if (!ec) stop_sending();
        });
      }
    }
    change_in_flight(+1, start);
    records_.emplace_back();
    records_.back().start_s = seconds(first_send_, start);
    auto reader = std::make_shared<OpenAiStreamReader>(start);
    client_.post(
        request_path(options_.shape), std::move(body),
        [reader](std::string_view data, SteadyTime t) { reader->on_data(data, t); },
        [this, reader, index, &item](const StreamEnd& end) {
          RequestRecord r = reader->finish(end, item, tokenizer_);
          r.start_s = records_[index].start_s;
          records_[index] = std::move(r);
          if (!records_[index].ok()) ++failed_;
          ++done_;
          last_end_ = std::max(last_end_, end.end_time);
          change_in_flight(-1, end.end_time);
          gate_.finish();
          pump();
          maybe_finish();
        });
  }

  void maybe_finish() {
    if (!timed_ || !arrivals_exhausted() || gate_.in_flight() > 0) return;
    if (!stop_sending_ && gate_.waiting() > 0) return;
    arrival_timer_.cancel();
    duration_timer_.cancel();
    progress_timer_.cancel();
    finished_ = true;
  }

  // --- progress ---
  void tick_progress() {
    draw_progress();
    if (finished_) return;
    progress_timer_.expires_after(std::chrono::milliseconds(100));  // at most 10 updates/s
    progress_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec && !finished_) tick_progress();
    });
  }

  void draw_progress() {
    char line[256];
    if (!timed_) {
      std::snprintf(line, sizeof line, "\r%swarming up: %zu/%zu ", options_.progress_label.c_str(),
                    warmup_done_, warmup_items_.size());
    } else {
      const double elapsed = sent_ ? seconds(first_send_, SteadyClock::now()) : 0.0;
      std::string total = options_.num_requests ? "/" + std::to_string(*options_.num_requests) : "";
      std::snprintf(line, sizeof line,
                    "\r%ssent %zu%s  done %zu  failed %zu  in flight %d  %.1fs ",
                    options_.progress_label.c_str(), sent_, total.c_str(), done_, failed_, in_flight_,
                    finished_ ? result_.duration_s : elapsed);
    }
    std::fputs(line, stderr);
    std::fflush(stderr);
  }

  const LoadRunOptions& options_;
  const std::vector<WorkItem>& warmup_items_;
  const std::vector<WorkItem>& items_;
  const Tokenizer* tokenizer_;
  net::io_context io_;
  SseStreamClient client_;
  ArrivalSchedule arrivals_;
  ConcurrencyGate warmup_gate_;
  ConcurrencyGate gate_;
  net::steady_timer arrival_timer_, duration_timer_, progress_timer_;

  size_t warmup_sent_ = 0, warmup_done_ = 0;
  bool timed_ = false, stop_sending_ = false, finished_ = false;
  SteadyTime run_start_, next_arrival_, first_send_, last_end_, last_change_;
  size_t arrived_ = 0, sent_ = 0, done_ = 0, failed_ = 0;
  int in_flight_ = 0;
  double in_flight_area_ = 0;
  std::deque<RequestRecord> records_;  // by send index
  LoadRunResult result_;
};

}  // namespace

LoadRunResult run_load(const HttpEndpoint& endpoint, const LoadRunOptions& options,
                       const std::vector<WorkItem>& warmup_items, const std::vector<WorkItem>& items,
                       const Tokenizer* tokenizer) {
  LoadRunner runner(endpoint, options, warmup_items, items, tokenizer);
  return runner.run();
}

}  // namespace kiln::bench
