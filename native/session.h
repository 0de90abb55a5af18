// One TF_Session per SavedModel: loading, planning fetches, running, closing.
#pragma once

#include <napi.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "errors.h"
#include "runner.h"
#include "tensor.h"
#include "tf_api.h"

namespace tfslice {

// The TensorFlow session and graph, shared by the JS wrapper and every run in
// flight; whoever lets go last frees them, so they are freed exactly once.
class SessionCore {
 public:
  SessionCore(TF_Session* session, TF_Graph* graph);
  ~SessionCore() { Close(); }
  SessionCore(const SessionCore&) = delete;
  SessionCore& operator=(const SessionCore&) = delete;

  // A run must call BeginRun first and EndRun after; false once closing started.
  bool BeginRun();
  void EndRun();
  // Refuses runs that have not begun yet; cheap, so dispose() calls it on the JS thread
  // before a worker thread waits in Close().
  void BeginClose();
  // BeginClose(), then asks TensorFlow to stop the runs in flight (TF_CloseSession: a
  // DirectSession cancels every step it executes; they fail with CANCELLED as soon as their
  // executor sees it, which an op in progress does not). The session is freed by Close().
  // For an environment that ends (a worker_thread terminated, the process exiting): nobody
  // awaits those runs, and a run that never ends would hold the ending forever.
  void CancelRuns();
  // CancelRuns() was called: a run that fails now fails because of it (MODEL_DISPOSED).
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }
  // Waits up to `limit` for the runs in flight to end; false if some still run.
  bool WaitForRuns(std::chrono::milliseconds limit) { return runs_.WaitFor(limit); }
  // JS thread (dispose's killAfterMs): runs still executing `limit` from now are cancelled by
  // the close that waits for them (the earliest of several limits holds).
  void CancelAfter(std::chrono::milliseconds limit);
  // A close's wait for the runs in flight: true once they ended; false when CancelAfter's
  // limit passed first.
  bool WaitForRunsUntilCancel();
  // Runs begun and not ended (run() and runSync() alike).
  int runs_in_flight() { return runs_.busy(); }
  // BeginClose(), then waits for runs in flight and frees. Idempotent, any thread.
  void Close();
  bool closed();

  TF_Session* session() const { return session_; }
  // The session runs ops on the calling thread (inter_op_parallelism_threads < 0): a
  // short run uses no other thread, so the JS thread may poll for it (native/runner.h).
  bool inline_ops() const { return inline_ops_; }
  void set_inline_ops(bool value) { inline_ops_ = value; }
  // A session with an inter-op pool may run a short plan on the calling thread
  // (RunOptions.inter_op_thread_pool -1; see RunPlanOnce): false for a remote target.
  bool caller_runs_allowed() const { return caller_runs_allowed_; }
  void set_caller_runs_allowed(bool value) { caller_runs_allowed_ = value; }
  // The graph reaches no op that loops or blocks (lib/ops.ts loopingOrBlockingOp): a short plan
  // may run on the calling thread with a run timeout too (MayRunOnCaller). Set by JS after the load.
  bool bounded() const { return bounded_.load(std::memory_order_relaxed); }
  void set_bounded(bool value) { bounded_.store(value, std::memory_order_relaxed); }
  // The graph may reach an op whose wait TensorFlow finds, to cancel it, by the step's
  // cancellation manager address (lib/ops.ts keyedWaitOp: queues, barriers, accumulators): runs
  // enter TensorFlow at fresh stack addresses (native/session.cc, AtFreshStackDepth).
  // True until JS, having read the graph, says otherwise.
  bool keyed_waits() const { return keyed_waits_.load(std::memory_order_relaxed); }
  void set_keyed_waits(bool value) { keyed_waits_.store(value, std::memory_order_relaxed); }
  // Where the graph has such an op: the output tensors from which none is reached (lib/ops.ts
  // outputsWithoutKeyedWaits, set by JS after the load): a plan fetching only these runs as on
  // a graph without one (RunPlan::keyed_waits).
  void set_calm_outputs(std::vector<std::string> names);
  bool CalmOutputs(const std::vector<std::string>& names);
  TF_Graph* graph() const { return graph_; }
  // Stack addresses at which a run of this session entered TensorFlow and failed, so that it
  // may have left a stale attempt in a queue (native/session.cc, AtFreshStackDepth): until the
  // session's runs in flight next come down to none, when every queue attempt has ended.
  bool StackSlotStale(uintptr_t slot);
  void MarkStackSlotStale(uintptr_t slot);
  // run()s of this session executing at once (Session.setRunLimit; native/runner.h).
  Gate& gate() { return gate_; }
  // JS thread: a gate of its own for one plan's runs (Session.setPlanRunLimit: a batch queue's
  // batches, when the session has no limit). Kept here, so that it lives as long as the runs
  // that may wait at it, and opens when the session closes, as gate() does.
  Gate* AddPlanGate();
  // JS thread: cancelQueued() for a run of a plan gate (Gate::Cancel on each); false when none has it.
  bool CancelAtPlanGates(Napi::Env env, uint64_t ticket);
  // Runs of the plan gates waiting to execute: at their gate, or for a runner thread.
  int QueuedAtPlanGates();
  // gate() and the plan gates (any thread: gates are never removed).
  std::vector<Gate*> Gates();

 private:
  InFlight runs_;     // BeginRun .. EndRun
  std::mutex mutex_;  // session_ and graph_ as Close() frees them
  TF_Session* session_;
  TF_Graph* graph_;
  bool inline_ops_ = false;
  bool caller_runs_allowed_ = false;
  std::atomic<bool> bounded_{false};
  std::atomic<bool> keyed_waits_{true};
  std::mutex calm_mutex_;
  std::unordered_set<std::string> calm_outputs_;  // set_calm_outputs
  std::atomic<bool> cancelled_{false};
  std::atomic<int64_t> cancel_at_{INT64_MAX};  // CancelAfter's limit, steady_clock ns
  std::mutex stale_mutex_;
  std::unordered_set<uintptr_t> stale_slots_;  // marked in runs_'s idle epoch stale_epoch_
  uint64_t stale_epoch_ = 0;
  // stale_slots_ may hold an address: false from the session's start until a run fails, and again
  // once a look finds the marks of an epoch gone by.
  std::atomic<bool> any_stale_{false};
  // Under stale_mutex_: drops the marks of an idle epoch gone by (their queue attempts have ended).
  void ForgetPastMarks();
  Gate gate_;
  // The plan gates, read without the lock (gates are never removed).
  std::vector<Gate*> PlanGates();
  std::mutex plan_gates_mutex_;  // the JS thread adds, a close on any thread opens
  std::deque<Gate> plan_gates_;  // AddPlanGate (a deque: its elements never move)
};

// MODEL_DISPOSED's message for a run or plan that reaches a closed session.
extern const char kDisposedMessage[];
// MODEL_DISPOSED's message for a run that CancelRuns() stopped.
extern const char kCancelledMessage[];

// Sessions created and not yet freed, in the whole process (for leak tests).
int64_t LiveSessions();

// CancelRuns() on every session of the process, in every environment; returns how many
// sessions it reached. For StopForExit (runner.h): the process is ending.
int CancelAllRuns();
// Sessions of the whole process with runs in flight, on any thread (runSync()s of worker threads
// too): a count of runs that is at least 1 whenever one is.
int RunsInFlight();

// Runs on sessions with an inter-op pool, in the whole process: those that went to the
// calling thread instead (RunPlanOnce in session.cc) and those that went to the pool.
uint64_t CallerRuns();
uint64_t PooledRuns();

// Feeds and fetches resolved to TF_Outputs once, reused by every run with them.
struct RunPlan {
  std::shared_ptr<SessionCore> core;
  std::vector<TF_Output> inputs;
  std::vector<TF_Output> outputs;
  std::vector<std::string> input_names;
  // Every output is numeric (no strings): a host's direct path can carry its runs.
  bool all_numeric = true;
  // Its runs may reach an op whose wait TensorFlow cancels by the step's cancellation manager
  // address (SessionCore::keyed_waits, less the outputs SessionCore::CalmOutputs clears), so
  // they enter TensorFlow at fresh stack addresses (session.cc, RunAtSafeDepth).
  bool keyed_waits = true;
  // The gate its runs pass (Session.setPlanRunLimit, before the plan's first run); nullptr:
  // the session's (SessionCore::gate).
  Gate* gate = nullptr;
  // Bytes the last run's outputs took: runSync() moves plans with big outputs off the
  // JS thread (see RunSync in session.cc).
  std::atomic<size_t> last_output_bytes{0};
  // How long the last TF_SessionRun took, in microseconds (0: never ran): run() of a
  // plan that runs briefly has the JS thread poll for it (native/runner.h).
  std::atomic<uint32_t> last_run_micros{0};
  // On a session with an inter-op pool: how the plan's runs went there and on the calling
  // thread (moving averages, microseconds; 0: not yet), and where the next ones go:
  // > 0 runs left on the calling thread, < 0 runs left on the pool before it tries again.
  std::atomic<uint32_t> pooled_micros{0};
  std::atomic<uint32_t> caller_micros{0};
  std::atomic<uint32_t> caller_samples{0};  // runs on the calling thread in this trial
  std::atomic<int32_t> caller_turns{0};

  // The next run, with that run timeout (ms; 0: none), executes on the calling thread: the
  // session runs ops inline, or the plan runs there now (RunPlanOnce). A short run there may be
  // polled for (native/runner.h).
  bool RunsOnCaller(int64_t timeout_ms = 0) const;
};

// Resolves tensor names ("op" or "op:index") against the session's graph into `plan`
// (any thread). Fails with NOT_FOUND naming the tensor, or UNIMPLEMENTED for a fetch
// whose dtype tfslice cannot return.
Failure ResolvePlan(const std::shared_ptr<SessionCore>& core, const std::vector<std::string>& inputs,
                    const std::vector<std::string>& outputs, RunPlan& plan);

// Outputs of one TF_SessionRun, deleted unless taken.
struct Fetched {
  std::vector<TF_Tensor*> tensors;
  Fetched() = default;
  Fetched(const Fetched&) = delete;
  Fetched& operator=(const Fetched&) = delete;
  ~Fetched();
};

// Runs the plan with `feeds` and records its output bytes; returns a failure instead of
// throwing (any thread). timeout_ms > 0: TensorFlow's own run timeout (RunOptions.timeout_in_ms),
// DEADLINE_EXCEEDED past it. `begun`: the caller holds the run's SessionCore::BeginRun() (and
// ends it); otherwise this begins and ends it, refusing the run once the session is closing.
// Where every stack address of this thread is stale for the plan's model, the run goes to
// another thread (a SyncRunner's), this one waiting, and is refused only when none is fresh there.
Failure RunPlanOnce(RunPlan& plan, FeedSet& feeds, Fetched& fetched, int64_t timeout_ms = 0, bool begun = false);

// Resolves undefined after a round trip through a worker thread (a benchmark floor).
Napi::Value AsyncNoop(const Napi::CallbackInfo& info);

// copyOffThread(views, join?) -> Promise<ArrayBuffer[]>: copies of the typed arrays' bytes, made
// on a runner thread (each view pinned until then; do not change or transfer it meanwhile);
// `join`: one copy of them all, one after the other.
Napi::Value CopyOffThread(const Napi::CallbackInfo& info);
// lengthPrefixedOffThread(bytes, offsets): lengthPrefixed() on a runner thread (a Promise).
Napi::Value LengthPrefixedOffThread(const Napi::CallbackInfo& info);

class Session : public Napi::ObjectWrap<Session> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Session(const Napi::CallbackInfo& info);

  // JS thread: loads a SavedModel on a worker thread (TensorFlow's loader, or by hand onto a
  // device: see LoadWorker); resolves {session, metaGraph (null by hand), devices}.
  static Napi::Value Load(const Napi::CallbackInfo& info);
  // The core behind a JS Session object (a model host serves it natively); throws a
  // TypeError for anything else.
  static std::shared_ptr<SessionCore> CoreOf(Napi::Value value);

 private:
  Napi::Value Plan(const Napi::CallbackInfo& info);
  Napi::Value Run(const Napi::CallbackInfo& info);
  Napi::Value RunSync(const Napi::CallbackInfo& info);
  // JS thread: one run traced (RunOptions FULL_TRACE) on a worker thread; resolves the
  // RunMetadata bytes (lib/placement.ts reads where each node ran).
  Napi::Value Trace(const Napi::CallbackInfo& info);
  // close(cancelAfterMs?): frees the session once its runs end; runs still executing
  // cancelAfterMs after the call are cancelled (dispose's killAfterMs). Resolves once freed.
  Napi::Value Close(const Napi::CallbackInfo& info);
  // JS thread: setRunLimit(n): at most n run()s execute at once, the rest wait natively in
  // call order (0: no limit). cancelQueued(ticket): drops a run() still waiting (true) or
  // says it started (false). lastQueued(): where this thread's last run() waits: 0 nowhere, 1 at
  // the limit, 2 for a runner thread (Completions::LastQueued).
  Napi::Value SetRunLimit(const Napi::CallbackInfo& info);
  // setBounded(): the graph reaches no op that loops or blocks (SessionCore::set_bounded).
  Napi::Value SetBounded(const Napi::CallbackInfo& info);
  Napi::Value SetNoKeyedWaits(const Napi::CallbackInfo& info);
  // setPlanRunLimit(plan, n): at most n run()s of `plan` execute at once, the rest wait natively
  // in call order at a gate of the plan's own, on a session with no run limit (a batch queue's
  // numBatchThreads). Before the plan's first run.
  Napi::Value SetPlanRunLimit(const Napi::CallbackInfo& info);
  Napi::Value CancelQueued(const Napi::CallbackInfo& info);
  Napi::Value LastQueued(const Napi::CallbackInfo& info);
  // runnerQueued(): this session's runs waiting for a runner thread now (QueuedForRunner).
  Napi::Value RunnerQueued(const Napi::CallbackInfo& info);

  std::shared_ptr<SessionCore> core_;
  bool close_started_ = false;  // JS thread: close() started the CloseJob
};

}  // namespace tfslice
