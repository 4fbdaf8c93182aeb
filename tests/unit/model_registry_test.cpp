// The model registry with a loader that loads nothing real: one load per model however many
// requests wait, keep-alive, eviction of the least recently used idle model, never unloading a
// held model, load failures reaching every waiter; and the parsers and helpers beside it.
#include "server/models/model_registry.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "server/metrics.h"
#include "server/models/keep_alive.h"

namespace kiln::server {
namespace {

using namespace std::chrono_literals;

// Counts loads and unloads per model; a load may be held back until released, or fail.
struct FakeModels {
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, int> loads, unloads;
  bool hold_loads = false;
  std::string fail;  // a model whose loads fail

  ModelLoader loader() {
    return [this](const ModelSpec& spec) -> StatusOr<LoadedModel> {
      std::unique_lock lock(mu);
      ++loads[spec.name];
      cv.notify_all();
      cv.wait(lock, [&] { return !hold_loads; });
      if (spec.name == fail) return Status::Error("broken file");
      LoadedModel m;
      m.context.served_names = {spec.name};
      m.context.max_num_seqs = 4;
      m.memory_bytes = spec.file_bytes;
      const std::string name = spec.name;
      m.owner = std::shared_ptr<void>(new int(0), [this, name](void* p) {
        delete static_cast<int*>(p);
        std::lock_guard lock(mu);
        ++unloads[name];
        cv.notify_all();
      });
      return m;
    };
  }
  int count(std::map<std::string, int>& m, const std::string& name) {
    std::lock_guard lock(mu);
    return m[name];
  }
  // Waits up to 5 s for `m[name]` to reach `n`.
  bool wait_for(std::map<std::string, int>& m, const std::string& name, int n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 5s, [&] { return m[name] >= n; });
  }
  void release() {
    std::lock_guard lock(mu);
    hold_loads = false;
    cv.notify_all();
  }
};

ModelSpec spec(const std::string& name, double keep_alive = -1, int64_t bytes = 100) {
  ModelSpec s;
  s.name = name;
  s.path = "/models/" + name + ".gguf";
  s.file_bytes = bytes;
  s.keep_alive_seconds = keep_alive;
  return s;
}

// Waits for a waiter's outcome.
std::variant<ModelLease, ApiError> wait(const std::shared_ptr<ModelWaiter>& waiter) {
  std::mutex mu;
  std::condition_variable cv;
  bool woken = false;
  waiter->set_wake([&] {
    std::lock_guard lock(mu);
    woken = true;
    cv.notify_all();
  });
  std::unique_lock lock(mu);
  cv.wait_for(lock, 5s, [&] { return woken; });
  auto outcome = waiter->take();
  if (!outcome) return ApiError::internal("timed out");
  return std::move(*outcome);
}

ModelLease lease_of(ModelRegistry& r, const std::string& name) {
  auto acquired = r.acquire(name);
  if (auto* lease = std::get_if<ModelLease>(&acquired)) return *lease;
  if (auto* waiter = std::get_if<std::shared_ptr<ModelWaiter>>(&acquired)) {
    auto outcome = wait(*waiter);
    if (auto* lease = std::get_if<ModelLease>(&outcome)) return *lease;
  }
  return nullptr;
}

TEST(ModelRegistry, UnknownModelIsA404NamingIt) {
  FakeModels fake;
  ModelRegistry r({spec("a")}, fake.loader(), {});
  auto acquired = r.acquire("nope");
  ASSERT_TRUE(std::holds_alternative<ApiError>(acquired));
  EXPECT_EQ(std::get<ApiError>(acquired).status, 404);
  EXPECT_NE(std::get<ApiError>(acquired).message.find("nope"), std::string::npos);
}

TEST(ModelRegistry, ConcurrentRequestsShareOneLoad) {
  FakeModels fake;
  fake.hold_loads = true;
  ModelRegistry r({spec("a")}, fake.loader(), {});
  std::vector<std::shared_ptr<ModelWaiter>> waiters;
  for (int i = 0; i < 5; ++i) {
    auto acquired = r.acquire(i % 2 ? "a" : "a:latest");  // Ollama's ":latest" is the same model
    ASSERT_TRUE(std::holds_alternative<std::shared_ptr<ModelWaiter>>(acquired));
    waiters.push_back(std::get<std::shared_ptr<ModelWaiter>>(acquired));
  }
  ASSERT_TRUE(fake.wait_for(fake.loads, "a", 1));
  waiters[2]->cancel();  // a client that left while waiting
  fake.release();
  for (int i = 0; i < 5; ++i) {
    if (i == 2) continue;
    auto outcome = wait(waiters[i]);
    ASSERT_TRUE(std::holds_alternative<ModelLease>(outcome)) << i;
    EXPECT_EQ(std::get<ModelLease>(outcome)->spec.name, "a");
  }
  EXPECT_EQ(fake.count(fake.loads, "a"), 1);
  // Loaded now: a lease at once.
  EXPECT_TRUE(std::holds_alternative<ModelLease>(r.acquire("a")));
  ASSERT_EQ(r.loaded().size(), 1u);
}

TEST(ModelRegistry, KeepAliveUnloadsOnlyOnceIdle) {
  FakeModels fake;
  ModelRegistry r({spec("a", /*keep_alive=*/0.2)}, fake.loader(), {});
  ModelLease lease = lease_of(r, "a");
  ASSERT_TRUE(lease);
  std::this_thread::sleep_for(400ms);  // past the keep-alive, but held
  EXPECT_EQ(fake.count(fake.unloads, "a"), 0);
  EXPECT_EQ(r.loaded().size(), 1u);
  lease.reset();
  ASSERT_TRUE(fake.wait_for(fake.unloads, "a", 1));
  EXPECT_TRUE(r.loaded().empty());
  // The next request loads it again.
  ASSERT_TRUE(lease_of(r, "a"));
  EXPECT_EQ(fake.count(fake.loads, "a"), 2);
}

TEST(ModelRegistry, ARequestsKeepAliveReplacesTheDefault) {
  FakeModels fake;
  ModelRegistry r({spec("a")}, fake.loader(), {});  // forever by default
  ModelLease lease = lease_of(r, "a");
  lease->set_keep_alive(0);  // Ollama's keep_alive: 0
  lease.reset();
  ASSERT_TRUE(fake.wait_for(fake.unloads, "a", 1));
}

TEST(ModelRegistry, LoadingPastTheLimitEvictsTheLeastRecentlyUsedIdleModel) {
  FakeModels fake;
  ModelRegistryOptions options;
  options.max_loaded_models = 2;
  ModelRegistry r({spec("a"), spec("b"), spec("c")}, fake.loader(), options);
  ASSERT_TRUE(lease_of(r, "a"));
  ASSERT_TRUE(lease_of(r, "b"));
  std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(lease_of(r, "a"));  // a is now the more recently used
  ASSERT_TRUE(lease_of(r, "c"));
  EXPECT_EQ(fake.count(fake.unloads, "b"), 1);
  EXPECT_EQ(fake.count(fake.unloads, "a"), 0);
  EXPECT_EQ(r.loaded().size(), 2u);
}

TEST(ModelRegistry, ABusyModelIsNeverEvictedTheLoadWaits) {
  FakeModels fake;
  ModelRegistryOptions options;
  options.max_loaded_models = 1;
  ModelRegistry r({spec("a"), spec("b")}, fake.loader(), options);
  ModelLease a = lease_of(r, "a");
  ASSERT_TRUE(a);
  auto acquired = r.acquire("b");
  ASSERT_TRUE(std::holds_alternative<std::shared_ptr<ModelWaiter>>(acquired));
  auto waiter = std::get<std::shared_ptr<ModelWaiter>>(acquired);
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(fake.count(fake.loads, "b"), 0);  // a is in use: b waits
  EXPECT_EQ(fake.count(fake.unloads, "a"), 0);
  a.reset();
  auto outcome = wait(waiter);
  ASSERT_TRUE(std::holds_alternative<ModelLease>(outcome));
  EXPECT_EQ(fake.count(fake.unloads, "a"), 1);
}

TEST(ModelRegistry, MemoryBudgetCountsLoadedModels) {
  FakeModels fake;
  ModelRegistryOptions options;
  options.max_loaded_bytes = 250;
  ModelRegistry r({spec("a", -1, 100), spec("b", -1, 100), spec("c", -1, 100)}, fake.loader(),
                  options);
  ASSERT_TRUE(lease_of(r, "a"));
  ASSERT_TRUE(lease_of(r, "b"));
  EXPECT_EQ(fake.count(fake.unloads, "a"), 0);  // 200 fits
  ASSERT_TRUE(lease_of(r, "c"));                // 300 would not: a (least recent) goes
  EXPECT_EQ(fake.count(fake.unloads, "a"), 1);
}

TEST(ModelRegistry, ALoadFailureReachesEveryWaiterAndALaterRequestRetries) {
  FakeModels fake;
  fake.fail = "a";
  ModelRegistry r({spec("a")}, fake.loader(), {});
  auto w1 = std::get<std::shared_ptr<ModelWaiter>>(r.acquire("a"));
  auto outcome = wait(w1);
  ASSERT_TRUE(std::holds_alternative<ApiError>(outcome));
  EXPECT_NE(std::get<ApiError>(outcome).message.find("broken file"), std::string::npos);
  EXPECT_EQ(r.load_blocking("a").message().find("broken file") != std::string::npos, true);
  EXPECT_EQ(fake.count(fake.loads, "a"), 2);
}

TEST(ModelRegistry, RemovedModelIsUnloadedOnceIdleAndNoLongerServed) {
  FakeModels fake;
  ModelRegistry r({spec("a"), spec("b")}, fake.loader(), {});
  ModelLease lease = lease_of(r, "a");
  ASSERT_TRUE(r.remove("a"));
  EXPECT_TRUE(std::holds_alternative<ApiError>(r.acquire("a")));
  EXPECT_EQ(r.specs().size(), 1u);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(fake.count(fake.unloads, "a"), 0);  // still held
  lease.reset();
  ASSERT_TRUE(fake.wait_for(fake.unloads, "a", 1));
}

TEST(KeepAlive, ParsesOllamasForms) {
  EXPECT_EQ(*parse_keep_alive("5m"), 300);
  EXPECT_EQ(*parse_keep_alive("1h30m"), 5400);
  EXPECT_DOUBLE_EQ(*parse_keep_alive("250ms"), 0.25);
  EXPECT_EQ(*parse_keep_alive("0"), 0);
  EXPECT_EQ(*parse_keep_alive("30"), 30);
  EXPECT_LT(*parse_keep_alive("-1"), 0);
  EXPECT_LT(*parse_keep_alive("-5m"), 0);
  EXPECT_FALSE(parse_keep_alive("5 minutes").ok());
  EXPECT_FALSE(parse_keep_alive("").ok());
  EXPECT_FALSE(parse_keep_alive("m").ok());
  EXPECT_EQ(*parse_keep_alive_json(Json(60)), 60);
  EXPECT_LT(*parse_keep_alive_json(Json(-1)), 0);
  EXPECT_EQ(*parse_keep_alive_json(Json("2m")), 120);
  EXPECT_FALSE(parse_keep_alive_json(Json::array()).ok());
}

TEST(ModelNames, LatestTagIsImplied) {
  EXPECT_TRUE(model_names_match("qwen", "qwen:latest"));
  EXPECT_TRUE(model_names_match("qwen:latest", "qwen"));
  EXPECT_FALSE(model_names_match("qwen", "qwen:0.5b"));
  EXPECT_FALSE(model_names_match("qwen", "qwen2"));
}

TEST(MetricsMerge, EachFamilyHeaderOnceWithEveryModelsSamples) {
  const std::string a =
      "# HELP kiln:x X.\n# TYPE kiln:x gauge\nkiln:x{model_name=\"a\"} 1\n"
      "# HELP kiln:y Y.\n# TYPE kiln:y counter\nkiln:y{model_name=\"a\"} 2\n";
  const std::string b =
      "# HELP kiln:x X.\n# TYPE kiln:x gauge\nkiln:x{model_name=\"b\"} 3\n"
      "# HELP kiln:z Z.\n# TYPE kiln:z gauge\nkiln:z{model_name=\"b\"} 4\n";
  EXPECT_EQ(merge_expositions({a, b}),
            "# HELP kiln:x X.\n# TYPE kiln:x gauge\nkiln:x{model_name=\"a\"} 1\n"
            "kiln:x{model_name=\"b\"} 3\n"
            "# HELP kiln:y Y.\n# TYPE kiln:y counter\nkiln:y{model_name=\"a\"} 2\n"
            "# HELP kiln:z Z.\n# TYPE kiln:z gauge\nkiln:z{model_name=\"b\"} 4\n");
}

}  // namespace
}  // namespace kiln::server
