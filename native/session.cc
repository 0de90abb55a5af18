#include "session.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <functional>
#include <mutex>
#include <new>
#include <thread>
#include <unordered_set>

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <xmmintrin.h>
#endif

#include "addon.h"
#include "errors.h"
#include "promise_worker.h"
#include "runner.h"
#include "shm.h"
#include "tensor.h"

namespace tfslice {
namespace {

std::atomic<int64_t> g_live_sessions{0};

// The floating-point environment TensorFlow computes in: subnormals flushed to zero (inputs and
// results) and rounding to nearest, which TensorFlow sets on every thread of its own pools and
// around an op it runs on a thread it did not make (eager kernels, XLA's inline executables).
// A session whose ops run inline (interOpThreads -1, tfslice's default) runs them on the caller's
// thread, a runner thread or, for runSync(), the JS thread: without this their results differed
// from TensorFlow's own for subnormal values (2 x 1e-45 was 3e-45, TensorFlow's 0; helper-93).
// Restored after, so V8 keeps IEEE subnormals on the JS thread.
class ScopedTensorFlowFloatEnvironment {
 public:
#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
  ScopedTensorFlowFloatEnvironment() : saved_(_mm_getcsr()) {
    // MXCSR: FTZ (bit 15) and DAZ (bit 6) on, rounding control (bits 13-14) to nearest.
    _mm_setcsr((saved_ & ~0x6000u) | 0x8040u);
  }
  ~ScopedTensorFlowFloatEnvironment() { _mm_setcsr(saved_); }

 private:
  unsigned int saved_;
#elif defined(__aarch64__)
  ScopedTensorFlowFloatEnvironment() {
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(saved_));
    // FPCR: FZ (bit 24) on, rounding mode (bits 22-23) to nearest.
    uint64_t wanted = (saved_ & ~(uint64_t{3} << 22)) | (uint64_t{1} << 24);
    __asm__ __volatile__("msr fpcr, %0" : : "r"(wanted));
  }
  ~ScopedTensorFlowFloatEnvironment() { __asm__ __volatile__("msr fpcr, %0" : : "r"(saved_)); }

 private:
  uint64_t saved_;
#endif
  ScopedTensorFlowFloatEnvironment(const ScopedTensorFlowFloatEnvironment&) = delete;
  ScopedTensorFlowFloatEnvironment& operator=(const ScopedTensorFlowFloatEnvironment&) = delete;
};

// TF_SessionRun in that environment: every run of the addon goes through here.
template <typename... Args>
void SessionRun(Args... args) {
  ScopedTensorFlowFloatEnvironment float_environment;
  tf().TF_SessionRun(args...);
}

// Every SessionCore with a session not yet freed, in the whole process (every environment's):
// CancelAllRuns() reaches them at exit. A core leaves it in Close(), once its runs ended.
std::mutex g_cores_mutex;
std::unordered_set<SessionCore*>& Cores() {
  static auto* cores = new std::unordered_set<SessionCore*>();  // never destroyed: used at exit
  return *cores;
}

}  // namespace

const char kDisposedMessage[] = "the model was disposed; load it again to run it";
const char kCancelledMessage[] = "the model was disposed with this run still executing, and TensorFlow was told to stop it (dispose's killAfterMs had passed)";

namespace {

struct DeviceInfo {
  std::string name;
  std::string type;
  int64_t memory_bytes;
};

// One step of a load done by hand (lib/loader.ts plans it as TensorFlow's loader does):
// run `target` with scalar string feeds (the variables path, asset paths).
struct LoadStep {
  std::vector<std::pair<std::string, std::string>> feeds;
  std::string target;
  std::string what;  // "restoring the variables", "running the init op": for errors
};

// A scalar string tensor holding `value` (freed by TensorFlow with the tensor).
TF_Tensor* ScalarString(const std::string& value) {
  auto* text = static_cast<TF_TString*>(std::malloc(sizeof(TF_TString)));
  tf().TF_StringInit(text);
  tf().TF_StringCopy(text, value.data(), value.size());
  return tf().TF_NewTensor(TF_STRING, nullptr, 0, text, sizeof(TF_TString), FreeStrings, nullptr);
}

bool ResolveOutput(TF_Graph* graph, const std::string& name, TF_Output* out);

// Loads a session in one of two ways: TF_LoadSessionFromSavedModel, or (by_hand)
// by hand: TF_GraphImportGraphDef with a default device, TF_NewSession, then the steps
// (restore, init) TensorFlow's loader would run. `target` (TF_SetTarget) is "" for this
// process or "grpc://host:port" for a tf.distribute.Server.
class LoadWorker : public PromiseWorker {
 public:
  LoadWorker(Napi::Env env, std::string dir, std::vector<std::string> tags, std::string config, bool inline_ops,
             std::string target, bool by_hand, std::string graph_def, std::string device, std::vector<LoadStep> steps)
      : PromiseWorker(env, "tfslice:load"),
        dir_(std::move(dir)),
        tags_(std::move(tags)),
        config_(std::move(config)),
        inline_ops_(inline_ops),
        target_(std::move(target)),
        by_hand_(by_hand),
        graph_def_(std::move(graph_def)),
        device_(std::move(device)),
        steps_(std::move(steps)) {}

 private:
  void Execute() override {
    Status status;
    TF_SessionOptions* options = tf().TF_NewSessionOptions();
    if (!config_.empty()) {
      tf().TF_SetConfig(options, config_.data(), config_.size(), status.get());
      if (!status.ok()) {
        failure_ = status.failure("ConfigProto rejected by TF_SetConfig");
        tf().TF_DeleteSessionOptions(options);
        return;
      }
    }
    if (!target_.empty()) tf().TF_SetTarget(options, target_.c_str());
    TF_Graph* graph = tf().TF_NewGraph();
    TF_Session* session = by_hand_ ? LoadByHand(options, graph, status) : LoadSavedModel(options, graph, status);
    tf().TF_DeleteSessionOptions(options);
    if (failure_ || !status.ok() || session == nullptr) {
      if (!failure_) {
        failure_ = status.ok() ? Failure{"UNKNOWN", "TensorFlow returned no session"} : status.failure();
      }
      if (session != nullptr) {
        Status ignored;
        tf().TF_CloseSession(session, ignored.get());
        tf().TF_DeleteSession(session, ignored.get());
      }
      tf().TF_DeleteGraph(graph);
      return;
    }
    core_ = std::make_shared<SessionCore>(session, graph);
    core_->set_inline_ops(inline_ops_);
    core_->set_caller_runs_allowed(target_.empty());

    TF_DeviceList* devices = tf().TF_SessionListDevices(session, status.get());
    if (devices != nullptr) {
      int count = tf().TF_DeviceListCount(devices);
      for (int i = 0; i < count; ++i) {
        Status item;
        DeviceInfo device;
        const char* name = tf().TF_DeviceListName(devices, i, item.get());
        const char* type = tf().TF_DeviceListType(devices, i, item.get());
        device.memory_bytes = tf().TF_DeviceListMemoryBytes(devices, i, item.get());
        if (!item.ok()) continue;
        device.name = name;
        device.type = type;
        devices_.push_back(std::move(device));
      }
      tf().TF_DeleteDeviceList(devices);
    }
  }

  TF_Session* LoadSavedModel(TF_SessionOptions* options, TF_Graph* graph, Status& status) {
    std::vector<const char*> tags;
    for (const std::string& tag : tags_) tags.push_back(tag.c_str());
    TF_Buffer* meta_graph = tf().TF_NewBuffer();
    TF_Session* session = tf().TF_LoadSessionFromSavedModel(
        options, nullptr, dir_.c_str(), tags.data(), static_cast<int>(tags.size()), graph,
        meta_graph, status.get());
    if (status.ok() && session != nullptr) {
      meta_graph_.assign(static_cast<const char*>(meta_graph->data), meta_graph->length);
    }
    tf().TF_DeleteBuffer(meta_graph);
    return session;
  }

  TF_Session* LoadByHand(TF_SessionOptions* options, TF_Graph* graph, Status& status) {
    TF_ImportGraphDefOptions* import = tf().TF_NewImportGraphDefOptions();
    if (!device_.empty()) tf().TF_ImportGraphDefOptionsSetDefaultDevice(import, device_.c_str());
    TF_Buffer buffer{graph_def_.data(), graph_def_.size(), nullptr};
    tf().TF_GraphImportGraphDef(graph, &buffer, import, status.get());
    tf().TF_DeleteImportGraphDefOptions(import);
    if (!status.ok()) {
      failure_ = status.failure("importing the SavedModel's graph");
      return nullptr;
    }
    TF_Session* session = tf().TF_NewSession(graph, options, status.get());
    if (!status.ok() || session == nullptr) return session;
    for (const LoadStep& step : steps_) {
      std::vector<TF_Output> inputs;
      std::vector<TF_Tensor*> values;
      for (const auto& feed : step.feeds) {
        TF_Output output;
        if (!ResolveOutput(graph, feed.first, &output)) {
          failure_ = {"NOT_FOUND", step.what + ": the graph has no tensor '" + feed.first + "' to feed"};
          break;
        }
        inputs.push_back(output);
        values.push_back(ScalarString(feed.second));
      }
      TF_Operation* target = failure_ ? nullptr : tf().TF_GraphOperationByName(graph, step.target.c_str());
      if (!failure_ && target == nullptr) failure_ = {"NOT_FOUND", step.what + ": the graph has no op '" + step.target + "'"};
      if (!failure_) {
        const TF_Operation* targets[] = {target};
        SessionRun(session, nullptr, inputs.data(), values.data(), static_cast<int>(inputs.size()), nullptr,
                   nullptr, 0, targets, 1, nullptr, status.get());
        if (!status.ok()) failure_ = status.failure(step.what);
      }
      for (TF_Tensor* value : values) tf().TF_DeleteTensor(value);
      if (failure_) return session;
    }
    return session;
  }

  Napi::Value Result(Napi::Env env) override {
    Addon& addon = Addon::Of(env);
    auto handoff = std::make_unique<std::shared_ptr<SessionCore>>(core_);
    Napi::Object session =
        addon.session_constructor().New({Napi::External<std::shared_ptr<SessionCore>>::New(
            env, handoff.get())});
    addon.Track(core_);
    Napi::Array devices = Napi::Array::New(env, devices_.size());
    for (size_t i = 0; i < devices_.size(); ++i) {
      Napi::Object device = Napi::Object::New(env);
      device.Set("name", devices_[i].name);
      device.Set("type", devices_[i].type);
      device.Set("memoryBytes", Napi::Number::New(env, static_cast<double>(devices_[i].memory_bytes)));
      devices.Set(static_cast<uint32_t>(i), device);
    }
    Napi::Object result = Napi::Object::New(env);
    result.Set("session", session);
    // The hand-made load has no MetaGraphDef from TensorFlow: lib/ holds the one it planned from.
    result.Set("metaGraph", by_hand_ ? env.Null() : MetaGraphBuffer(env));
    result.Set("devices", devices);
    return result;
  }

  // The MetaGraphDef's bytes, handed to JS without a copy: a big graph (tens of MB of constants)
  // took a copy of hundreds of ms on the event loop (fresh pages, faulted in on this thread).
  Napi::Value MetaGraphBuffer(Napi::Env env) {
    if (meta_graph_.empty()) return Napi::Buffer<char>::New(env, 0);
    auto* owned = new std::string(std::move(meta_graph_));
    return NewExternal(env, owned->data(), owned->size(), [](napi_env, void*, void* bytes) { delete static_cast<std::string*>(bytes); },
                       owned, true);
  }

  std::string dir_;
  std::vector<std::string> tags_;
  std::string config_;
  bool inline_ops_;
  std::string target_;
  bool by_hand_;
  std::string graph_def_;
  std::string device_;
  std::vector<LoadStep> steps_;
  std::string meta_graph_;
  std::vector<DeviceInfo> devices_;
  std::shared_ptr<SessionCore> core_;  // freed with the worker if never handed to JS
};

}  // namespace

Fetched::~Fetched() {
  for (TF_Tensor* tensor : tensors) {
    if (tensor != nullptr) DeleteTensor(tensor);
  }
}

// RunOptions (tensorflow/core/protobuf/config.proto) with timeout_in_ms (field 2, a varint):
// TensorFlow itself stops a run past it with DEADLINE_EXCEEDED.
static std::string RunOptionsWithTimeout(int64_t timeout_ms) {
  std::string bytes(1, static_cast<char>(2 << 3));
  uint64_t v = static_cast<uint64_t>(timeout_ms);
  do {
    uint8_t byte = v & 0x7f;
    v >>= 7;
    bytes.push_back(static_cast<char>(v ? byte | 0x80 : byte));
  } while (v);
  return bytes;
}

// A session with an inter-op pool hands every run to that pool and waits for it: two
// thread hand-offs per run, each a futex wake of a thread that may sleep on a halted vCPU
// (tens of microseconds on a VM, more than a tiny graph takes). TensorFlow lets one run use
// the calling thread instead (RunOptions.inter_op_thread_pool -1; config.proto: "should be
// done ONLY for simple graphs, where the overhead of an additional context switch is
// comparable with the overhead of Session::Run()"). A graph with parallel branches may
// still run faster on the pool, so this is decided by measurement, per plan:
//  - a plan whose runs on the pool average at most kCallerTryMicros moves to the calling
//    thread for kCallerTurns runs, then one run on the pool refreshes its average;
//  - from kJudgeAfter runs into a trial (the first, a warm-up, not counted), while the calling
//    thread's average exceeds the pool's by a quarter, the plan goes back to the pool for
//    kPoolTurns runs before it tries again, with a fresh average.
// With a run timeout only where the graph reaches no op that loops or blocks (SessionCore::
// bounded) and the limit is at least kTimedCallerMinMs: TensorFlow enforces a timeout only on
// the pool, and there it stops a run between ops, so what it could stop on a plan averaging at
// most kCallerTryMicros is a loop or a wait, or a run ten times the longest such average. A
// multi-device graph stays on the pool whatever the option says (DirectSession inlines one
// executor only).
constexpr uint32_t kCallerTryMicros = 1000;
constexpr int64_t kTimedCallerMinMs = 10;
constexpr int32_t kCallerTurns = 256;
constexpr int32_t kPoolTurns = 64;
constexpr uint32_t kCallerWarmup = 1;
constexpr uint32_t kJudgeAfter = 8;

// RunOptions with inter_op_thread_pool (field 3, an int32 varint) = -1.
const char kRunOnCallerOptions[] = "\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01";

static bool MayRunOnCaller(const RunPlan& plan, int64_t timeout_ms);

bool RunPlan::RunsOnCaller(int64_t timeout_ms) const {
  return core->inline_ops() || (MayRunOnCaller(*this, timeout_ms) && caller_turns.load(std::memory_order_relaxed) > 0);
}

// The plan's session has an inter-op pool this run could skip (see above).
static bool MayRunOnCaller(const RunPlan& plan, int64_t timeout_ms) {
  const SessionCore& core = *plan.core;
  return !core.inline_ops() && core.caller_runs_allowed() && (timeout_ms <= 0 || (core.bounded() && timeout_ms >= kTimedCallerMinMs));
}

namespace {

// Folds `micros` into a moving average (1/8 weight; the first sample sets it). A sample counts
// as at most 4 times the average: one run that a preempted vCPU held for milliseconds (1.4-3.5 ms
// against 0.2 seen) sent a plan's trial on the calling thread back to the pool for kPoolTurns
// runs, while a thread that is really slower for the plan stays slower run after run.
void Average(std::atomic<uint32_t>& average, uint32_t micros) {
  uint32_t old = average.load(std::memory_order_relaxed);
  if (old != 0 && micros / 4 > old) micros = 4 * old;
  average.store(old == 0 ? micros : std::max<uint32_t>(1, old - old / 8 + micros / 8), std::memory_order_relaxed);
}

std::atomic<uint64_t> g_caller_runs{0};
std::atomic<uint64_t> g_pooled_runs{0};

// Where this run of `plan` goes: true for the calling thread.
bool TakeCallerTurn(RunPlan& plan) {
  int32_t turns = plan.caller_turns.load(std::memory_order_relaxed);
  if (turns == 0) return false;
  // Runs in flight together may race on the count: either way is a valid choice.
  plan.caller_turns.store(turns > 0 ? turns - 1 : turns + 1, std::memory_order_relaxed);
  return turns > 0;
}

void Measured(RunPlan& plan, bool on_caller, uint32_t micros) {
  if (on_caller) {
    // Each trial starts its own average after a warm-up run (a thread's first run of a plan
    // can take many times the next ones), and is judged from kJudgeAfter runs on.
    uint32_t samples = plan.caller_samples.fetch_add(1, std::memory_order_relaxed) + 1;
    if (samples <= kCallerWarmup) return;
    Average(plan.caller_micros, micros);
    uint32_t pooled = plan.pooled_micros.load(std::memory_order_relaxed);
    if (samples >= kJudgeAfter && plan.caller_micros.load(std::memory_order_relaxed) > pooled + pooled / 4) {
      plan.caller_turns.store(-kPoolTurns, std::memory_order_relaxed);
    }
  } else {
    Average(plan.pooled_micros, micros);
    if (plan.caller_turns.load(std::memory_order_relaxed) == 0 &&
        plan.pooled_micros.load(std::memory_order_relaxed) <= kCallerTryMicros) {
      plan.caller_micros.store(0, std::memory_order_relaxed);
      plan.caller_samples.store(0, std::memory_order_relaxed);
      plan.caller_turns.store(kCallerTurns, std::memory_order_relaxed);
    }
  }
}

}  // namespace

namespace {

// TensorFlow's queues (QueueBase::Cancel, tensorflow/core/kernels/queue_base.cc; a Barrier's and
// a ConditionalAccumulator's takes alike) find the waiting attempt that a cancellation stops by the
// step's CancellationManager address and token, and DirectSession keeps that manager in
// RunInternal's stack frame: two runs entering TensorFlow at one stack address look the same to a
// queue. A cancelled attempt leaves its queue only once it reaches the front, so while another
// run's attempt waits ahead of it, a later run entering at the same address whose attempt is
// cancelled (its runTimeoutMs) stops the stale attempt instead of its own and stays inside
// TensorFlow for good (TensorFlow 2.21, in C alone: one thread's dequeue with a 3000 ms limit,
// then another thread's two dequeues with 20 ms limits one after the other: the second never
// returned; through run(), 4 dequeues at a time with 1 ms limits hung about once in 1000 runs).
// A step's waits are cancelled when the run reaches its limit (runTimeoutMs, or the session's
// operationTimeoutMs, which applies to runs without one), when the session closes, and when any
// op of the step fails (the executor aborts the step). So every run on a graph that may reach such
// an op (SessionCore::keyed_waits) enters TensorFlow at a stack address where no run of its
// session failed since the session's runs in flight last came down to none (when every attempt
// in its queues has ended): 16 bytes deeper than the thread's previous such run, over 64 KiB,
// skipping the addresses marked stale (SessionCore::StackSlotStale). 64 KiB: runSync() on a
// worker_thread runs on the worker's stack, 4 MiB by default. Addresses are absolute, so
// runSync() called from any JS depth is covered too.
constexpr uint32_t kStackTurns = 4096;
constexpr size_t kStackTurnBytes = 16;
thread_local uint32_t t_stack_turn = 0;

// Runs `run` (false when it failed, so that it may have left a stale attempt) below a fresh
// stack address; false, without running it, when every address within reach is stale.
template <typename Run>
__attribute__((noinline)) bool AtFreshStackDepth(SessionCore& core, Run&& run) {
  volatile char marker = 0;
  uintptr_t base = reinterpret_cast<uintptr_t>(&marker);
  size_t shift = 0;
  for (uint32_t tries = 0; tries < kStackTurns && shift == 0; ++tries) {
    size_t candidate = kStackTurnBytes * (1 + t_stack_turn++ % kStackTurns);
    if (!core.StackSlotStale(base - candidate)) shift = candidate;
  }
  if (shift == 0) return false;
  volatile char* pad = static_cast<char*>(__builtin_alloca(shift));
  pad[0] = marker;  // used, so the block stays
  if (!run()) core.MarkStackSlotStale(base - shift);
  return true;
}

// Runs `run` as every run of `plan` must: at a fresh stack address where the plan may reach a
// keyed wait (AtFreshStackDepth), as it comes elsewhere. False, without running it, when
// no address within reach is fresh.
template <typename Run>
bool RunAtSafeDepth(SessionCore& core, const RunPlan& plan, Run&& run) {
  if (core.keyed_waits() && plan.keyed_waits) return AtFreshStackDepth(core, run);
  run();
  return true;
}

// UNAVAILABLE for a run AtFreshStackDepth could not place.
Failure StaleStackRefusal() {
  return {"UNAVAILABLE", "the run was not started: " + std::to_string(kStackTurns) +
                             " runs of this model on this thread failed (stopped at a limit, or by a failing op) while "
                             "another of its runs was in flight, and the graph has a queue, barrier or accumulator op, "
                             "where TensorFlow could then no longer stop this run (README, \"Runs that never end\"); "
                             "try again once the model's runs in flight have ended"};
}

// runSync() of a plan whose outputs were big last time runs TF_SessionRun here, while
// the JS thread waits. TensorFlow allocates outputs on the running thread's glibc arena;
// on the JS thread's, Node's small allocations keep the freed 64-byte-aligned chunks
// apart, so every big output took fresh, page-faulting memory (1.4 ms for 4 MiB out vs
// 0.1 ms in C). On a thread of its own the memory is reused, as for run(). The hand-off
// costs microseconds, so small plans stay on the JS thread.
constexpr size_t kOffThreadOutputBytes = size_t{1} << 20;

class SyncRunner {
 public:
  static SyncRunner& Get() {
    // Never destroyed: the thread may outlive static destruction at exit.
    static SyncRunner* runner = new SyncRunner();
    return *runner;
  }

  // Runs `job` on a runner thread and returns when it has finished. A job that finds no thread
  // idle gets one of its own: a job runs for as long as its run does (a dequeue may wait for
  // good), and one JS thread's runSync() must not wait behind another's (helper-109: a
  // worker_thread's big-output runSync() waited for another worker's dequeue, for good without
  // its limit). The caller waits for its job, so there are never more jobs at once, nor threads,
  // than threads that called this at once: runSync()'s JS threads (big outputs, or a stale
  // stack), and runners, hosts' serving threads or these threads themselves with a stale stack
  // (RunPlanOnce). Threads are kept, never ended: a new thread's stack could take an ended
  // one's addresses, which a model's stale marks may name.
  void RunAndWait(const std::function<void()>& job) {
    std::mutex done_mutex;
    std::condition_variable done_cv;
    bool done = false;
    bool spawn = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back([&, this] {
        job();
        {
          // Free again before its caller learns of it: the caller's next job, submitted at
          // once, finds this thread rather than making another (threads grew by one per
          // runSync() of a thread whose addresses were stale: test/timing/72).
          std::lock_guard<std::mutex> lock(mutex_);
          ++idle_;
        }
        std::lock_guard<std::mutex> done_lock(done_mutex);
        done = true;
        done_cv.notify_one();
      });
      // An idle thread takes it (counted busy from here), or a new one does.
      spawn = idle_ == 0;
      if (!spawn) --idle_;
    }
    if (spawn) {
      std::thread([this] { Loop(); }).detach();
    } else {
      cv_.notify_one();
    }
    std::unique_lock<std::mutex> done_lock(done_mutex);
    done_cv.wait(done_lock, [&] { return done; });
  }

 private:
  SyncRunner() = default;

  void Loop() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [this] { return !queue_.empty(); });
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      job();
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  size_t idle_ = 0;  // threads done with their job and not yet given another
};

}  // namespace

uint64_t CallerRuns() { return g_caller_runs.load(std::memory_order_relaxed); }
uint64_t PooledRuns() { return g_pooled_runs.load(std::memory_order_relaxed); }

Failure RunPlanOnce(RunPlan& plan, FeedSet& feeds, Fetched& fetched, int64_t timeout_ms, bool begun) {
  SessionCore& core = *plan.core;
  // Before the deferred feeds are read: once the session closes (dispose(), or the worker
  // thread that owns their JS memory ending), a run that had not begun never reads it.
  if (!begun && !core.BeginRun()) return {"MODEL_DISPOSED", kDisposedMessage};
  Failure unready = feeds.Materialize();
  if (unready) {
    if (!begun) core.EndRun();
    return unready;
  }
  fetched.tensors.assign(plan.outputs.size(), nullptr);
  Status status;
  std::string options_bytes;
  TF_Buffer options{nullptr, 0, nullptr};
  bool pool_skippable = MayRunOnCaller(plan, timeout_ms);
  bool on_caller = pool_skippable && TakeCallerTurn(plan);
  if (timeout_ms > 0) {
    // On the calling thread as well: the fields of one message, one after the other.
    options_bytes = RunOptionsWithTimeout(timeout_ms);
    if (on_caller) options_bytes.append(kRunOnCallerOptions, sizeof(kRunOnCallerOptions) - 1);
    options.data = options_bytes.data();
    options.length = options_bytes.size();
  } else if (on_caller) {
    options.data = kRunOnCallerOptions;
    options.length = sizeof(kRunOnCallerOptions) - 1;
  }
  auto started = std::chrono::steady_clock::now();
  auto run = [&] {
    SessionRun(core.session(), options.data != nullptr ? &options : nullptr, plan.inputs.data(), feeds.data(),
               static_cast<int>(plan.inputs.size()), plan.outputs.data(),
               fetched.tensors.data(), static_cast<int>(plan.outputs.size()), nullptr, 0,
               nullptr, status.get());
    // Any failure may have left a cancelled attempt in a queue: a run stopped by its limit, by
    // the session's operation timeout or by a close, and a step aborted by a failing op, which
    // cancels the step's waits too (helper-106).
    return status.ok();
  };
  // Every run, with a limit or not: one without may still be cancelled (operationTimeoutMs, an
  // op failing beside its wait), and one that fails at a stale address stops the stale attempt.
  bool placed = RunAtSafeDepth(core, plan, run);
  // Every stack address within this thread's reach is stale (4096 runs of the model failed here
  // while another of its runs waited in a queue): another thread's stack has addresses of its
  // own, and the run (an enqueue that would end the waiting one, say) goes to a SyncRunner
  // thread, this one waiting for it, whatever this thread is (runSync()'s JS thread, a runner of
  // run(), a host's serving thread, a SyncRunner thread itself: another one takes it). Refused
  // when none is fresh there either.
  if (!placed) SyncRunner::Get().RunAndWait([&] { placed = RunAtSafeDepth(core, plan, run); });
  if (!placed) {
    if (!begun) core.EndRun();
    return StaleStackRefusal();
  }
  if (!begun) core.EndRun();
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count();
  uint32_t clamped = static_cast<uint32_t>(std::max<int64_t>(1, std::min<int64_t>(micros, UINT32_MAX)));
  // A plan's first run also builds its executors: it says nothing about the ones after.
  bool first = plan.last_run_micros.exchange(clamped, std::memory_order_relaxed) == 0;
  if (!core.inline_ops()) (on_caller ? g_caller_runs : g_pooled_runs).fetch_add(1, std::memory_order_relaxed);
  if (pool_skippable && status.ok() && !first) Measured(plan, on_caller, clamped);
  size_t bytes = 0;
  for (TF_Tensor* tensor : fetched.tensors) {
    if (tensor != nullptr) bytes += tf().TF_TensorByteSize(tensor);
  }
  plan.last_output_bytes.store(bytes, std::memory_order_relaxed);
  // However TensorFlow words it (a cancelled step, a closed session), what happened is the dispose.
  if (!status.ok() && core.cancelled()) return {"MODEL_DISPOSED", kCancelledMessage};
  // A run on the calling thread outlasted its limit: it fails as TensorFlow fails such a run on
  // the pool (which reports the timeout once the run's ops have ended, even when none of them
  // could be stopped), so that where it ran never decides its outcome (helper-99).
  if (status.ok() && on_caller && timeout_ms > 0 && micros > timeout_ms * 1000) {
    for (TF_Tensor*& tensor : fetched.tensors) {
      if (tensor != nullptr) DeleteTensor(std::exchange(tensor, nullptr));
    }
    return {"DEADLINE_EXCEEDED", "Timed out waiting for notification"};
  }
  return status.failure();
}

namespace {

// [dtype, shape, data, dtype, ...] in fetch order. `prepared`: PrepareOutputs' work for them
// (empty for none).
Napi::Array OutputsToJs(Napi::Env env, Fetched& fetched, const FeedSet& feeds, std::vector<PreparedOutput>* prepared = nullptr) {
  Napi::Array outputs = Napi::Array::New(env, fetched.tensors.size() * 3);
  bool any = prepared != nullptr && !prepared->empty();
  for (size_t i = 0; i < fetched.tensors.size(); ++i) {
    TF_Tensor* tensor = fetched.tensors[i];
    fetched.tensors[i] = nullptr;  // OutputToJs owns it from here, even when it throws
    OutputToJs(env, tensor, feeds, outputs, static_cast<uint32_t>(i * 3), any ? &(*prepared)[i] : nullptr);
  }
  return outputs;
}

// run(): the feeds were converted on the JS thread; TF_SessionRun on a runner thread
// (native/runner.h); the outputs become JS values back on the JS thread.
class RunJob : public Job {
 public:
  // fetched_ and prepared_ are sized here, on the JS thread that frees them, so the runner
  // allocates neither: a free into a runner's glibc arena takes that arena's lock, which the
  // runner (TensorFlow's allocations) holds often when two runs are in flight (perf: 1-2 % of
  // each thread waiting on it, in futex calls).
  RunJob(Napi::Env env, std::shared_ptr<RunPlan> plan, std::unique_ptr<FeedSet> feeds, int64_t timeout_ms)
      : deferred_(Napi::Promise::Deferred::New(env)),
        plan_(std::move(plan)),
        feeds_(std::move(feeds)),
        timeout_ms_(timeout_ms),
        // Read once: the runner's Leave() and the pool's counts must see the gate Enter() saw.
        gate_(plan_->gate != nullptr ? plan_->gate : &plan_->core->gate()),
        prepared_(plan_->outputs.size()) {
    fetched_.tensors.assign(plan_->outputs.size(), nullptr);
    if (timeout_ms_ > 0) submitted_ = std::chrono::steady_clock::now();
  }

  Napi::Promise promise() const { return deferred_.Promise(); }

  Gate* gate() override { return gate_; }

  void Admit() override { admitted_.store(plan_->core->BeginRun(), std::memory_order_release); }
  bool Admitted() const override { return admitted_.load(std::memory_order_acquire); }
  void Unadmit() override {
    if (admitted_.exchange(false, std::memory_order_acq_rel)) plan_->core->EndRun();
  }
  ~RunJob() override { Unadmit(); }  // never executed (the process exiting): no close waits for it

  // A run that no runner has started within `wait_limit_ms` of now is not started at all
  // (code NOT_STARTED, which lib/model.ts turns into its DEADLINE_EXCEEDED NotStartedError):
  // its caller has given up (a server has answered 504), and runs queued
  // for the runners (no gate: maxConcurrentRuns Infinity) would otherwise all execute, each
  // holding up the runs behind it.
  void SetWaitLimit(int64_t wait_limit_ms) {
    if (wait_limit_ms <= 0) return;
    if (timeout_ms_ <= 0) submitted_ = std::chrono::steady_clock::now();
    wait_limit_ms_ = wait_limit_ms;
  }

  void Abandon(Napi::Env env, bool disposed) override {
    Unadmit();
    try {
      deferred_.Reject((disposed ? MakeError(env, "MODEL_DISPOSED", kDisposedMessage)
                                 : MakeError(env, "CANCELLED", "the run was taken out of its queue before it started"))
                           .Value());
      feeds_->Clear();
      Addon::Of(env).releases()->Drain(env);
    } catch (const Napi::Error&) {
      // Only when JS can no longer run: nobody awaits.
    }
  }

  void Execute() override {
    // Counted as running until its outputs are prepared too: they may be copied from a feed's
    // JS memory, which a closing session's environment (a worker thread ending) waits for.
    SessionCore& core = *plan_->core;
    // Begun already when Submit admitted it and no Unadmit() came first (this takes the admission).
    bool begun = admitted_.exchange(false, std::memory_order_acq_rel);
    int64_t timeout_ms = timeout_ms_;
    if (wait_limit_ms_ > 0 || timeout_ms_ > 0) {
      auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - submitted_).count();
      if (wait_limit_ms_ > 0 && waited > wait_limit_ms_) {
        failure_ = {"NOT_STARTED", "the run waited " + std::to_string(waited) + " ms for a runner thread, past its runTimeoutMs of " +
                                             std::to_string(wait_limit_ms_) + " ms, and was not started"};
        if (begun) core.EndRun();
        return;
      }
      // The limit counts from when the run was handed over (its wait for a turn or a runner
      // included): TensorFlow gets what is left of it, as TensorFlow Serving passes a request's
      // remaining deadline, so a run whose caller gave up does not hold the model past then.
      if (timeout_ms_ > 0) timeout_ms = std::max<int64_t>(1, timeout_ms_ - waited);
    }
    if (!begun && !core.BeginRun()) {
      failure_ = {"MODEL_DISPOSED", kDisposedMessage};
      return;
    }
    try {
      failure_ = RunPlanOnce(*plan_, *feeds_, fetched_, timeout_ms, true);
      // Big outputs copied or packed here, not on the JS thread. The feeds made here go here too
      // (a big string feed's TF_TStrings are freed one by one); the JS thread's own copies are
      // freed there, in Settle(), which also checks outputs against the borrowed ranges.
      if (!failure_) PrepareOutputs(fetched_.tensors, *feeds_, prepared_);
      feeds_->ClearMaterialized();
    } catch (const std::bad_alloc& error) {
      // In a model host (a framed run: strings, or a timeout), as on its direct path (channel.cc).
      if (IsModelHost()) ExitOutOfMemory();
      failure_ = {"INTERNAL", std::string("run failed: ") + error.what()};
    } catch (const std::exception& error) {
      // A runner thread must not unwind (std::terminate).
      failure_ = {"INTERNAL", std::string("run failed: ") + error.what()};
    }
    core.EndRun();
  }

  void Settle(Napi::Env env) override {
    try {
      if (failure_) {
        deferred_.Reject(MakeError(env, failure_).Value());
      } else {
        try {
          deferred_.Resolve(OutputsToJs(env, fetched_, *feeds_, &prepared_));
        } catch (const Napi::Error& error) {
          deferred_.Reject(error.Value());
        }
      }
      feeds_->Clear();
      Addon::Of(env).releases()->Drain(env);
    } catch (const Napi::Error&) {
      // Only when JS can no longer run (a worker_thread being terminated): nobody awaits.
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<RunPlan> plan_;
  std::unique_ptr<FeedSet> feeds_;
  int64_t timeout_ms_;
  Gate* gate_;
  Fetched fetched_;
  std::vector<PreparedOutput> prepared_;
  Failure failure_;
  std::chrono::steady_clock::time_point submitted_{};
  int64_t wait_limit_ms_ = 0;
  std::atomic<bool> admitted_{false};  // Admit() counted it as begun (SessionCore::BeginRun)
};

// The same round trip with nothing to run: what any run() costs on top of TF_SessionRun
// (bench/ reports it as the async floor).
class NoopJob : public Job {
 public:
  explicit NoopJob(Napi::Env env) : deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise promise() const { return deferred_.Promise(); }
  void Execute() override {}
  void Settle(Napi::Env env) override { deferred_.Resolve(env.Undefined()); }

 private:
  Napi::Promise::Deferred deferred_;
};

// Frees the session once its runs in flight have ended, on a thread of its own
// (Completions::SubmitOnOwnThread): the wait has no bound. Runs still executing at the core's
// CancelAfter() limit (dispose's killAfterMs) are cancelled (CancelRuns) instead of awaited.
class CloseJob : public Job {
 public:
  CloseJob(Napi::Env env, std::shared_ptr<SessionCore> core)
      : deferred_(Napi::Promise::Deferred::New(env)), core_(std::move(core)) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

  void Execute() override {
    if (!core_->WaitForRunsUntilCancel() && HoldOffExit()) {
      core_->CancelRuns();
      ReleaseExit();
    }
    while (!core_->WaitForRuns(std::chrono::hours(1))) {
    }
    // The process is exiting: StopForExit has stopped TensorFlow's users, and exit frees all.
    if (!HoldOffExit()) return;
    core_->Close();
    ReleaseExit();
  }

  void Settle(Napi::Env env) override {
    try {
      deferred_.Resolve(env.Undefined());
    } catch (const Napi::Error&) {
      // Only when JS can no longer run: nobody awaits.
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<SessionCore> core_;
};

// "op:2" -> {op, 2}; "op" -> {op, 0}. The index must name one of the op's outputs: a
// SavedModel's names are data (a corrupt "x:4294967295" must not index out of bounds).
bool ResolveOutput(TF_Graph* graph, const std::string& name, TF_Output* out) {
  std::string op = name;
  long long index = 0;
  size_t colon = name.rfind(':');
  if (colon != std::string::npos && colon + 1 < name.size() &&
      name.find_first_not_of("0123456789", colon + 1) == std::string::npos) {
    op = name.substr(0, colon);
    errno = 0;
    index = std::strtoll(name.c_str() + colon + 1, nullptr, 10);
    if (errno == ERANGE || index > INT32_MAX) return false;
  }
  TF_Operation* oper = tf().TF_GraphOperationByName(graph, op.c_str());
  if (oper == nullptr || index < 0 || index >= tf().TF_OperationNumOutputs(oper)) return false;
  *out = TF_Output{oper, static_cast<int>(index)};
  return true;
}

std::vector<std::string> ReadStrings(Napi::Env env, Napi::Value value, const char* what) {
  if (!value.IsArray()) throw MakeTypeError(env, std::string(what) + " must be an array of strings");
  Napi::Array array = value.As<Napi::Array>();
  std::vector<std::string> out;
  out.reserve(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value item = array.Get(i);
    if (!item.IsString()) throw MakeTypeError(env, std::string(what) + " must be an array of strings");
    out.push_back(item.As<Napi::String>().Utf8Value());
  }
  return out;
}

}  // namespace

SessionCore::SessionCore(TF_Session* session, TF_Graph* graph) : session_(session), graph_(graph) {
  g_live_sessions.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(g_cores_mutex);
  Cores().insert(this);
}

int CancelAllRuns() {
  std::lock_guard<std::mutex> lock(g_cores_mutex);
  for (SessionCore* core : Cores()) core->CancelRuns();
  return static_cast<int>(Cores().size());
}

int RunsInFlight() {
  std::lock_guard<std::mutex> lock(g_cores_mutex);
  int sessions = 0;
  for (SessionCore* core : Cores()) sessions += core->runs_in_flight() > 0 ? 1 : 0;
  return sessions;
}

void SessionCore::CancelAfter(std::chrono::milliseconds limit) {
  int64_t at = std::chrono::duration_cast<std::chrono::nanoseconds>((std::chrono::steady_clock::now() + limit).time_since_epoch()).count();
  int64_t was = cancel_at_.load();
  while (at < was && !cancel_at_.compare_exchange_weak(was, at)) {
  }
  runs_.Poke();
}

bool SessionCore::WaitForRunsUntilCancel() {
  return runs_.WaitUntil([this] {
    int64_t at = cancel_at_.load();
    // No limit: wait an hour at a time.
    if (at == INT64_MAX) return std::chrono::steady_clock::now() + std::chrono::hours(1);
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(at));
  });
}

int64_t LiveSessions() { return g_live_sessions.load(std::memory_order_relaxed); }

bool SessionCore::BeginRun() { return runs_.Begin(); }

void SessionCore::set_calm_outputs(std::vector<std::string> names) {
  std::lock_guard<std::mutex> lock(calm_mutex_);
  calm_outputs_ = std::unordered_set<std::string>(std::make_move_iterator(names.begin()), std::make_move_iterator(names.end()));
}

bool SessionCore::CalmOutputs(const std::vector<std::string>& names) {
  std::lock_guard<std::mutex> lock(calm_mutex_);
  if (calm_outputs_.empty()) return false;
  for (const std::string& name : names) {
    if (calm_outputs_.count(name) == 0) return false;
  }
  return true;
}

bool SessionCore::StackSlotStale(uintptr_t slot) {
  // No run of this session has failed on a keyed-wait graph yet: no lock on the path of every run.
  if (!any_stale_.load(std::memory_order_acquire)) return false;
  std::lock_guard<std::mutex> lock(stale_mutex_);
  ForgetPastMarks();
  return stale_slots_.count(slot) > 0;
}

void SessionCore::MarkStackSlotStale(uintptr_t slot) {
  std::lock_guard<std::mutex> lock(stale_mutex_);
  // The caller is in flight: the epoch cannot move on until it ends.
  ForgetPastMarks();
  stale_slots_.insert(slot);
  any_stale_.store(true, std::memory_order_release);
}

void SessionCore::ForgetPastMarks() {
  uint64_t epoch = runs_.idle_epoch();
  if (stale_epoch_ == epoch) return;
  stale_slots_.clear();
  stale_epoch_ = epoch;
  any_stale_.store(false, std::memory_order_release);
}

void SessionCore::EndRun() { runs_.End(); }

void SessionCore::BeginClose() {
  runs_.Close();
  // Runs waiting at the gates go back to the runners, where they fail with MODEL_DISPOSED
  // without starting.
  for (Task& task : gate_.Open()) Requeue(std::move(task));
  for (Gate* gate : PlanGates()) {
    for (Task& task : gate->Open()) Requeue(std::move(task));
  }
}

Gate* SessionCore::AddPlanGate() {
  std::lock_guard<std::mutex> lock(plan_gates_mutex_);
  return &plan_gates_.emplace_back();
}

std::vector<Gate*> SessionCore::PlanGates() {
  std::lock_guard<std::mutex> lock(plan_gates_mutex_);
  std::vector<Gate*> gates;
  for (Gate& gate : plan_gates_) gates.push_back(&gate);
  return gates;
}

std::vector<Gate*> SessionCore::Gates() {
  std::vector<Gate*> gates = PlanGates();
  gates.push_back(&gate_);
  return gates;
}

bool SessionCore::CancelAtPlanGates(Napi::Env env, uint64_t ticket) {
  for (Gate* gate : PlanGates()) {
    if (gate->Cancel(env, ticket)) return true;
  }
  return false;
}

int SessionCore::QueuedAtPlanGates() {
  int count = 0;
  for (Gate* gate : PlanGates()) count += gate->Waiting() + QueuedForRunner(gate);
  return count;
}

bool SessionCore::closed() { return runs_.closed(); }

void SessionCore::CancelRuns() {
  BeginClose();
  cancelled_.store(true, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(mutex_);
  if (session_ == nullptr) return;
  // Close() closes it again before deleting it: DirectSession::Close() is idempotent.
  Status status;
  tf().TF_CloseSession(session_, status.get());
}

void SessionCore::Close() {
  TF_Session* session;
  TF_Graph* graph;
  BeginClose();
  runs_.CloseAndWait();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    session = session_;
    graph = graph_;
    session_ = nullptr;
    graph_ = nullptr;
  }
  if (session == nullptr) return;  // already freed by an earlier Close()
  {
    std::lock_guard<std::mutex> lock(g_cores_mutex);
    Cores().erase(this);
  }
  Status status;
  tf().TF_CloseSession(session, status.get());
  tf().TF_DeleteSession(session, status.get());
  tf().TF_DeleteGraph(graph);
  g_live_sessions.fetch_sub(1, std::memory_order_relaxed);
}

Napi::Function Session::Define(Napi::Env env) {
  return DefineClass(env, "Session",
                     {InstanceMethod<&Session::Plan>("plan"), InstanceMethod<&Session::Run>("run"),
                      InstanceMethod<&Session::RunSync>("runSync"),
                      InstanceMethod<&Session::Trace>("trace"),
                      InstanceMethod<&Session::SetRunLimit>("setRunLimit"),
                      InstanceMethod<&Session::SetBounded>("setBounded"),
                      InstanceMethod<&Session::SetNoKeyedWaits>("setNoKeyedWaits"),
                      InstanceMethod<&Session::SetPlanRunLimit>("setPlanRunLimit"),
                      InstanceMethod<&Session::CancelQueued>("cancelQueued"),
                      InstanceMethod<&Session::LastQueued>("lastQueued"),
                      InstanceMethod<&Session::RunnerQueued>("runnerQueued"),
                      InstanceMethod<&Session::Close>("close")});
}

Session::Session(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Session>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) {
    throw MakeTypeError(info.Env(), "Session is created by loadModel(), not constructed directly");
  }
  core_ = *info[0].As<Napi::External<std::shared_ptr<SessionCore>>>().Data();
}

Napi::Value Session::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!LoadedTensorFlow().ok) throw MakeError(env, "LIBRARY_NOT_FOUND", "TensorFlow is not loaded");
  if (info.Length() < 3 || !info[0].IsString()) {
    throw MakeTypeError(env, "loadSession(exportDir: string, tags: string[], config: Uint8Array, inlineOps: boolean)");
  }
  std::vector<std::string> tags = ReadStrings(env, info[1], "tags");
  std::string config;
  if (info[2].IsTypedArray()) {
    Napi::Uint8Array bytes = info[2].As<Napi::Uint8Array>();
    config.assign(reinterpret_cast<const char*>(bytes.Data()), bytes.ByteLength());
  } else if (!info[2].IsNull() && !info[2].IsUndefined()) {
    throw MakeTypeError(env, "config must be a Uint8Array of ConfigProto bytes");
  }
  bool inline_ops = info.Length() > 3 && info[3].IsBoolean() && info[3].As<Napi::Boolean>().Value();
  // Optional fifth argument: { target, graphDef, device, steps } (lib/loader.ts).
  std::string target, graph_def, device;
  bool by_hand = false;
  std::vector<LoadStep> steps;
  if (info.Length() > 4 && info[4].IsObject()) {
    Napi::Object extra = info[4].As<Napi::Object>();
    if (extra.Get("target").IsString()) target = extra.Get("target").As<Napi::String>().Utf8Value();
    if (extra.Get("device").IsString()) device = extra.Get("device").As<Napi::String>().Utf8Value();
    Napi::Value bytes = extra.Get("graphDef");
    if (bytes.IsTypedArray()) {
      by_hand = true;
      Napi::Uint8Array array = bytes.As<Napi::Uint8Array>();
      graph_def.assign(reinterpret_cast<const char*>(array.Data()), array.ByteLength());
    }
    Napi::Value list = extra.Get("steps");
    if (list.IsArray()) {
      Napi::Array array = list.As<Napi::Array>();
      for (uint32_t i = 0; i < array.Length(); ++i) {
        if (!array.Get(i).IsObject()) throw MakeTypeError(env, "steps must be objects");
        Napi::Object item = array.Get(i).As<Napi::Object>();
        LoadStep step;
        std::vector<std::string> feeds = ReadStrings(env, item.Get("feeds"), "step feeds");
        if (feeds.size() % 2 != 0) throw MakeTypeError(env, "step feeds must be [name, value, ...] pairs");
        for (size_t f = 0; f < feeds.size(); f += 2) step.feeds.emplace_back(feeds[f], feeds[f + 1]);
        if (!item.Get("target").IsString() || !item.Get("what").IsString()) throw MakeTypeError(env, "a step needs target and what");
        step.target = item.Get("target").As<Napi::String>().Utf8Value();
        step.what = item.Get("what").As<Napi::String>().Utf8Value();
        steps.push_back(std::move(step));
      }
    }
    if (!by_hand && (!device.empty() || !steps.empty())) throw MakeTypeError(env, "device and steps need graphDef");
  }
  auto* worker = new LoadWorker(env, info[0].As<Napi::String>().Utf8Value(), std::move(tags),
                                std::move(config), inline_ops, std::move(target), by_hand, std::move(graph_def),
                                std::move(device), std::move(steps));
  return worker->Start();
}

Napi::Value AsyncNoop(const Napi::CallbackInfo& info) {
  auto job = std::make_unique<NoopJob>(info.Env());
  Napi::Promise promise = job->promise();
  Addon::Of(info.Env()).completions()->Submit(std::move(job), 0);
  return promise;
}

namespace {

// copyOffThread(): each view's bytes copied on a runner thread into memory JS then adopts; when
// `join`, all of them one after the other into one buffer.
class CopyJob : public Job {
 public:
  CopyJob(Napi::Env env, bool join) : deferred_(Napi::Promise::Deferred::New(env)), reads_(Addon::Of(env).js_reads()), join_(join) {}
  ~CopyJob() override {
    // Those JS never took (a failure, a gone env); the sources' memory goes with the pieces.
    for (Piece& piece : pieces_) FreeCopyBuffer(piece.copy, piece.bytes);
    FreeCopyBuffer(joined_, joined_bytes_);
  }

  Napi::Promise promise() const { return deferred_.Promise(); }

  // JS thread: pins `view` (a reference) until Settle and notes where its bytes are.
  void Add(Napi::Env env, Napi::TypedArray view) {
    // The element pointer from napi_get_typedarray_info: a SharedArrayBuffer's too.
    void* data = nullptr;
    napi_value arraybuffer = nullptr;
    NAPI_THROW_IF_FAILED_VOID(env, napi_get_typedarray_info(env, view, nullptr, nullptr, &data, &arraybuffer, nullptr));
    napi_ref ref = nullptr;
    NAPI_THROW_IF_FAILED_VOID(env, napi_create_reference(env, view, 1, &ref));
    // Its buffer's memory (or shared segment) stays until the copy is made, even if a
    // terminating worker finalizes it, as a borrowed feed's does (PinFeed).
    HeldMemory held(env, arraybuffer);
    // The copy's memory is taken here, on the JS thread, from the arena its other allocations
    // (and frees) use: taken on a runner, it sat free in that runner's arena once collected, and
    // a loop of 4 MiB echoes held 100-200 MiB more than with copies made on the event loop.
    void* copy = join_ ? nullptr : AlignedCopyBuffer(view.ByteLength());
    pieces_.push_back({static_cast<const uint8_t*>(data), view.ByteLength(), ref, copy, std::move(held)});
  }

  // JS thread, after the last Add when joining: the one buffer, from the same arena.
  void Join() {
    for (const Piece& piece : pieces_) joined_bytes_ += piece.bytes;
    joined_ = static_cast<uint8_t*>(AlignedCopyBuffer(joined_bytes_));
  }

  void Execute() override {
    if (!reads_->Begin()) return;  // the environment is going: its JS memory with it
    size_t at = 0;
    for (Piece& piece : pieces_) {
      if (piece.copy != nullptr && piece.bytes != 0) std::memcpy(piece.copy, piece.source, piece.bytes);
      if (joined_ != nullptr && piece.bytes != 0) std::memcpy(joined_ + at, piece.source, piece.bytes);
      at += piece.bytes;
    }
    for (Piece& piece : pieces_) piece.source_memory.Release();
    reads_->End();
    CountThreadCopies(join_ ? 1 : pieces_.size());
  }

  void Settle(Napi::Env env) override {
    for (Piece& piece : pieces_) napi_delete_reference(env, std::exchange(piece.ref, nullptr));
    if (join_) {
      if (joined_ == nullptr) {
        deferred_.Reject(MakeError(env, "RESOURCE_EXHAUSTED", "cannot allocate a copy of " + std::to_string(joined_bytes_) + " bytes").Value());
        return;
      }
      Napi::Array buffers = Napi::Array::New(env, 1);
      buffers.Set(0u, AdoptMalloced(env, std::exchange(joined_, nullptr), joined_bytes_));
      deferred_.Resolve(buffers);
      return;
    }
    for (const Piece& piece : pieces_) {
      if (piece.copy == nullptr) {
        deferred_.Reject(MakeError(env, "RESOURCE_EXHAUSTED", "cannot allocate a copy of " + std::to_string(piece.bytes) + " bytes").Value());
        return;
      }
    }
    Napi::Array buffers = Napi::Array::New(env, pieces_.size());
    for (size_t i = 0; i < pieces_.size(); ++i) {
      // The buffer's now, even if adopting it throws.
      buffers.Set(static_cast<uint32_t>(i), AdoptMalloced(env, std::exchange(pieces_[i].copy, nullptr), pieces_[i].bytes));
    }
    deferred_.Resolve(buffers);
  }

 private:
  struct Piece {
    const uint8_t* source;
    size_t bytes;
    napi_ref ref;
    void* copy;
    HeldMemory source_memory;  // until copied
  };
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<InFlight> reads_;
  std::vector<Piece> pieces_;
  bool join_;
  uint8_t* joined_ = nullptr;  // when joining: the one copy, JS's once settled
  size_t joined_bytes_ = 0;
};

// lengthPrefixedOffThread(): lengthPrefixed()'s layout made on a runner thread, for BYTES outputs
// of millions of strings (50-150 ms of the event loop when laid out there).
class LayoutJob : public Job {
 public:
  LayoutJob(Napi::Env env, const LengthPrefixedSource& source)
      : deferred_(Napi::Promise::Deferred::New(env)), reads_(Addon::Of(env).js_reads()), bytes_(source.bytes_data),
        offsets_(source.offsets_data), count_(source.count), limit_(source.limit), total_(source.total) {
    NAPI_THROW_IF_FAILED_VOID(env, napi_create_reference(env, source.bytes, 1, &bytes_ref_));
    NAPI_THROW_IF_FAILED_VOID(env, napi_create_reference(env, source.offsets, 1, &offsets_ref_));
    // Both buffers' memory stays until the layout is made, as copyOffThread's sources do.
    bytes_memory_ = HeldMemory(env, source.bytes.ArrayBuffer());
    offsets_memory_ = HeldMemory(env, source.offsets.ArrayBuffer());
    // Taken on the JS thread, from the arena its free goes back to (as CopyJob's copies).
    if (total_ != 0) out_ = static_cast<uint8_t*>(AlignedCopyBuffer(total_));
  }
  ~LayoutJob() override { FreeCopyBuffer(out_, total_); }  // when JS never took it

  Napi::Promise promise() const { return deferred_.Promise(); }

  void Execute() override {
    if (!reads_->Begin()) return;  // the environment is going: its JS memory with it
    if (out_ != nullptr) laid_out_ = LayOutLengthPrefixed(bytes_, offsets_, count_, limit_, out_, total_);
    CountThreadLayout();
    bytes_memory_.Release();
    offsets_memory_.Release();
    reads_->End();
  }

  void Settle(Napi::Env env) override {
    napi_delete_reference(env, std::exchange(bytes_ref_, nullptr));
    napi_delete_reference(env, std::exchange(offsets_ref_, nullptr));
    if (total_ == 0) {
      deferred_.Resolve(Napi::ArrayBuffer::New(env, 0));
    } else if (out_ == nullptr) {
      deferred_.Reject(MakeError(env, "RESOURCE_EXHAUSTED", "cannot allocate " + std::to_string(total_) + " bytes").Value());
    } else if (!laid_out_) {
      deferred_.Reject(MakeTypeError(env, "lengthPrefixedOffThread(bytes, offsets): the offsets changed while the strings were laid out").Value());
    } else {
      deferred_.Resolve(AdoptMalloced(env, std::exchange(out_, nullptr), total_));
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<InFlight> reads_;
  const uint8_t* bytes_;
  const double* offsets_;
  size_t count_;
  double limit_;
  size_t total_;
  napi_ref bytes_ref_ = nullptr;
  napi_ref offsets_ref_ = nullptr;
  HeldMemory bytes_memory_;
  HeldMemory offsets_memory_;
  uint8_t* out_ = nullptr;
  bool laid_out_ = false;
};

}  // namespace

Napi::Value LengthPrefixedOffThread(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto job = std::make_unique<LayoutJob>(env, ReadLengthPrefixedSource(info, "lengthPrefixedOffThread"));
  Napi::Promise promise = job->promise();
  Addon::Of(env).completions()->Submit(std::move(job), 0);
  return promise;
}

Napi::Value CopyOffThread(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) throw MakeTypeError(env, "copyOffThread(views, join?): views must be an array of typed arrays");
  if (info.Length() > 1 && !info[1].IsUndefined() && !info[1].IsBoolean()) throw MakeTypeError(env, "copyOffThread(views, join?): join must be a boolean");
  Napi::Array views = info[0].As<Napi::Array>();
  const bool join = info.Length() > 1 && info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
  auto job = std::make_unique<CopyJob>(env, join);
  for (uint32_t i = 0, n = views.Length(); i < n; ++i) {
    Napi::Value view = views.Get(i);
    if (!view.IsTypedArray()) throw MakeTypeError(env, "copyOffThread(views): views[" + std::to_string(i) + "] is not a typed array");
    job->Add(env, view.As<Napi::TypedArray>());
  }
  if (join) job->Join();
  Napi::Promise promise = job->promise();
  Addon::Of(env).completions()->Submit(std::move(job), 0);
  return promise;
}

// TensorFlow's name for a DataType tfslice does not carry (as lib/dtypes.ts tfDTypeName).
static std::string UnsupportedTypeName(int dtype) {
  switch (dtype) {
    case 8: return "complex64";
    case 11: return "qint8";
    case 12: return "quint8";
    case 13: return "qint32";
    case 15: return "qint16";
    case 16: return "quint16";
    case 18: return "complex128";
    case 20: return "resource";
    case 21: return "variant";
    default: return "DataType(" + std::to_string(dtype) + ")";
  }
}

Failure ResolvePlan(const std::shared_ptr<SessionCore>& core, const std::vector<std::string>& inputs,
                    const std::vector<std::string>& outputs, RunPlan& plan) {
  plan.core = core;
  plan.input_names = inputs;
  for (const std::string& name : inputs) {
    TF_Output output;
    if (!ResolveOutput(core->graph(), name, &output)) {
      return {"NOT_FOUND", "the graph has no tensor '" + name + "' to feed"};
    }
    plan.inputs.push_back(output);
  }
  for (const std::string& name : outputs) {
    TF_Output output;
    if (!ResolveOutput(core->graph(), name, &output)) {
      return {"NOT_FOUND", "the graph has no tensor '" + name + "' to fetch"};
    }
    int dtype = BaseDataType(tf().TF_OperationOutputType(output));
    if (!IsSupportedDataType(dtype)) {
      return {"UNIMPLEMENTED", "tensor '" + name + "' has dtype " + UnsupportedTypeName(dtype) +
                                   ", which tfslice cannot return"};
    }
    plan.all_numeric = plan.all_numeric && dtype != TF_STRING;
    plan.outputs.push_back(output);
  }
  plan.keyed_waits = core->keyed_waits() && !core->CalmOutputs(outputs);
  return {};
}

std::shared_ptr<SessionCore> Session::CoreOf(Napi::Value value) {
  Napi::Env env = value.Env();
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(Addon::Of(env).session_constructor().Value())) {
    throw MakeTypeError(env, "expected a session from loadSession()");
  }
  return Session::Unwrap(value.As<Napi::Object>())->core_;
}

Napi::Value Session::Plan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (core_->closed()) throw MakeError(env, "MODEL_DISPOSED", kDisposedMessage);
  std::vector<std::string> inputs = ReadStrings(env, info[0], "inputs");
  std::vector<std::string> outputs = ReadStrings(env, info[1], "outputs");
  auto plan = std::make_shared<RunPlan>();
  Failure failure = ResolvePlan(core_, inputs, outputs, *plan);
  if (failure) throw MakeError(env, failure);
  auto* holder = new std::shared_ptr<RunPlan>(std::move(plan));
  return Napi::External<std::shared_ptr<RunPlan>>::New(
      env, holder, [](Napi::Env, std::shared_ptr<RunPlan>* p) { delete p; });
}

namespace {

// Validates (plan, feeds) arguments of run/runSync and converts the feeds; `defer_copies`:
// big unaligned feeds are copied when the run starts, on its thread (FeedSet::Add).
// `header` (runSync()'s compact feeds, [begin, end) of Addon::TakenScratch as doubles): the
// second argument holds only the feeds' data (the one feed's itself, or an array of them), and
// each one's dtype and shape are read from the header (FeedSet::AddFromHeader).
std::shared_ptr<RunPlan> ReadRunArguments(const Napi::CallbackInfo& info,
                                          const std::shared_ptr<SessionCore>& core,
                                          FeedSet& feeds, bool defer_copies = false,
                                          const double* header = nullptr, const double* header_end = nullptr) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsExternal() || (header == nullptr && !info[1].IsArray())) {
    throw MakeTypeError(env, "run(plan, [dtype, shape, data, ...])");
  }
  std::shared_ptr<RunPlan> plan = *info[0].As<Napi::External<std::shared_ptr<RunPlan>>>().Data();
  if (plan->core != core) throw MakeTypeError(env, "the plan belongs to another session");
  const std::shared_ptr<ReleaseQueue>& releases = Addon::Of(env).releases();
  if (header != nullptr) {
    size_t n = plan->inputs.size();
    if (n == 1) {
      feeds.AddFromHeader(env, releases, header, header_end, info[1], plan->input_names[0], defer_copies);
      return plan;
    }
    if (!info[1].IsArray() || info[1].As<Napi::Array>().Length() != n) {
      throw MakeTypeError(env, "runSync(plan, [data, ...], timeoutMs, true): one data per feed");
    }
    Napi::Array data = info[1].As<Napi::Array>();
    for (uint32_t i = 0; i < n; ++i) {
      header = feeds.AddFromHeader(env, releases, header, header_end, data.Get(i), plan->input_names[i], defer_copies);
    }
    return plan;
  }
  // Flat [dtype, shape, data, ...], one triple per planned input.
  Napi::Array flat = info[1].As<Napi::Array>();
  if (flat.Length() != plan->inputs.size() * 3) {
    throw MakeError(env, "INVALID_ARGUMENT", "expected " + std::to_string(plan->inputs.size()) +
                                                 " feeds, got " + std::to_string(flat.Length() / 3));
  }
  for (uint32_t i = 0; i < plan->inputs.size(); ++i) {
    feeds.Add(env, releases, flat.Get(i * 3), flat.Get(i * 3 + 1), flat.Get(i * 3 + 2),
              plan->input_names[i], defer_copies);
  }
  return plan;
}

// The optional third argument of run/runSync: TensorFlow's run timeout in ms (0: none).
int64_t ReadTimeout(const Napi::CallbackInfo& info) {
  if (info.Length() < 3 || info[2].IsUndefined()) return 0;
  if (!info[2].IsNumber()) throw MakeTypeError(info.Env(), "run(plan, feeds, timeoutMs): timeoutMs must be a number");
  double ms = info[2].As<Napi::Number>().DoubleValue();
  if (!(ms >= 0 && ms <= 9007199254740991.0)) throw MakeTypeError(info.Env(), "run(plan, feeds, timeoutMs): timeoutMs must be a whole number of ms >= 0");
  return static_cast<int64_t>(ms);
}

// A run's ticket for cancelQueued(): a whole number from 1 to 2^53-1; 0 for anything else.
uint64_t TicketOf(const Napi::Value& value) {
  if (!value.IsNumber()) return 0;
  double ticket = value.As<Napi::Number>().DoubleValue();
  return ticket >= 1 && ticket <= 9007199254740991.0 ? static_cast<uint64_t>(ticket) : 0;
}

}  // namespace

Napi::Value Session::Run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto feeds = std::make_unique<FeedSet>();
  // Big unaligned feeds are copied on the runner thread, not here on the JS thread.
  std::shared_ptr<RunPlan> plan = ReadRunArguments(info, core_, *feeds, true);
  int64_t timeout_ms = ReadTimeout(info);
  uint32_t expected = plan->RunsOnCaller(timeout_ms) ? plan->last_run_micros.load(std::memory_order_relaxed) : 0;
  auto job = std::make_unique<RunJob>(env, std::move(plan), std::move(feeds), timeout_ms);
  // The optional fourth argument: a ticket cancelQueued() may name while the run waits.
  if (info.Length() > 3) job->ticket = TicketOf(info[3]);
  // The optional fifth: the wait limit, ms, for a run that no gate holds (RunJob::SetWaitLimit).
  if (info.Length() > 4 && info[4].IsNumber()) {
    double limit = info[4].As<Napi::Number>().DoubleValue();
    if (limit >= 1 && limit <= 9007199254740991.0) job->SetWaitLimit(static_cast<int64_t>(limit));
  }
  Napi::Promise promise = job->promise();
  Addon::Of(env).completions()->Submit(std::move(job), expected);
  return promise;
}

Napi::Value Session::RunSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // The optional fourth argument, true (lib/tensor.ts, writeTakenFeeds and readTakenOutputs): the
  // feeds' dtypes and shapes come in Addon::TakenScratch, and outputs that all fit there are
  // written there (TakeOutputsInto) and their number returned, for JS to copy into arrays of its
  // own: no N-API object per output, nor per dimension either way (a sixth of runSync()'s
  // instructions on `tiny`).
  Addon& addon = Addon::Of(env);
  bool compact = info.Length() > 3 && info[3].IsBoolean() && info[3].As<Napi::Boolean>().Value();
  unsigned char* base = compact ? addon.taken_scratch(env) : nullptr;
  const double* header = reinterpret_cast<const double*>(base);
  FeedSet feeds;
  std::shared_ptr<RunPlan> plan =
      ReadRunArguments(info, core_, feeds, false, header,
                       header == nullptr ? nullptr : header + addon.taken_scratch_bytes() / sizeof(double));
  int64_t timeout_ms = ReadTimeout(info);
  // A run slot of the model's maxConcurrentRuns, as run() takes one (oneDNN on: one run at a
  // time, README "Concurrency"): runSync() never runs beside the runs holding them, nor ahead of
  // those waiting; it does not wait either (the event loop would, with it).
  Gate& gate = core_->gate();
  bool took = false;
  if (!gate.EnterNow(took)) {
    throw MakeError(env, "FAILED_PRECONDITION",
                    "runSync() cannot run now: run()s of this model hold its maxConcurrentRuns (" +
                        std::to_string(gate.limit()) +
                        ") run slot(s) or wait for one, and runSync() does not wait (it would block the event "
                        "loop); await them first, or use run()");
  }
  struct Slot {
    Gate* gate;
    ~Slot() {
      if (gate != nullptr) gate->LeaveNow();
    }
  } slot{took ? &gate : nullptr};
  // Plans with big outputs run on another thread (below): only this one writes JS memory.
  bool off_thread = plan->last_output_bytes.load(std::memory_order_relaxed) >= kOffThreadOutputBytes;
  unsigned char* scratch = off_thread ? nullptr : base;
  Fetched fetched;
  Failure failure;
  bool written = false;
  std::vector<PreparedOutput> prepared;
  // Small outputs are copied out and deleted where the session ran (TakeSmallOutputs): on this
  // thread, which TensorFlow's allocator already held for the run, no deletion for the reaper.
  auto run = [&] {
    failure = RunPlanOnce(*plan, feeds, fetched, timeout_ms);
    if (failure) return;
    written = TakeOutputsInto(fetched.tensors, scratch, addon.taken_scratch_bytes());
    if (!written) TakeSmallOutputs(fetched.tensors, prepared);
  };
  if (off_thread) {
    SyncRunner::Get().RunAndWait(run);
  } else {
    run();
  }
  if (failure) throw MakeError(env, failure);
  Napi::Value outputs = written ? Napi::Number::New(env, static_cast<double>(fetched.tensors.size()))
                                : Napi::Value(OutputsToJs(env, fetched, feeds, &prepared));
  feeds.Clear();
  addon.releases()->Drain(env);
  return outputs;
}

namespace {

// One run with RunOptions.trace_level SOFTWARE_TRACE (field 1, value 1): TensorFlow fills
// RunMetadata.step_stats with every node it ran and the device that ran it.
class TraceWorker : public PromiseWorker {
 public:
  TraceWorker(Napi::Env env, std::shared_ptr<RunPlan> plan, std::unique_ptr<FeedSet> feeds)
      : PromiseWorker(env, "tfslice:trace"), plan_(std::move(plan)), feeds_(std::move(feeds)) {}

 private:
  void Execute() override {
    SessionCore& core = *plan_->core;
    if (!core.BeginRun()) {  // first, as in RunPlanOnce
      failure_ = {"MODEL_DISPOSED", kDisposedMessage};
      return;
    }
    failure_ = feeds_->Materialize();
    if (failure_) {
      core.EndRun();
      return;
    }
    fetched_.tensors.assign(plan_->outputs.size(), nullptr);
    static const char kTrace[] = {1 << 3, 1};  // SOFTWARE_TRACE: step_stats without the profiler
    TF_Buffer options{kTrace, sizeof(kTrace), nullptr};
    TF_Buffer* metadata = tf().TF_NewBuffer();
    Status status;
    auto run = [&] {
      SessionRun(core.session(), &options, plan_->inputs.data(), feeds_->data(),
                 static_cast<int>(plan_->inputs.size()), plan_->outputs.data(), fetched_.tensors.data(),
                 static_cast<int>(plan_->outputs.size()), nullptr, 0, metadata, status.get());
      return status.ok();
    };
    // As RunPlanOnce's runs (helper-107: a traced step that failed beside a waiting dequeue left
    // its stale attempt for the next trace on the same libuv thread, which never returned).
    bool placed = RunAtSafeDepth(core, *plan_, run);
    core.EndRun();
    failure_ = placed ? status.failure() : StaleStackRefusal();
    if (!failure_) metadata_.assign(static_cast<const char*>(metadata->data), metadata->length);
    tf().TF_DeleteBuffer(metadata);
    feeds_->Clear();
  }

  Napi::Value Result(Napi::Env env) override {
    return Napi::Buffer<char>::Copy(env, metadata_.data(), metadata_.size());
  }

  std::shared_ptr<RunPlan> plan_;
  std::unique_ptr<FeedSet> feeds_;
  Fetched fetched_;
  std::string metadata_;
};

}  // namespace

Napi::Value Session::Trace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto feeds = std::make_unique<FeedSet>();
  std::shared_ptr<RunPlan> plan = ReadRunArguments(info, core_, *feeds);
  auto* worker = new TraceWorker(env, std::move(plan), std::move(feeds));
  return worker->Start();
}

Napi::Value Session::SetBounded(const Napi::CallbackInfo& info) {
  core_->set_bounded(true);
  return info.Env().Undefined();
}

Napi::Value Session::SetNoKeyedWaits(const Napi::CallbackInfo& info) {
  // With a list: only the output tensors named reach no keyed wait (plans resolved after this).
  if (info.Length() > 0 && !info[0].IsUndefined()) {
    core_->set_calm_outputs(ReadStrings(info.Env(), info[0], "outputs"));
  } else {
    core_->set_keyed_waits(false);
  }
  return info.Env().Undefined();
}

Napi::Value Session::SetRunLimit(const Napi::CallbackInfo& info) {
  double limit = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
  if (!(limit >= 0 && limit <= UINT32_MAX && limit == static_cast<double>(static_cast<uint32_t>(limit)))) {
    throw MakeTypeError(info.Env(), "setRunLimit(n) needs a whole number from 0 (no limit) to 2^32-1");
  }
  core_->gate().SetLimit(static_cast<uint32_t>(limit));
  return info.Env().Undefined();
}

Napi::Value Session::SetPlanRunLimit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsExternal() || !info[1].IsNumber()) throw MakeTypeError(env, "setPlanRunLimit(plan, n)");
  std::shared_ptr<RunPlan> plan = *info[0].As<Napi::External<std::shared_ptr<RunPlan>>>().Data();
  if (plan->core != core_) throw MakeTypeError(env, "the plan belongs to another session");
  double limit = info[1].As<Napi::Number>().DoubleValue();
  if (!(limit >= 1 && limit <= UINT32_MAX && limit == static_cast<double>(static_cast<uint32_t>(limit)))) {
    throw MakeTypeError(env, "setPlanRunLimit(plan, n) needs a whole number from 1 to 2^32-1");
  }
  if (plan->gate == nullptr) plan->gate = core_->AddPlanGate();
  plan->gate->SetLimit(static_cast<uint32_t>(limit));
  return env.Undefined();
}

Napi::Value Session::CancelQueued(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) throw MakeTypeError(info.Env(), "cancelQueued(ticket) needs the ticket given to run()");
  uint64_t ticket = TicketOf(info[0]);
  return Napi::Boolean::New(info.Env(), ticket != 0 && (core_->gate().Cancel(info.Env(), ticket) || core_->CancelAtPlanGates(info.Env(), ticket)));
}

Napi::Value Session::LastQueued(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(Addon::Of(info.Env()).completions()->LastQueued()));
}

Napi::Value Session::RunnerQueued(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), QueuedForRunner(&core_->gate()) + core_->QueuedAtPlanGates());
}

Napi::Value Session::Close(const Napi::CallbackInfo& info) {
  // Runs that have not begun must not begin (they reject with MODEL_DISPOSED): those waiting at
  // the gates or for a busy runner reject now, not once a runner takes them (which another
  // model's long runs may hold off for ever; helper-84). Admitted ones run (Job::Admit).
  core_->BeginClose();
  AbandonUnstarted(info.Env(), core_->Gates());
  if (info.Length() > 0 && info[0].IsNumber()) {
    double ms = info[0].As<Napi::Number>().DoubleValue();
    if (ms >= 0 && ms <= 2147483647) core_->CancelAfter(std::chrono::milliseconds(static_cast<int64_t>(ms)));
  }
  // One close per session: a later call only sets its limit, and resolves at once (the first
  // call's promise is the one that resolves when the session is freed).
  if (close_started_) {
    Napi::Promise::Deferred done = Napi::Promise::Deferred::New(info.Env());
    done.Resolve(info.Env().Undefined());
    return done.Promise();
  }
  close_started_ = true;
  auto job = std::make_unique<CloseJob>(info.Env(), core_);
  Napi::Promise promise = job->promise();
  Addon::Of(info.Env()).completions()->SubmitOnOwnThread(std::move(job));
  return promise;
}

}  // namespace tfslice
