#include "server/server.h"

#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <chrono>
#include <csignal>

namespace kiln::server {

namespace net = boost::asio;

struct Server::Signals {
  explicit Signals(net::io_context& io) : set(io, SIGINT, SIGTERM) {}
  net::signal_set set;
};

Server::Server(ServerOptions options)
    : options_(std::move(options)),
      api_(options_.api),
      io_(std::make_unique<net::io_context>(options_.num_io_threads)) {}

Server::~Server() {
  stop_io();
  // Connections (and the jobs they hold, which cancel their engine requests) go before the
  // routes they call.
  signals_.reset();
  http_.reset();
  io_.reset();
}

Status Server::start() {
  KILN_RETURN_IF_ERROR(api_.load_api_keys());
  http_ = std::make_unique<HttpServer>(*io_, api_, options_.http);
  KILN_RETURN_IF_ERROR(http_->listen(options_.host, options_.port));
  signals_ = std::make_unique<Signals>(*io_);
  // SIGHUP re-reads the keys file; without one it keeps its default (ending the process).
  if (!options_.api.api_keys_file.empty()) signals_->set.add(SIGHUP);
  wait_for_signals();
  for (int i = 0; i < std::max(1, options_.num_io_threads); ++i)
    threads_.emplace_back([this] { io_->run(); });
  return Status::Ok();
}

uint16_t Server::port() const { return http_ ? http_->port() : 0; }

void Server::set_models(ModelRegistry& models, store::ModelStore& store) {
  api_.set_models(models, store);
}

void Server::wait_for_signals() {
  signals_->set.async_wait([this](const boost::system::error_code& ec, int signal_number) {
    if (ec) return;
    on_signal(signal_number);
    wait_for_signals();
  });
}

void Server::on_signal(int signal_number) {
  if (signal_number == SIGHUP) {
    // Runs on an io thread; connections carry on meanwhile (the table is swapped whole).
    if (Status s = api_.reload_api_keys(); s.ok())
      spdlog::info("SIGHUP: reloaded {}", options_.api.api_keys_file);
    else
      spdlog::error("SIGHUP: keeping the current API keys: {}", s.message());
    return;
  }
  {
    std::lock_guard lock(mu_);
    ++num_signals_;
  }
  spdlog::info("received {}", signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
  cv_.notify_all();
}

void Server::run_until_signal() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return num_signals_ > 0; });
  lock.unlock();

  api_.start_draining();
  http_->stop_accepting();
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                    std::chrono::duration<double>(options_.drain_timeout_seconds));
  size_t active = api_.num_active_jobs();
  spdlog::info("draining: no new requests; waiting up to {:.0f}s for {} running",
               options_.drain_timeout_seconds, active);
  auto wait_until = [&](std::chrono::steady_clock::time_point until) {
    lock.lock();
    const int signals_before = num_signals_;
    while ((active = api_.num_active_jobs()) > 0 && std::chrono::steady_clock::now() < until &&
           num_signals_ == signals_before)
      cv_.wait_for(lock, std::chrono::milliseconds(20));
    lock.unlock();
  };
  wait_until(deadline);
  if (active > 0) {
    spdlog::warn("drain: cancelling {} request(s) still running", active);
    api_.abort_active_jobs();
    // Their error events or 503s still go out.
    wait_until(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  }
  spdlog::info("drained in {:.2f}s; exiting",
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  stop_io();
}

void Server::stop_io() {
  if (threads_.empty()) return;
  io_->stop();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  if (http_) http_->disable_wakeups();
}

}  // namespace kiln::server
