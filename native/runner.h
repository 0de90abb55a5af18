// Asynchronous runs on the addon's own threads instead of libuv's pool.
//
// A run is handed to a runner thread and settled back on the JS thread. What this buys
// over napi_async_work, measured in README "Performance":
//  - the hand-off: after a job, one idle runner spins for a few tens of microseconds
//    before it sleeps, so a caller that awaits a run and starts the next one finds it
//    awake (no futex wake-up of a halted vCPU). Only one runner spins at a time, none
//    while another runs a job, and none within 2 ms of two jobs executing side by side
//    (nor does the event loop poll then), so spinning never takes a core from TensorFlow.
//    Where the runners executing take every core but the JS thread's, a short job waits for
//    a busy runner executing a short job instead of waking another (Pool::Deferrable);
//  - the way back: finished runs of an environment queue up behind one uv_async handle
//    and are settled in one callback scope, however many finished together; while the loop
//    polls (below) it takes them on its next pass itself, and the runner leaves the handle's
//    eventfd write out (with the loop's epoll and read, three system calls per run saved:
//    tiny run() p50 24.5 -> 18.4 us on a 2-vCPU AMD EPYC VM, README "Performance");
//  - the JS thread's wait: while a run is in flight on a session that runs ops inline, its
//    plan last ran within the busy-poll limit (100 µs unless configureRuntime() says
//    otherwise) and no jobs execute side by side, the event loop polls instead of sleeping,
//    up to that limit per submission. On a VM an idle vCPU halts, and waking it costs about as
//    much as a short run; a long run never polls, nor does a session whose ops run on
//    TensorFlow's inter-op pool (polling would take a core from it);
//  - memory: TensorFlow allocates outputs on the running thread's malloc arena; with
//    few threads that stay warm, a freed output's memory is reused by the next run. The
//    runners start with the addon, so each has an arena of its own (StartThreads).
#pragma once

#include <napi.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

namespace tfslice {

constexpr uint32_t kDefaultBusyPollMicros = 100;

// Runs whose plan last ran within this many microseconds make the JS thread poll for
// their completion, for at most this long per submission; 0 turns polling off, and the
// runners' spinning with it (any thread).
void SetBusyPollMicros(uint32_t micros);
uint32_t BusyPollMicros();

// Work in flight that something must outlast (a session's runs; the runner work reading an
// environment's JS memory), and the closing that waits for it. Any thread.
class InFlight {
 public:
  // False once Close() has begun: the work must not start.
  bool Begin() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return false;
    ++busy_;
    return true;
  }
  void End() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (--busy_ == 0) {
      idle_epoch_.fetch_add(1, std::memory_order_release);
      idle_.notify_all();
    }
  }
  // How many times the work in flight has come down to none: unchanged from one read to the
  // next while some work began before the first read stays in flight.
  uint64_t idle_epoch() const { return idle_epoch_.load(std::memory_order_acquire); }
  // Refuses work that has not begun (cheap).
  void Close() {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
  }
  bool closed() {
    std::lock_guard<std::mutex> lock(mutex_);
    return closed_;
  }
  // Close(), then waits for the work that began.
  void CloseAndWait() {
    std::unique_lock<std::mutex> lock(mutex_);
    closed_ = true;
    idle_.wait(lock, [this] { return busy_ == 0; });
  }
  // Waits up to `limit` for the work that began; false if some is still going.
  bool WaitFor(std::chrono::milliseconds limit) {
    std::unique_lock<std::mutex> lock(mutex_);
    return idle_.wait_for(lock, limit, [this] { return busy_ == 0; });
  }
  // Waits for the work that began until `deadline()` (read again whenever Poke() is called);
  // false if some is still going then.
  template <typename Deadline>
  bool WaitUntil(Deadline deadline) {
    std::unique_lock<std::mutex> lock(mutex_);
    while (busy_ != 0) {
      std::chrono::steady_clock::time_point until = deadline();
      if (std::chrono::steady_clock::now() >= until) return false;
      idle_.wait_until(lock, until);
    }
    return true;
  }
  // Wakes WaitUntil() to read its deadline again.
  void Poke() {
    std::lock_guard<std::mutex> lock(mutex_);
    idle_.notify_all();
  }
  // Work begun and not ended.
  int busy() {
    std::lock_guard<std::mutex> lock(mutex_);
    return busy_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable idle_;
  int busy_ = 0;
  bool closed_ = false;
  std::atomic<uint64_t> idle_epoch_{0};
};

// What a LoopPoller looks at on each pass, so that what it waits for is taken without the
// event loop's own wake-up (an eventfd write by the sender, then epoll and a read here: three
// system calls, each a microsecond or more on a VM).
class PollTarget {
 public:
  virtual ~PollTarget() = default;
  // JS thread, on each pass: takes what has arrived; true if anything had.
  virtual bool Take() = 0;
  // JS thread: a pass of the poll begins (true) or ends (false). While it lasts, senders may
  // leave the loop's wake-up out; when it ends, whatever arrived meanwhile must wake the loop.
  virtual void Watch(bool on) = 0;
};

// Keeps one environment's event loop polling instead of sleeping (an active idle handle)
// while it waits for something expected soon: another thread's run, a model host's reply.
class LoopPoller {
 public:
  // `target`, if any, outlives the poller.
  explicit LoopPoller(Napi::Env env, PollTarget* target = nullptr);  // JS thread, as are all its calls
  ~LoopPoller();
  LoopPoller(const LoopPoller&) = delete;
  LoopPoller& operator=(const LoopPoller&) = delete;

  // Starts polling, for at most the busy-poll limit, when what is awaited took at most
  // that long last time (`expected_micros`; 0 when not known: no polling). True if it did.
  // `despite_overlap`: polls on even if runs executed side by side just now (the caller knows
  // none does beside what it waits for).
  bool Begin(uint32_t expected_micros, bool despite_overlap = false);
  // Stops polling: what was awaited arrived.
  void Done();
  // While this poll lasts, each pass of the loop yields the CPU (sched_yield) as long as the
  // job waits for a runner.
  void YieldWhilePolling() { yield_ = true; }

 private:
  void Tick();

  void* idle_ = nullptr;  // uv_idle_t, freed in its close callback
  PollTarget* target_ = nullptr;
  bool active_ = false;
  bool yield_ = false;
  bool despite_overlap_ = false;
  std::chrono::steady_clock::time_point deadline_;
};

class Gate;
class Completions;

class Job {
 public:
  virtual ~Job() = default;
  // Runner thread: touches TensorFlow and plain C++ data only.
  virtual void Execute() = 0;
  // JS thread, inside a callback scope: resolves or rejects the job's promise.
  virtual void Settle(Napi::Env env) = 0;
  // JS thread: settles the job without executing it: taken out of its gate's queue (CANCELLED),
  // or out of the runners' by its session's close (`disposed`: MODEL_DISPOSED).
  virtual void Abandon(Napi::Env env, bool disposed) {}
  // The gate the job must pass before it executes (nullptr: none).
  virtual Gate* gate() { return nullptr; }
  // JS thread, as Completions::Submit hands the job to the runners past its gate: the job counts
  // as begun from now (a session's close waits for it, rather than refuse it when a runner takes
  // it a moment later). Unadmit(): it turned out to wait for a runner after all (every one busy,
  // or left for a busy one): it is refused if the close comes first, as any run not started.
  // Unadmit() may race the runner taking the job: the job's own Execute() settles which won.
  virtual void Admit() {}
  virtual void Unadmit() {}
  // Admit() counted it as begun, and no Unadmit() or runner has taken that back (JS thread, or
  // under the pool's lock while it is queued).
  virtual bool Admitted() const { return false; }
  // Names the job to Gate::Cancel (0: not cancellable).
  uint64_t ticket = 0;

 private:
  friend class Completions;
  bool polled_ = false;
};

// A job and the environment it settles in.
struct Task {
  std::unique_ptr<Job> job;
  std::shared_ptr<Completions> completions;
  bool holds_slot = false;  // took a slot of its job's gate: gives it back when done
  bool short_plan = false;  // its plan last ran within the busy-poll limit (Completions::Submit)
  int64_t deferred_at = 0;  // when it was left for a busy runner (Pool::Deferrable); 0: it was not
};

// At most `limit` jobs of one session executing at once (the model's maxConcurrentRuns); the
// others wait here in call order, holding no thread. The runner that finishes a gated job
// starts the next waiting one itself: a queue of runs never waits for the event loop between
// two of them (which, with a busy loop, left TensorFlow idle between runs).
class Gate {
 public:
  // JS thread: the limit (0: none).
  void SetLimit(uint32_t limit);
  // JS thread, as the job is submitted: true when `task` may execute now (it took a slot);
  // otherwise it waits here.
  bool Enter(Task& task);
  // Runner, after a gated job executed: true with the next waiting task, which takes over the
  // slot; false when none waits (the slot is free).
  bool Leave(Task& next);
  // JS thread: takes the job with `ticket` out, abandons it (Job::Abandon) and tells its
  // environment it will not finish: a job waiting here, or one of this gate's session that no
  // slot holds (no limit) still queued for a runner thread; false when it started (or is unknown).
  bool Cancel(Napi::Env env, uint64_t ticket);
  // Any thread, when the session closes: lifts the limit and hands back every waiting task.
  std::vector<Task> Open();
  // Any thread: tasks waiting here now.
  int Waiting();
  // JS thread, for runSync() (which runs on it, never waits here): takes a slot when one is free
  // and no job waits for one (call order), setting `took`; true with no limit too (`took`
  // false). False: every slot is held, or jobs wait.
  bool EnterNow(bool& took);
  // JS thread: gives back the slot EnterNow() took: to the next job waiting (handed to a runner
  // with it), else free.
  void LeaveNow();
  // The limit (0: none).
  uint32_t limit();

  // The runner pool's count of this session's jobs, under the pool's lock (not this gate's):
  // executing on a runner (a chain of gated jobs counts once), and queued for one. The pool
  // hands a free runner to the session with the fewest executing (runner.cc, Pool::Pick).
  int pool_executing = 0;
  int pool_queued = 0;

 private:
  std::mutex mutex_;
  uint32_t limit_ = 0;
  uint32_t running_ = 0;
  std::deque<Task> waiting_;
};

// Hands a task back to the runners: a gate's, when its session closed (it executes without a
// slot), or the next one waiting at a gate, handed the slot of a job cancelled (`keep_slot`).
void Requeue(Task task, bool keep_slot = false);

// Jobs of `gate`'s session waiting for a runner thread now (every runner busy), not at the gate.
int QueuedForRunner(const Gate* gate);

// JS thread, as a session closes (its gates open): takes its jobs that have not begun out of the
// runners' queue (those of `gates`, but for the admitted ones: Job::Admit) and abandons them
// (MODEL_DISPOSED). Left there, one would wait for a busy runner (another model's long runs) to
// be refused.
void AbandonUnstarted(Napi::Env env, const std::vector<Gate*>& gates);

// Main thread, as the process exits (process.exit() too): no run or deletion starts any more,
// and this returns once those under way have ended. exit() then destroys TensorFlow's static
// objects, which a runner still inside TensorFlow would use (a segfault, exit code 139).
// Runs still executing after kExitWaitMillis (`runs_in_flight`: RunsInFlight in session.h, which
// counts the runSync()s of worker threads too) are cancelled (`cancel_all`: CancelAllRuns
// closes every session), which ends them once their executor sees it; those still executing
// kExitWaitMillis later (an op that never checks for cancellation) end the process here with
// `code` through _exit(), which destroys nothing.
constexpr int kExitWaitMillis = 2000;
void StopForExit(int code, int (*cancel_all)(), int (*runs_in_flight)());

// A thread that is not a runner, before it touches TensorFlow (a session's close): true when it
// may, and StopForExit then waits for its ReleaseExit(); false once the process is exiting.
bool HoldOffExit();
void ReleaseExit();

// Starts the runner threads and the free thread now (rather than at the first run), so that
// each takes a malloc arena of its own while glibc still has arenas to give: glibc allows 8
// per core, and once TensorFlow's thread pools have taken theirs, a new thread shares an
// existing arena, starting with the main arena that the JS thread allocates from. A runner on it contends with the JS thread for its lock at every
// allocation TensorFlow makes (measured under `tfslice serve`: 1–3 futex calls per request).
// Returns once each thread has taken its arena (waits at most 2 s). Called as the addon
// loads, before TensorFlow is.
void StartThreads();

// Each of the addon's threads calls this first: it takes its malloc arena (a thread's first
// allocation picks it) and counts whether that is glibc's main arena.
void NoteThreadArena();

// How many of the addon's threads (runners, free thread) allocate from glibc's main arena,
// the one the process's main thread uses (0 where glibc is not the allocator).
uint32_t ThreadsOnMainArena();

// Runs of short plans that waited for a busy runner instead of waking another (Pool::Deferrable),
// and those of them that got a runner of their own after all (the loop's poll for them ended).
uint64_t DeferredRuns();
uint64_t RescuedRuns();

// One environment's finished jobs, waiting for its JS thread (main or a worker_thread).
class Completions : public std::enable_shared_from_this<Completions>, private PollTarget {
 public:
  explicit Completions(Napi::Env env);
  ~Completions();
  Completions(const Completions&) = delete;
  Completions& operator=(const Completions&) = delete;

  // JS thread: hands `job` to a runner; the environment stays alive until it is settled.
  // `expected_micros`: how long its plan last ran (0: not known; no polling).
  void Submit(std::unique_ptr<Job> job, uint32_t expected_micros);
  // JS thread: executes `job` on a thread of its own, then settles it as any other: for a
  // job that may wait without bound (a session's close waits for its runs), which must hold
  // neither a runner nor libuv's pool (a worker_thread's ending waits for that pool's work
  // before its cleanup hooks run, and the hook is what cancels those runs).
  void SubmitOnOwnThread(std::unique_ptr<Job> job);
  // Runner thread: queues a finished job and wakes the JS thread.
  void Finish(std::unique_ptr<Job> job);
  // JS thread: a submitted job that will never settle (cancelled while it waited at a gate).
  void Dropped(Job& job);
  // JS thread: whether the job Submit() took last waits, and where: at its gate, or for a runner
  // thread (every runner busy, or left for a busy one: Pool::Deferrable), rather than starting now.
  enum class Queued { kNo = 0, kAtGate = 1, kForRunner = 2 };
  Queued LastQueued() const { return last_queued_; }
  // JS thread, at environment teardown (after sessions closed): later jobs are dropped.
  void Close();

 private:
  static void OnAsync(void* self);
  void Drain();
  void SafeDrain();
  bool Take() override;
  void Watch(bool on) override;

  napi_env env_;
  void* async_ = nullptr;  // uv_async_t
  std::unique_ptr<LoopPoller> poller_;
  int polled_ = 0;  // jobs in flight the loop polls for
  napi_async_context context_ = nullptr;
  napi_ref resource_ = nullptr;
  int in_flight_ = 0;  // JS thread only
  Queued last_queued_ = Queued::kNo;  // JS thread only (LastQueued)
  std::mutex mutex_;
  // Both made with room here, on the JS thread, and swapped by Drain(), so a runner's
  // push_back finds room and the JS thread never frees a buffer a runner allocated (a free into
  // the runner's glibc arena takes that arena's lock while TensorFlow allocates there).
  std::vector<std::unique_ptr<Job>> finished_;
  std::vector<std::unique_ptr<Job>> spare_;  // JS thread only: Drain()'s next batch
  std::atomic<bool> any_finished_{false};  // finished_ is not empty (the poll's look, lock-free)
  bool watched_ = false;  // under mutex_: the loop polls; Finish() need not wake it
  bool closed_ = false;
};

}  // namespace tfslice
