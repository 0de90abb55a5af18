#include "runner.h"

#include <pthread.h>
#include <unistd.h>

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <system_error>
#include <thread>
#include <utility>

#include "errors.h"
#include "tensor.h"
#include "uv_compat.h"

namespace tfslice {
namespace {

// Runs of one process executing at once: as many as libuv's pool would have had
// (UV_THREADPOOL_SIZE, default 4, read as libuv reads it: an unsigned atoi, 0 taken as 1,
// at most 1024), so a setting made for it keeps its meaning.
int RunnerThreads() {
  const char* size = std::getenv("UV_THREADPOOL_SIZE");
  unsigned n = size != nullptr ? static_cast<unsigned>(std::atoi(size)) : 4u;
  if (n == 0) n = 1;
  return static_cast<int>(std::min(n, 1024u));
}
// How long an idle runner waits awake for the next job: longer than a caller takes to
// settle a tiny run and start the next one, short against any real run.
constexpr auto kSpin = std::chrono::microseconds(50);
// Longer, up to this, where callers have lately come back later than kSpin but within it
// (Resubmitted): a caller whose event loop slept through a long run (no polling past the
// busy-poll limit) takes 60-150 us on a VM to wake, settle it and submit the next, and a runner
// that had stopped spinning is woken for that one in turn (mlp b32 back to back, inline: run()'s
// p50 over runSync()'s in one process, median of 5 processes: 1.075x with kSpin alone, 1.054x).
// A caller that comes back later still (a server between requests: 200-500 us at concurrency 1)
// gets kSpin: a runner spinning through a client's round trip takes a core from the client and
// the event loop.
constexpr auto kMaxSpin = std::chrono::microseconds(150);
// Finished jobs a settling batch holds without growing (Completions::finished_).
constexpr size_t kFinishedRoom = 64;
// After two jobs were in flight at once, nothing spins or polls for this long: the cores
// are wanted by the runs themselves (on 2 vCPUs, a spinning runner beside two runs and the
// JS thread cut 2-in-flight throughput below single flight).
constexpr auto kOverlapQuiet = std::chrono::milliseconds(2);

// The CPUs this process may run on (its affinity mask: a container's cpuset), else all online.
int UsableCores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// When a runner last finished a job with nothing left to run (NowNanos), and how long callers
// have lately taken from there to their next run (a moving average, us; 0: not yet).
std::atomic<int64_t> g_finished_at{0};
std::atomic<uint32_t> g_resubmit_micros{0};

// A caller submitted a run with none of its own in flight: how long after the last finish.
void Resubmitted() {
  int64_t finished = g_finished_at.load(std::memory_order_relaxed);
  if (finished == 0) return;
  int64_t micros = (NowNanos() - finished) / 1000;
  if (micros < 0 || micros > 10'000) return;  // an idle pause says nothing of the next
  uint32_t gap = static_cast<uint32_t>(std::min<int64_t>(micros, 1000));
  uint32_t old = g_resubmit_micros.load(std::memory_order_relaxed);
  g_resubmit_micros.store(old == 0 ? gap : (3 * old + gap) / 4, std::memory_order_relaxed);
}

// How long an idle runner spins now (kSpin, kMaxSpin).
std::chrono::microseconds SpinTime() {
  auto typical = std::chrono::microseconds(g_resubmit_micros.load(std::memory_order_relaxed));
  if (typical <= kSpin || typical > kMaxSpin) return kSpin;
  return std::min(kMaxSpin, typical + typical / 4 + std::chrono::microseconds(10));
}

std::atomic<uint32_t> g_busy_poll_micros{kDefaultBusyPollMicros};

// A plan whose last run took `expected_micros` is short: the loop polls for its runs, and they may
// wait for a busy runner (0: not known, never short).
bool ShortPlan(uint32_t expected_micros) {
  return expected_micros != 0 && expected_micros <= g_busy_poll_micros.load(std::memory_order_relaxed);
}
std::atomic<uint32_t> g_on_main_arena{0};
std::atomic<uint64_t> g_deferred_runs{0};
std::atomic<uint64_t> g_rescued_runs{0};

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Takes `m`, trying for a little while first: the runners' and the JS thread's critical sections
// last tens of nanoseconds, and a std::mutex that finds its owner inside one sleeps in the kernel
// (a futex wait, then a futex wake by the owner: microseconds each on a VM). At two tiny runs in
// flight with parallel runs allowed, futex waits were ~3.5 % of the JS thread's samples.
inline std::unique_lock<std::mutex> Lock(std::mutex& m) {
  for (int i = 0; i < 64; ++i) {
    if (m.try_lock()) return std::unique_lock<std::mutex>(m, std::adopt_lock);
    CpuRelax();
  }
  return std::unique_lock<std::mutex>(m);
}

class Pool {
  struct Sleeper;

 public:
  static Pool& Get() {
    // Never destroyed: runner threads may be blocked at exit.
    static Pool* pool = new Pool();
    return *pool;
  }

  enum class Taken { kByRunner, kWoke, kDeferred };

  // Queues the task: a spinning runner takes it, or it wakes a sleeping one (kWoke), or it waits
  // for a busy runner to take it when that one's job ends (kDeferred: see Deferrable). `waits`:
  // whether it is left for a busy runner, deferred or with no runner free or about to be free
  // to take it (the jobs queued ahead go first).
  Taken Submit(Task task, bool* waits = nullptr) {
    Sleeper* wake = nullptr;
    {
      auto lock = Lock(mutex_);
      bool defer = task.short_plan && Deferrable();
      if (defer) task.deferred_at = NowNanos();
      Counted(task, +1);
      queue_.push_back(std::move(task));
      queued_.fetch_add(1, std::memory_order_release);
      if (defer) {
        if (waits != nullptr) *waits = true;
        g_deferred_runs.fetch_add(1, std::memory_order_relaxed);
        if (deferred_since_.load(std::memory_order_relaxed) == 0) deferred_since_.store(queue_.back().deferred_at, std::memory_order_relaxed);
        return Taken::kDeferred;
      }
      if (busy_.load(std::memory_order_relaxed) > 0 || queue_.size() > 1) NoteOverlap();
      wake = PickSleeper();
      if (waits != nullptr) *waits = static_cast<int>(queue_.size()) > (spinning_.load(std::memory_order_acquire) ? 1 : 0) + waking_;
    }
    if (wake == nullptr) return Taken::kByRunner;
    wake->cv.notify_one();
    return Taken::kWoke;
  }

  // JS thread: takes the queued job of `gate` with `ticket` out of the queue, if no runner has
  // taken it (one that holds a slot of its gate: the caller hands the slot on).
  bool Cancel(const Gate* gate, uint64_t ticket, Task& found) {
    auto lock = Lock(mutex_);
    for (auto it = queue_.begin(); it != queue_.end(); ++it) {
      if (it->job->ticket != ticket || it->job->gate() != gate) continue;
      found = Remove(it);
      return true;
    }
    return false;
  }

  // TakeUnstarted (runner.h): the queued jobs of `gates` that were not admitted.
  std::vector<Task> TakeUnstarted(const std::vector<Gate*>& gates) {
    std::vector<Task> taken;
    auto lock = Lock(mutex_);
    for (size_t i = 0; i < queue_.size();) {
      auto it = queue_.begin() + static_cast<std::ptrdiff_t>(i);
      Gate* gate = it->job->gate();
      if (gate == nullptr || it->job->Admitted() || std::find(gates.begin(), gates.end(), gate) == gates.end()) {
        ++i;
        continue;
      }
      taken.push_back(Remove(it));  // the next one is at i now
    }
    return taken;
  }

  // Jobs of `gate`'s session queued for a busy runner now (any thread; reads under the lock):
  // those past the first few, which a spinning runner or one woken already takes in a moment.
  int QueuedFor(const Gate* gate) {
    auto lock = Lock(mutex_);
    int count = 0;
    int taken = (spinning_.load(std::memory_order_acquire) ? 1 : 0) + waking_;
    for (const Task& task : queue_) {
      if (taken > 0) --taken;
      else count += task.job->gate() == gate ? 1 : 0;
    }
    return count;
  }

  // A short job left queued (Deferrable) gets a runner of its own after all, when the loop
  // stops polling for it: the runs ahead of it took longer than their plans' last runs.
  void WakeForQueued() {
    if (Queued() == 0) return;
    std::vector<Sleeper*> wake;
    {
      auto lock = Lock(mutex_);
      deferred_since_.store(0, std::memory_order_relaxed);
      // A runner for each job left waiting, but for those a spinner or a runner woken already
      // (and not yet started) will take.
      while (Sleeper* sleeper = PickSleeper()) wake.push_back(sleeper);
      if (!wake.empty()) NoteOverlap();
      g_rescued_runs.fetch_add(wake.size(), std::memory_order_relaxed);
    }
    for (Sleeper* sleeper : wake) sleeper->cv.notify_one();
  }

  // The job next in line, left waiting for a busy runner (Deferrable), has waited for 4 busy-poll
  // limits, and at least 1 ms: the polling loop then hands it a runner (WakeForQueued) even while
  // new runs keep its poll going. (A shorter bound woke runners for queues of short runs that
  // were only long queues: 8 tiny runs in flight, 2-5 times as many wake-ups.)
  bool DeferredOverdue() const {
    int64_t since = deferred_since_.load(std::memory_order_relaxed);
    int64_t bound = std::max<int64_t>(4 * static_cast<int64_t>(g_busy_poll_micros.load(std::memory_order_relaxed)) * 1000, 1'000'000);
    return since != 0 && NowNanos() - since > bound;
  }

  // At process exit: no job starts any more; returns the number of jobs still executing once
  // they have ended or `wait` has passed.
  int Stop(std::chrono::milliseconds wait) {
    {
      auto lock = Lock(mutex_);
      stopping_.store(true, std::memory_order_release);
    }
    // Hold()'s count is read after the flag is set, and Hold() reads the flag after counting.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    auto deadline = std::chrono::steady_clock::now() + wait;
    while (Executing() > 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return Executing();
  }

  // A thread other than a runner, about to touch TensorFlow (a session's close): Stop() waits
  // for it too; false once stopping (it must leave TensorFlow alone: the process is exiting).
  // Counted apart from busy_, which the scheduling reads. Sequentially consistent against
  // Stop()'s flag and count.
  bool Hold() {
    holds_.fetch_add(1);
    if (!stopping_.load()) return true;
    holds_.fetch_sub(1);
    return false;
  }
  void Release() { holds_.fetch_sub(1); }

  // Jobs executing, and other threads inside TensorFlow (Hold).
  int Executing() const { return busy_.load(std::memory_order_relaxed) + holds_.load(std::memory_order_relaxed); }

  // Jobs submitted that no runner has taken yet.
  int Queued() const { return queued_.load(std::memory_order_acquire); }

  // Jobs overlapped (two in flight at once) within kOverlapQuiet.
  static bool Overlapping() { return NowNanos() < g_overlap_until.load(std::memory_order_relaxed); }
  static void NoteOverlap() {
    g_overlap_until.store(NowNanos() + std::chrono::duration_cast<std::chrono::nanoseconds>(kOverlapQuiet).count(), std::memory_order_relaxed);
  }

 private:
  static inline std::atomic<int64_t> g_overlap_until{0};

  Pool() {
    for (int i = 0, n = RunnerThreads(); i < n; ++i) {
      std::thread thread([this] {
        NoteThreadArena();
        Loop();
      });
      pthread_setname_np(thread.native_handle(), "tfslice-run");
      thread.detach();
    }
  }

  // Under mutex_: a spinning runner takes one job by itself. Otherwise the runner that went to
  // sleep last wakes: its arena holds the memory the last outputs freed, and its caches are
  // warm (a FIFO wake-up would rotate through all of them). Null when none is to be woken.
  Sleeper* PickSleeper() {
    if (sleepers_.empty() || static_cast<int>(queue_.size()) <= (spinning_.load(std::memory_order_acquire) ? 1 : 0) + waking_) return nullptr;
    Sleeper* wake = sleepers_.back();
    sleepers_.pop_back();
    wake->woken = true;
    ++waking_;
    return wake;
  }

  // Under mutex_: whether a short job (the loop polls for it) may wait for a busy runner instead
  // of waking another: when the runners executing now leave no core but the JS thread's, and
  // each executes (or is about to take) a short job that started within the busy-poll limit.
  // Short runs side by side with the JS thread on too few cores contend for them (on 2 vCPUs,
  // two tiny runs in flight with parallel runs allowed made 0.54-0.87x the calls of one); one
  // runner taking them in turn while the loop polls made 1.3-1.8x. A run that then takes long
  // is not waited for beyond the poll (WakeForQueued).
  bool Deferrable() {
    // Runners executing, and jobs queued that a runner is about to take (woken or spinning).
    int taken = busy_.load(std::memory_order_relaxed) + static_cast<int>(queue_.size());
    if (taken == 0 || taken < cores_ - 1) return false;
    for (const Task& ahead : queue_) {
      if (!ahead.short_plan) return false;
    }
    int64_t limit = static_cast<int64_t>(g_busy_poll_micros.load(std::memory_order_relaxed)) * 1000;
    int64_t now = NowNanos();
    for (const Sleeper* runner : runners_) {
      if (runner->since == 0) continue;
      if (!runner->short_job || now - runner->since > limit) return false;
    }
    return true;
  }

  // Under mutex_: takes the queued task at `it` out of the queue. When it was next in line, the
  // job waiting longest now is (a queue of deferred runs each waits only for the ones ahead of it).
  Task Remove(std::deque<Task>::iterator it) {
    bool front = it == queue_.begin();
    Counted(*it, -1);
    Task task = std::move(*it);
    queue_.erase(it);
    if (front) deferred_since_.store(queue_.empty() ? 0 : queue_.front().deferred_at, std::memory_order_relaxed);
    queued_.fetch_sub(1, std::memory_order_relaxed);
    return task;
  }

  // The session a task's job counts for (Gate::pool_executing, pool_queued); jobs of no session
  // (no gate) count together.
  Gate* GroupOf(const Task& task) {
    Gate* gate = task.job->gate();
    return gate != nullptr ? gate : &ungated_;
  }

  // Under mutex_: a task joins (+1) or leaves (-1) the queue.
  void Counted(const Task& task, int delta) {
    Gate* group = GroupOf(task);
    if (group->pool_queued == 0) ++queued_groups_;
    group->pool_queued += delta;
    if (group->pool_queued == 0) --queued_groups_;
  }

  // Under mutex_: which queued task a free runner takes. The first in line, unless another
  // session with a job queued has fewer jobs executing: then that session's first. So one
  // model's backlog (maxConcurrentRuns Infinity: every run goes to the runners at once) does
  // not keep another model's runs waiting until all of it has executed; a model's own runs keep
  // their call order, and no runner stays idle while a job is queued.
  std::deque<Task>::iterator Pick() {
    auto front = queue_.begin();
    if (queued_groups_ < 2) return front;
    int fewest = GroupOf(*front)->pool_executing;
    auto pick = front;
    for (auto it = std::next(front); fewest > 0 && it != queue_.end(); ++it) {
      int executing = GroupOf(*it)->pool_executing;
      if (executing < fewest) {
        fewest = executing;
        pick = it;
      }
    }
    return pick;
  }

  // Under mutex_: takes the next task (Pick) and counts its runner busy; false when none, or
  // when the process is exiting.
  bool Pop(Task& task, Sleeper& me) {
    if (stopping_ || queue_.empty()) return false;
    task = Remove(Pick());
    ++GroupOf(task)->pool_executing;
    busy_.fetch_add(1, std::memory_order_relaxed);
    Started(me, task);
    return true;
  }

  // Under mutex_: what `me` executes now (Deferrable reads it), or that it executes nothing.
  static void Started(Sleeper& me, const Task& task) {
    me.since = NowNanos();
    me.short_job = task.short_plan;
  }
  static void Ended(Sleeper& me) { me.since = 0; }

  // Makes this runner the one that spins, when spinning is allowed now and no other runner
  // spins; true if it did.
  bool ClaimSpin() {
    bool expected = false;
    // busyPollMicros 0: nothing spins, here or in the event loop.
    return g_busy_poll_micros.load(std::memory_order_relaxed) != 0 && busy_.load(std::memory_order_relaxed) == 0 && !Overlapping() &&
           spinning_.compare_exchange_strong(expected, true, std::memory_order_acq_rel);
  }

  // Waits awake for a job while nothing else runs (`claimed`: ClaimSpin() made this runner the
  // spinner already); false when none came.
  bool Spin(Task& task, Sleeper& me, bool claimed) {
    if (!claimed && !ClaimSpin()) return false;
    auto deadline = std::chrono::steady_clock::now() + SpinTime();
    bool got = false;
    while (!got && busy_.load(std::memory_order_relaxed) == 0 && std::chrono::steady_clock::now() < deadline) {
      for (int i = 0; i < 64 && queued_.load(std::memory_order_acquire) == 0; ++i) CpuRelax();
      if (queued_.load(std::memory_order_acquire) > 0) {
        auto lock = Lock(mutex_);
        got = Pop(task, me);
        // Under the lock: a Submit() that follows must see no spinner, and wake a sleeper.
        if (got) spinning_.store(false, std::memory_order_release);
      }
    }
    // A spinner that timed out rechecks the queue under the lock before it sleeps.
    if (!got) spinning_.store(false, std::memory_order_release);
    return got;
  }

  void Loop() {
    Sleeper me;
    {
      auto lock = Lock(mutex_);
      runners_.push_back(&me);
    }
    bool claimed = false;
    for (;;) {
      Task task;
      if (!Spin(task, me, claimed)) {
        auto lock = Lock(mutex_);
        while (!Pop(task, me)) {
          me.woken = false;
          sleepers_.push_back(&me);
          me.cv.wait(lock, [&me] { return me.woken; });
          --waking_;
        }
      }
      // A job that holds a slot of its gate hands it, and this runner, to the next job
      // waiting there when it is done. The runner counts busy from Pop() to the end of the
      // chain, so Stop() sees every job that may still touch TensorFlow; the last job's
      // Finish() comes after, so that the caller it wakes, submitting its next run, does not
      // find this runner busy (an overlap: no spinning, no polling).
      for (;;) {
        task.job->Execute();
        Task next;
        bool more = task.holds_slot && task.job->gate()->Leave(next);
        bool stop = more && stopping_.load(std::memory_order_acquire);
        {
          auto lock = Lock(mutex_);
          if (more && !stop) {
            Started(me, next);
          } else {
            Ended(me);
            // Before Finish(): the job may hold the last reference to its session and gate.
            --GroupOf(task)->pool_executing;
          }
        }
        if (!more || stop) busy_.fetch_sub(1, std::memory_order_relaxed);
        // The spinner for the caller's next run is chosen before the caller learns of this one:
        // a run submitted at once then finds this runner spinning instead of waking a sleeper.
        claimed = !more && ClaimSpin();
        if (!more) g_finished_at.store(NowNanos(), std::memory_order_relaxed);
        task.completions->Finish(std::move(task.job));
        if (!more) break;
        if (stop) {
          next.job.release();  // the process is exiting: left as it is, never run
          break;
        }
        task = std::move(next);
      }
    }
  }

  // A runner: asleep, waiting for Submit() to pick it, or what it executes (under mutex_).
  struct Sleeper {
    std::condition_variable cv;
    bool woken = false;
    int64_t since = 0;       // when its job started (NowNanos); 0: none
    bool short_job = false;  // that job's plan is short (Task::short_plan)
  };

  std::mutex mutex_;
  std::deque<Task> queue_;
  std::vector<Sleeper*> sleepers_;  // the last to fall asleep at the back
  std::vector<Sleeper*> runners_;   // every runner
  int waking_ = 0;                  // runners woken that have not taken a job yet
  Gate ungated_;                    // counts jobs of no session (Pick)
  int queued_groups_ = 0;           // sessions (and ungated_) with a job queued
  std::atomic<int64_t> deferred_since_{0};  // deferred_at of the job next in line (0: none)
  const int cores_ = UsableCores();
  std::atomic<int> queued_{0};
  std::atomic<int> busy_{0};
  std::atomic<int> holds_{0};  // Hold() .. Release()
  std::atomic<bool> spinning_{false};
  std::atomic<bool> stopping_{false};
};

uv_handle_t* Handle(void* async) { return static_cast<uv_handle_t*>(async); }

// Closes a handle that this file malloc'd; libuv frees it once the loop lets go of it.
void CloseAndFree(void* handle) {
  uv_close(Handle(handle), [](uv_handle_t* closed) { std::free(closed); });
}

}  // namespace

void Gate::SetLimit(uint32_t limit) {
  auto lock = Lock(mutex_);
  limit_ = limit;
}

bool Gate::Enter(Task& task) {
  auto lock = Lock(mutex_);
  // Behind others already waiting, a job waits too: call order is kept.
  if (limit_ == 0) return true;
  task.holds_slot = true;  // now, or from when Leave() hands it one
  if (running_ < limit_ && waiting_.empty()) {
    ++running_;
    return true;
  }
  waiting_.push_back(std::move(task));
  return false;
}

bool Gate::EnterNow(bool& took) {
  auto lock = Lock(mutex_);
  took = false;
  if (limit_ == 0) return true;
  if (running_ >= limit_ || !waiting_.empty()) return false;
  ++running_;
  took = true;
  return true;
}

void Gate::LeaveNow() {
  Task next;
  if (Leave(next)) Requeue(std::move(next), true);
}

uint32_t Gate::limit() {
  auto lock = Lock(mutex_);
  return limit_;
}

bool Gate::Leave(Task& next) {
  auto lock = Lock(mutex_);
  if (!waiting_.empty() && (limit_ == 0 || running_ <= limit_)) {
    next = std::move(waiting_.front());
    waiting_.pop_front();
    return true;
  }
  --running_;
  return false;
}

namespace {
// JS thread: a task taken out of a queue, settled without executing (Job::Abandon), and its
// environment told it will not finish.
void Abandoned(Napi::Env env, Task& task, bool disposed) {
  task.completions->Dropped(*task.job);
  task.job->Abandon(env, disposed);
}
}  // namespace

bool Gate::Cancel(Napi::Env env, uint64_t ticket) {
  Task found;
  {
    auto lock = Lock(mutex_);
    for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
      if (it->job->ticket == ticket) {
        found = std::move(*it);
        waiting_.erase(it);
        break;
      }
    }
  }
  // Not waiting here: a job of this session may still wait for a runner thread, having taken
  // a slot here (its slot goes to the next job waiting, as when a job ends) or with no limit.
  if (!found.job) {
    if (!Pool::Get().Cancel(this, ticket, found)) return false;
    Task next;
    if (found.holds_slot && Leave(next)) Requeue(std::move(next), true);
  }
  Abandoned(env, found, false);
  return true;
}

std::vector<Task> Gate::Open() {
  auto lock = Lock(mutex_);
  limit_ = 0;
  std::vector<Task> tasks;
  for (Task& task : waiting_) {
    task.holds_slot = false;  // executes without one
    tasks.push_back(std::move(task));
  }
  waiting_.clear();
  return tasks;
}

int Gate::Waiting() {
  auto lock = Lock(mutex_);
  return static_cast<int>(waiting_.size());
}

void AbandonUnstarted(Napi::Env env, const std::vector<Gate*>& gates) {
  for (Task& task : Pool::Get().TakeUnstarted(gates)) {
    // A slot it held goes back (its gate is open: no job waits there for it).
    Task next;
    if (task.holds_slot && task.job->gate()->Leave(next)) Requeue(std::move(next), true);
    Abandoned(env, task, true);
  }
}

void Requeue(Task task, bool keep_slot) {
  // Nobody polls for these (they waited at a gate that opened, or for a slot a cancelled job
  // gave up): none may wait for a busy runner, whose run could turn out long with no poll's end
  // to hand them a runner of their own.
  task.short_plan = false;
  if (!keep_slot) task.holds_slot = false;
  (void)Pool::Get().Submit(std::move(task));
}

namespace {
// The addon's threads that have taken their arena (NoteThreadArena).
std::mutex g_arenas_mutex;
std::condition_variable g_arenas_cv;
int g_arenas_taken = 0;
}  // namespace

void StartThreads() {
  Pool::Get();
  StartReaper();
  // Returns once every thread has taken its arena: before TensorFlow's threads can take one,
  // and with ThreadsOnMainArena() complete. Bounded, so that a machine slow to start threads
  // never holds the addon's load.
  std::unique_lock<std::mutex> lock(g_arenas_mutex);
  g_arenas_cv.wait_for(lock, std::chrono::seconds(2), [] { return g_arenas_taken >= RunnerThreads() + 1; });
}

void NoteThreadArena() {
#ifdef __GLIBC__
  // A thread's first allocation picks its arena, and comes from it (its tcache is still
  // empty). glibc marks a chunk of any arena but the main one in its size word
  // (NON_MAIN_ARENA, 0x4), stable since glibc 2.3.
  void* probe = std::malloc(64);
  if (probe == nullptr) return;
  const char* chunk = static_cast<const char*>(probe);
  asm volatile("" : "+r"(chunk));  // the header before the block is glibc's, not out of bounds
  size_t size_word;
  std::memcpy(&size_word, chunk - sizeof(size_t), sizeof(size_t));
  std::free(probe);
  if ((size_word & 0x4) == 0) g_on_main_arena.fetch_add(1, std::memory_order_relaxed);
#endif
  {
    std::lock_guard<std::mutex> lock(g_arenas_mutex);
    ++g_arenas_taken;
  }
  g_arenas_cv.notify_all();
}

uint32_t ThreadsOnMainArena() { return g_on_main_arena.load(std::memory_order_relaxed); }
uint64_t DeferredRuns() { return g_deferred_runs.load(std::memory_order_relaxed); }
uint64_t RescuedRuns() { return g_rescued_runs.load(std::memory_order_relaxed); }

int QueuedForRunner(const Gate* gate) { return Pool::Get().QueuedFor(gate); }

bool HoldOffExit() { return Pool::Get().Hold(); }
void ReleaseExit() { Pool::Get().Release(); }

void Completions::SubmitOnOwnThread(std::unique_ptr<Job> job) {
  Job* raw = job.release();
  try {
    // Not NoteThreadArena(): that counts the addon's long-lived threads (a short one like this
    // may well share glibc's main arena).
    std::thread([self = shared_from_this(), raw] {
      std::unique_ptr<Job> owned(raw);
      owned->Execute();
      self->Finish(std::move(owned));
    }).detach();
    if (in_flight_++ == 0) uv_ref(Handle(async_));
  } catch (const std::system_error&) {
    // No thread to be had (a process or container limit): a runner executes it, which it may
    // hold for as long as the job waits.
    Submit(std::unique_ptr<Job>(raw), 0);
  }
}

namespace {

// Waits up to `wait` until nothing executes: neither runners' jobs nor runs on other threads.
int WaitExecuting(std::chrono::milliseconds wait, int (*runs_in_flight)()) {
  auto deadline = std::chrono::steady_clock::now() + wait;
  int executing = Pool::Get().Stop(wait);
  // runSync()s of worker threads execute on those threads, not on runners.
  while (runs_in_flight() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return std::max(executing, runs_in_flight());
}

}  // namespace

void StopForExit(int code, int (*cancel_all)(), int (*runs_in_flight)()) {
  int executing = WaitExecuting(std::chrono::milliseconds(kExitWaitMillis), runs_in_flight);
  if (executing > 0) {
    // Nobody awaits them any more: TensorFlow is told to stop them, as a worker's ending does.
    cancel_all();
    int left = WaitExecuting(std::chrono::milliseconds(kExitWaitMillis), runs_in_flight);
    if (left > 0) {
      std::fprintf(stderr, "tfslice: exiting with %d run%s still inside TensorFlow %d ms after it was told to stop them (an op that does not check for cancellation): ending the process without its exit handlers\n",
                   left, left == 1 ? "" : "s", kExitWaitMillis);
      std::fflush(stderr);
      _exit(code);
    }
    std::fprintf(stderr, "tfslice: exiting with %d run%s still inside TensorFlow after %d ms: cancelled\n", executing, executing == 1 ? "" : "s", kExitWaitMillis);
    std::fflush(stderr);
  }
  StopReaperForExit();
}

void Completions::Dropped(Job& job) {
  if (job.polled_ && --polled_ == 0) poller_->Done();
  if (--in_flight_ == 0) uv_unref(Handle(async_));
}

Completions::Completions(Napi::Env env) : env_(env) {
  finished_.reserve(kFinishedRoom);
  spare_.reserve(kFinishedRoom);
  poller_ = std::make_unique<LoopPoller>(env, static_cast<PollTarget*>(this));
  Napi::Object resource = Napi::Object::New(env);
  NAPI_THROW_IF_FAILED_VOID(env, napi_create_reference(env, resource, 1, &resource_));
  NAPI_THROW_IF_FAILED_VOID(env, napi_async_init(env, resource, Napi::String::New(env, "tfslice:run"), &context_));
  // The async handle last: nothing after it can throw and leave it open.
  uv_loop_t* loop = nullptr;
  NAPI_THROW_IF_FAILED_VOID(env, napi_get_uv_event_loop(env, reinterpret_cast<struct uv_loop_s**>(&loop)));
  auto* async = static_cast<uv_async_t*>(std::malloc(uv_handle_size(UV_ASYNC)));
  if (async == nullptr ||
      uv_async_init(loop, async, [](uv_async_t* handle) { OnAsync(uv_handle_get_data(reinterpret_cast<uv_handle_t*>(handle))); }) != 0) {
    std::free(async);
    throw MakeError(env, "INTERNAL", "libuv could not create the handle that settles runs");
  }
  uv_handle_set_data(Handle(async), this);
  uv_unref(Handle(async));  // only runs in flight keep the loop alive
  async_ = async;
}

Completions::~Completions() {
  // Close() never ran: the addon's constructor failed after this was made (a worker_thread
  // terminated while it loaded the addon makes N-API calls fail), so no cleanup hook was
  // registered and no run was ever submitted; this is the JS thread. The handle must still leave
  // the loop, or the loop's close at the thread's end aborts the process ("uv_loop_close() while
  // having open handles"). Otherwise Close() has left nothing to close.
  if (async_ != nullptr) CloseAndFree(async_);
}

void Completions::Submit(std::unique_ptr<Job> job, uint32_t expected_micros) {
  if (in_flight_++ == 0) {
    uv_ref(Handle(async_));
    Resubmitted();
  }
  // Not just after runs executed side by side (Pool::Submit notes it): runner threads need the
  // cores then. Runs in flight that wait at their gate for the one executing need no other core.
  if (!Pool::Overlapping() && poller_->Begin(expected_micros)) {
    job->polled_ = true;
    ++polled_;
  }
  Job* raw = job.get();  // valid until this thread settles it (Drain)
  Task task{std::move(job), shared_from_this()};
  task.short_plan = ShortPlan(expected_micros);
  Gate* gate = task.job->gate();
  last_queued_ = Queued::kAtGate;
  if (gate != nullptr && !gate->Enter(task)) return;  // waits at its gate: a runner that finishes starts it
  bool polled = polled_ > 0;
  bool waits = false;
  // Begun before a runner can take it: run() then dispose() in one tick on an idle model ran the
  // run about a third of the time (whether the runner woke before the close); now always.
  raw->Admit();
  Pool::Taken taken = Pool::Get().Submit(std::move(task), &waits);
  if (waits) raw->Unadmit();
  last_queued_ = waits ? Queued::kForRunner : Queued::kNo;
  // Left for the busy runner: no run executes beside it, so the loop may poll, whatever ran side
  // by side before (the poll's end hands the job a runner of its own if it still waits).
  if (taken == Pool::Taken::kDeferred && !raw->polled_ && poller_->Begin(expected_micros, true)) {
    raw->polled_ = true;
    ++polled_;
  }
  bool woke = taken == Pool::Taken::kWoke;
  // A runner woken from sleep is often queued on this thread's own CPU (the kernel puts a
  // wakee beside its waker), where the polling loop would keep it waiting: until a runner has
  // taken the job, the poll yields the CPU on each pass. A spinning runner needs no such room.
  // run() after 1 ms idle, tiny: p50 136-202 -> 107-136 us; back to back unchanged (24-25 us).
  if (polled && woke) poller_->YieldWhilePolling();
}

void Completions::Finish(std::unique_ptr<Job> job) {
  auto lock = Lock(mutex_);
  if (closed_) return;  // the environment is gone: nobody awaits; the job is freed here
  finished_.push_back(std::move(job));
  if (finished_.size() > 1) return;
  any_finished_.store(true, std::memory_order_release);
  // A polling loop takes it on its next pass (Take); a sleeping one must be woken.
  if (!watched_) uv_async_send(static_cast<uv_async_t*>(async_));
}

bool Completions::Take() {
  if (!any_finished_.load(std::memory_order_acquire)) return false;
  SafeDrain();
  return true;
}

void Completions::SafeDrain() {
  try {
    Drain();
  } catch (const Napi::Error&) {
    // JS can no longer run (a worker_thread being terminated, its loop still turning): nobody
    // awaits these jobs. An exception must not leave a libuv callback.
  }
}

void Completions::Watch(bool on) {
  auto lock = Lock(mutex_);
  watched_ = on;
  // Finished while watched, not yet taken: the loop's wake-up that Finish() left out.
  if (!on && !finished_.empty() && !closed_) uv_async_send(static_cast<uv_async_t*>(async_));
}

void Completions::OnAsync(void* self) { static_cast<Completions*>(self)->SafeDrain(); }

LoopPoller::LoopPoller(Napi::Env env, PollTarget* target) : target_(target) {
  uv_loop_t* loop = nullptr;
  NAPI_THROW_IF_FAILED_VOID(env, napi_get_uv_event_loop(env, reinterpret_cast<struct uv_loop_s**>(&loop)));
  auto* idle = static_cast<uv_idle_t*>(std::malloc(uv_handle_size(UV_IDLE)));
  if (idle == nullptr || uv_idle_init(loop, idle) != 0) {
    std::free(idle);
    throw MakeError(env, "INTERNAL", "libuv could not create the handle that polls the event loop");
  }
  uv_handle_set_data(Handle(idle), this);
  uv_unref(Handle(idle));  // polling never keeps the process alive by itself
  idle_ = idle;
}

LoopPoller::~LoopPoller() {
  Done();
  CloseAndFree(idle_);
}

bool LoopPoller::Begin(uint32_t expected_micros, bool despite_overlap) {
  yield_ = false;
  if (!ShortPlan(expected_micros)) return false;
  deadline_ = std::chrono::steady_clock::now() + std::chrono::microseconds(g_busy_poll_micros.load(std::memory_order_relaxed));
  despite_overlap_ = despite_overlap;
  if (!active_) {
    active_ = true;
    uv_idle_start(static_cast<uv_idle_t*>(idle_), [](uv_idle_t* handle) {
      static_cast<LoopPoller*>(uv_handle_get_data(reinterpret_cast<uv_handle_t*>(handle)))->Tick();
    });
  }
  return true;
}

// How long one pass of a polling loop watches for a finished run before it lets the loop turn.
constexpr auto kTickSpin = std::chrono::microseconds(20);

void LoopPoller::Tick() {
  // Awaited longer than it took last time (wait asleep after all), or runs now execute side by
  // side (the cores are theirs).
  auto now = std::chrono::steady_clock::now();
  if (now > deadline_ || (!despite_overlap_ && Pool::Overlapping())) {
    Done();
    return;
  }
  // A run left for a busy runner that has waited too long (DeferredOverdue) gets one of its own,
  // though runs submitted since keep this poll going.
  if (Pool::Get().DeferredOverdue()) Pool::Get().WakeForQueued();
  if (target_ == nullptr) return;
  // Watched for this pass only: what arrives while the loop is elsewhere wakes it as usual. A
  // pass comes once per turn of the loop, and a turn can take seconds: a flood of requests keeps
  // thousands of sockets readable, and libuv's poll phase reads on while its batch of 1024 events
  // comes back full. Watched from one pass to the next, runs that had ended waited that long
  // (a batch queue full for seconds while TensorFlow was idle: helper-64).
  target_->Watch(true);
  // What arrived is taken here, without the loop's wake-up.
  bool took = target_->Take();
  // Room for a woken runner queued on this CPU (Completions::Submit), until it has taken the job.
  if (!took && yield_ && Pool::Get().Queued() > 0) {
    target_->Watch(false);
    sched_yield();
    return;
  }
  // Each pass of the loop costs an epoll_pwait (a system call: about a microsecond on a VM) and
  // Node's phases (check, timers): ~20 % of the JS thread at two runs in flight when each pass
  // took one run. So a pass watches the flag for kTickSpin in all, taking what finishes meanwhile
  // (the runs that the last one's callbacks submitted), while the poll goes on (Take() may end
  // it, or a run it submits make it yield to a woken runner); other events wait at most that
  // long for the next pass.
  auto until = std::min(deadline_, now + kTickSpin);
  while (active_ && !(yield_ && Pool::Get().Queued() > 0) && std::chrono::steady_clock::now() < until) {
    for (int i = 0; i < 32; ++i) CpuRelax();
    target_->Take();
  }
  target_->Watch(false);
}

void LoopPoller::Done() {
  if (!active_) return;
  active_ = false;
  uv_idle_stop(static_cast<uv_idle_t*>(idle_));
  if (target_ != nullptr) target_->Watch(false);
  Pool::Get().WakeForQueued();
}

void SetBusyPollMicros(uint32_t micros) { g_busy_poll_micros.store(micros, std::memory_order_relaxed); }
uint32_t BusyPollMicros() { return g_busy_poll_micros.load(std::memory_order_relaxed); }

void Completions::Drain() {
  // The spare's room goes to finished_ (a Drain() that Settle() re-enters finds none, and
  // works as well without it).
  std::vector<std::unique_ptr<Job>> jobs;
  jobs.swap(spare_);
  {
    auto lock = Lock(mutex_);
    jobs.swap(finished_);
    any_finished_.store(false, std::memory_order_relaxed);
  }
  if (jobs.empty()) {
    if (spare_.capacity() == 0) spare_.swap(jobs);
    return;
  }
  Napi::Env env(env_);
  Napi::HandleScope handles(env);
  napi_value resource = nullptr;
  napi_get_reference_value(env_, resource_, &resource);
  // Promise reactions run when the scope closes, once for the whole batch.
  napi_callback_scope scope = nullptr;
  napi_open_callback_scope(env_, resource, context_, &scope);
  for (auto& job : jobs) {
    Napi::HandleScope per_job(env);
    if (job->polled_) --polled_;
    try {
      job->Settle(env);
    } catch (const Napi::Error&) {
      // Only when JS can no longer run (a worker_thread being terminated): nobody awaits.
    }
    job.reset();
  }
  if (polled_ == 0) poller_->Done();
  in_flight_ -= static_cast<int>(jobs.size());
  if (in_flight_ == 0) uv_unref(Handle(async_));
  jobs.clear();
  if (spare_.capacity() == 0) spare_.swap(jobs);
  if (scope != nullptr) napi_close_callback_scope(env_, scope);
}

void Completions::Close() {
  {
    auto lock = Lock(mutex_);
    closed_ = true;
    finished_.clear();
  }
  if (context_ != nullptr) napi_async_destroy(env_, context_);
  if (resource_ != nullptr) napi_delete_reference(env_, resource_);
  context_ = nullptr;
  resource_ = nullptr;
  poller_.reset();
  if (async_ != nullptr) CloseAndFree(async_);
  async_ = nullptr;
}

}  // namespace tfslice
