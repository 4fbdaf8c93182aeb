#include "server/models/model_registry.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

namespace kiln::server {

bool ModelSpec::serves(std::string_view requested) const {
  if (model_names_match(name, requested)) return true;
  return std::any_of(aliases.begin(), aliases.end(),
                     [&](const std::string& a) { return model_names_match(a, requested); });
}

// --- ModelWaiter -------------------------------------------------------------------------

void ModelWaiter::set_wake(std::function<void()> wake) {
  bool ready;
  {
    std::lock_guard lock(mu_);
    wake_ = wake;
    ready = outcome_.has_value();
  }
  if (ready) wake();
}

std::optional<std::variant<ModelLease, ApiError>> ModelWaiter::take() {
  std::lock_guard lock(mu_);
  return std::exchange(outcome_, std::nullopt);
}

void ModelWaiter::cancel() {
  std::optional<std::variant<ModelLease, ApiError>> dropped;  // released outside the lock
  std::lock_guard lock(mu_);
  cancelled_ = true;
  dropped = std::exchange(outcome_, std::nullopt);
}

bool ModelWaiter::deliver(std::variant<ModelLease, ApiError> outcome) {
  std::function<void()> wake;
  {
    std::lock_guard lock(mu_);
    if (cancelled_) return false;
    outcome_ = std::move(outcome);
    wake = wake_;
  }
  if (wake) wake();
  return true;
}

// --- the registry's state ------------------------------------------------------------------

struct ModelRegistry::Slot {
  enum class Phase { kUnloaded, kQueued, kLoading, kLoaded };

  ModelSpec spec;
  std::unique_ptr<ServerMetrics> metrics;  // per name, kept across loads
  std::unique_ptr<ServedModel> model;      // while kLoaded
  Phase phase = Phase::kUnloaded;
  int64_t active = 0;  // leases held by requests (and by a /metrics render)
  SteadyClock::time_point idle_since, last_used;
  std::vector<std::shared_ptr<ModelWaiter>> waiters;
  bool removed = false;  // no longer a spec: unloaded once idle, then forgotten
  int64_t num_loads = 0;
  double load_seconds_total = 0;

  bool idle() const { return phase == Phase::kLoaded && active == 0 && waiters.empty(); }
  // When an idle model's keep-alive runs out; max() for never.
  SteadyClock::time_point expiry() const {
    const double keep = model->keep_alive_seconds.load();
    if (removed) return idle_since;
    if (keep < 0) return SteadyClock::time_point::max();
    return idle_since + std::chrono::duration_cast<SteadyClock::duration>(
                            std::chrono::duration<double>(keep));
  }
};

struct ModelRegistry::State {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::shared_ptr<Slot>> slots;  // the specs in order, then removed ones still loaded
  std::deque<std::shared_ptr<Slot>> queue;    // loads asked for, first come first loaded
  bool stop = false;
};

ModelRegistry::ModelRegistry(std::vector<ModelSpec> specs, ModelLoader loader,
                             ModelRegistryOptions options)
    : loader_(std::move(loader)), options_(std::move(options)), state_(std::make_shared<State>()) {
  for (ModelSpec& spec : specs) upsert(std::move(spec));
  thread_ = std::thread([this] { loader_loop(); });
}

ModelRegistry::~ModelRegistry() {
  {
    std::lock_guard lock(state_->mu);
    state_->stop = true;
  }
  state_->cv.notify_all();
  thread_.join();
  // Unload in reverse order of the specs, outside the lock.
  std::vector<std::unique_ptr<ServedModel>> models;
  {
    std::lock_guard lock(state_->mu);
    for (auto& slot : state_->slots)
      if (slot->model) models.push_back(std::move(slot->model));
  }
  while (!models.empty()) models.pop_back();
}

std::shared_ptr<ModelRegistry::Slot> ModelRegistry::find_slot(std::string_view name) const {
  for (const auto& slot : state_->slots)
    if (!slot->removed && slot->spec.serves(name)) return slot;
  return nullptr;
}

// Under the lock. The lease's deleter only counts the release: the model itself belongs to
// the slot until the loader thread unloads it.
ModelLease ModelRegistry::make_lease(const std::shared_ptr<Slot>& slot) {
  ++slot->active;
  slot->last_used = SteadyClock::now();
  std::shared_ptr<State> state = state_;
  return ModelLease(slot->model.get(), [state, slot](ServedModel*) {
    {
      std::lock_guard lock(state->mu);
      if (--slot->active == 0) slot->idle_since = SteadyClock::now();
    }
    state->cv.notify_all();
  });
}

ModelRegistry::Acquired ModelRegistry::acquire(std::string_view name) {
  std::lock_guard lock(state_->mu);
  std::shared_ptr<Slot> slot = find_slot(name);
  if (!slot) return ApiError::model_not_found(name);
  if (slot->phase == Slot::Phase::kLoaded) return make_lease(slot);
  auto waiter = std::make_shared<ModelWaiter>();
  slot->waiters.push_back(waiter);
  if (slot->phase == Slot::Phase::kUnloaded) {
    slot->phase = Slot::Phase::kQueued;
    state_->queue.push_back(slot);
    state_->cv.notify_all();
  }
  return waiter;
}

Status ModelRegistry::load_blocking(std::string_view name) {
  Acquired acquired = acquire(name);
  if (auto* error = std::get_if<ApiError>(&acquired)) return Status::Error(error->message);
  if (std::holds_alternative<ModelLease>(acquired)) return Status::Ok();
  auto waiter = std::get<std::shared_ptr<ModelWaiter>>(acquired);
  std::mutex mu;
  std::condition_variable cv;
  bool woken = false;
  waiter->set_wake([&] {
    std::lock_guard lock(mu);
    woken = true;
    cv.notify_all();
  });
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return woken; });
  auto outcome = waiter->take();
  if (auto* error = std::get_if<ApiError>(&*outcome)) return Status::Error(error->message);
  return Status::Ok();
}

std::vector<ModelSpec> ModelRegistry::specs() const {
  std::lock_guard lock(state_->mu);
  std::vector<ModelSpec> out;
  for (const auto& slot : state_->slots)
    if (!slot->removed) out.push_back(slot->spec);
  return out;
}

std::optional<ModelSpec> ModelRegistry::find(std::string_view name) const {
  std::lock_guard lock(state_->mu);
  auto slot = find_slot(name);
  if (!slot) return std::nullopt;
  return slot->spec;
}

void ModelRegistry::upsert(ModelSpec spec) {
  std::lock_guard lock(state_->mu);
  for (auto& slot : state_->slots) {
    if (slot->removed || slot->spec.name != spec.name) continue;
    if (slot->spec.path == spec.path) {
      // Same weights: new defaults or aliases apply from the next load on.
      slot->spec = std::move(spec);
      return;
    }
    slot->removed = true;  // other weights under the old name: retire the loaded copy
    break;
  }
  auto slot = std::make_shared<Slot>();
  slot->spec = std::move(spec);
  slot->metrics = std::make_unique<ServerMetrics>(options_.metrics_prefix);
  state_->slots.push_back(std::move(slot));
  state_->cv.notify_all();
}

bool ModelRegistry::remove(std::string_view name) {
  std::lock_guard lock(state_->mu);
  auto slot = find_slot(name);
  if (!slot) return false;
  slot->removed = true;
  state_->cv.notify_all();
  return true;
}

std::string ModelRegistry::default_model() const {
  std::lock_guard lock(state_->mu);
  for (const auto& slot : state_->slots)
    if (!slot->removed) return slot->spec.name;
  return "";
}

std::vector<LoadedModelInfo> ModelRegistry::loaded() const {
  std::lock_guard lock(state_->mu);
  std::vector<LoadedModelInfo> out;
  const auto now = SteadyClock::now();
  const int64_t unix_now = unix_seconds();
  for (const auto& slot : state_->slots) {
    if (slot->phase != Slot::Phase::kLoaded) continue;
    LoadedModelInfo info;
    info.spec = slot->spec;
    info.memory_bytes = slot->model->loaded.memory_bytes;
    info.loaded_at = slot->model->loaded_at;
    info.active_requests = slot->active;
    info.context_length = slot->model->context().max_model_len;
    // Busy models expire their keep-alive after their last request ends; say so from now.
    const double keep = slot->model->keep_alive_seconds.load();
    if (slot->active > 0 && keep >= 0)
      info.expires_at = unix_now + (int64_t)std::ceil(keep);
    else if (slot->active == 0 && slot->expiry() != SteadyClock::time_point::max())
      info.expires_at = unix_now + (int64_t)std::ceil(std::max(
                                       0.0, std::chrono::duration<double>(slot->expiry() - now).count()));
    out.push_back(std::move(info));
  }
  return out;
}

bool ModelRegistry::unload_when_idle(std::string_view name) {
  std::lock_guard lock(state_->mu);
  auto slot = find_slot(name);
  if (!slot || slot->phase != Slot::Phase::kLoaded) return false;
  slot->model->set_keep_alive(0);
  state_->cv.notify_all();
  return true;
}

// --- the loader thread ---------------------------------------------------------------------

void ModelRegistry::loader_loop() {
  State& st = *state_;
  std::unique_lock lock(st.mu);
  while (!st.stop) {
    const auto now = SteadyClock::now();
    // Idle models whose keep-alive ran out, and removed ones nobody holds.
    std::vector<std::unique_ptr<ServedModel>> doomed;
    auto next_expiry = SteadyClock::time_point::max();
    for (auto& slot : st.slots) {
      if (!slot->idle()) continue;
      if (slot->expiry() <= now) {
        spdlog::info("unloading '{}' (idle)", slot->spec.name);
        doomed.push_back(std::move(slot->model));
        slot->phase = Slot::Phase::kUnloaded;
      } else {
        next_expiry = std::min(next_expiry, slot->expiry());
      }
    }
    std::erase_if(st.slots, [](const auto& s) {
      return s->removed && s->phase == Slot::Phase::kUnloaded && s->waiters.empty();
    });
    if (!doomed.empty()) {
      lock.unlock();
      doomed.clear();  // the engines stop and their memory goes back, outside the lock
      lock.lock();
      continue;
    }

    if (!st.queue.empty() && st.queue.front()->removed) {
      // Deleted while it waited to load: its requests learn that it is gone.
      std::shared_ptr<Slot> slot = st.queue.front();
      st.queue.pop_front();
      slot->phase = Slot::Phase::kUnloaded;
      std::vector<std::shared_ptr<ModelWaiter>> waiters = std::move(slot->waiters);
      slot->waiters.clear();
      lock.unlock();
      for (auto& w : waiters) w->deliver(ApiError::model_not_found(slot->spec.name));
      lock.lock();
      continue;
    }
    if (!st.queue.empty()) {
      std::shared_ptr<Slot> slot = st.queue.front();
      // Make room: the least recently used idle model goes first.
      int64_t num_loaded = 0, bytes_loaded = 0;
      std::shared_ptr<Slot> victim;
      for (auto& s : st.slots) {
        if (s->phase != Slot::Phase::kLoaded) continue;
        ++num_loaded;
        bytes_loaded += s->model->loaded.memory_bytes;
        if (s->idle() && (!victim || s->last_used < victim->last_used)) victim = s;
      }
      const bool over_count =
          options_.max_loaded_models > 0 && num_loaded >= options_.max_loaded_models;
      const bool over_bytes = options_.max_loaded_bytes > 0 && num_loaded > 0 &&
                              bytes_loaded + slot->spec.file_bytes > options_.max_loaded_bytes;
      if (over_count || over_bytes) {
        if (victim) {
          spdlog::info("unloading '{}' to make room for '{}'", victim->spec.name, slot->spec.name);
          std::unique_ptr<ServedModel> evicted = std::move(victim->model);
          victim->phase = Slot::Phase::kUnloaded;
          lock.unlock();
          evicted.reset();
          lock.lock();
          continue;
        }
        // Every loaded model is busy: wait until one is released (or a keep-alive runs out).
        st.cv.wait_until(lock, next_expiry);
        continue;
      }

      st.queue.pop_front();
      slot->phase = Slot::Phase::kLoading;
      const ModelSpec spec = slot->spec;
      lock.unlock();
      spdlog::info("loading '{}' from {}", spec.name, spec.path);
      const auto start = SteadyClock::now();
      StatusOr<LoadedModel> loaded = loader_(spec);
      const double seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
      lock.lock();

      std::vector<std::shared_ptr<ModelWaiter>> waiters = std::move(slot->waiters);
      slot->waiters.clear();
      std::vector<std::variant<ModelLease, ApiError>> outcomes;
      if (loaded.ok()) {
        spdlog::info("loaded '{}' in {:.2f}s", spec.name, seconds);
        slot->model = std::make_unique<ServedModel>(spec, std::move(loaded).value(),
                                                    options_.max_queue, *slot->metrics, seconds);
        slot->phase = Slot::Phase::kLoaded;
        slot->idle_since = slot->last_used = SteadyClock::now();
        ++slot->num_loads;
        slot->load_seconds_total += seconds;
        for (size_t i = 0; i < waiters.size(); ++i) outcomes.emplace_back(make_lease(slot));
      } else {
        spdlog::error("could not load '{}': {}", spec.name, loaded.message());
        slot->phase = Slot::Phase::kUnloaded;
        for (size_t i = 0; i < waiters.size(); ++i)
          outcomes.emplace_back(
              ApiError::internal("could not load model '" + spec.name + "': " + loaded.message()));
      }
      // Handed over outside the lock: a cancelled waiter's lease is released at once.
      lock.unlock();
      for (size_t i = 0; i < waiters.size(); ++i) waiters[i]->deliver(std::move(outcomes[i]));
      outcomes.clear();
      lock.lock();
      continue;
    }
    st.cv.wait_until(lock, next_expiry);
  }
}

// --- metrics -------------------------------------------------------------------------------

void ModelRegistry::for_each_loaded(const std::function<void(const ServedModel&)>& visit) const {
  std::vector<std::pair<std::shared_ptr<Slot>, ServedModel*>> held;
  {
    std::lock_guard lock(state_->mu);
    for (const auto& slot : state_->slots) {
      if (slot->phase != Slot::Phase::kLoaded) continue;
      ++slot->active;  // held like a lease, so it cannot unload under the visit
      held.emplace_back(slot, slot->model.get());
    }
  }
  for (const auto& [slot, model] : held) visit(*model);
  {
    std::lock_guard lock(state_->mu);
    for (const auto& [slot, model] : held) --slot->active;  // idle_since untouched
  }
  state_->cv.notify_all();
}

std::string ModelRegistry::render_metrics() const {
  // Leases that do not count as use: a scrape must not keep a model from expiring.
  struct Held {
    std::shared_ptr<Slot> slot;
    ServedModel* model;
  };
  std::vector<Held> held;
  std::string registry;
  {
    std::lock_guard lock(state_->mu);
    const auto gauge = [&](std::string_view name, std::string_view help) {
      append_metric_header(registry, name, "gauge", help);
    };
    gauge("kiln:model_loaded", "1 when the model is loaded, 0 otherwise.");
    for (const auto& slot : state_->slots)
      append_metric_sample(registry, "kiln:model_loaded",
                           "model_name=\"" + escape_label_value(slot->spec.name) + "\"",
                           slot->phase == Slot::Phase::kLoaded ? 1 : 0);
    append_metric_header(registry, "kiln:model_loads_total", "counter",
                         "Times the model was loaded.");
    for (const auto& slot : state_->slots)
      append_metric_sample(registry, "kiln:model_loads_total",
                           "model_name=\"" + escape_label_value(slot->spec.name) + "\"",
                           (double)slot->num_loads);
    append_metric_header(registry, "kiln:model_load_seconds_total", "counter",
                         "Time spent loading the model.");
    for (const auto& slot : state_->slots)
      append_metric_sample(registry, "kiln:model_load_seconds_total",
                           "model_name=\"" + escape_label_value(slot->spec.name) + "\"",
                           slot->load_seconds_total);
    gauge("kiln:model_memory_bytes", "Memory the loaded model holds: weights and KV cache (a draft model's included).");
    for (const auto& slot : state_->slots)
      if (slot->phase == Slot::Phase::kLoaded)
        append_metric_sample(registry, "kiln:model_memory_bytes",
                             "model_name=\"" + escape_label_value(slot->spec.name) + "\"",
                             (double)slot->model->loaded.memory_bytes);
    for (const auto& slot : state_->slots) {
      if (slot->phase != Slot::Phase::kLoaded) continue;
      ++slot->active;
      held.push_back({slot, slot->model.get()});
    }
  }
  std::vector<std::string> parts;
  for (const Held& h : held)
    parts.push_back(h.model->metrics.render(h.model->context().name(), h.model->engine().stats(),
                                            h.model->engine().grammar_compiler_stats()));
  parts.push_back(with_prefix(registry, options_.metrics_prefix));
  {
    std::lock_guard lock(state_->mu);
    for (const Held& h : held) --h.slot->active;  // idle_since untouched
  }
  state_->cv.notify_all();
  return merge_expositions(parts);
}

}  // namespace kiln::server
