// Module entry: the per-environment Addon and the functions lib/native.ts calls.
#include "addon.h"

#include <dlfcn.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include "channel.h"
#include "errors.h"
#include "promise_worker.h"
#include "runner.h"
#include "session.h"
#include "shm.h"
#include "tensor.h"
#include "tf_api.h"

namespace tfslice {

void ReleaseQueue::Push(napi_ref ref) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (closed_) return;  // the environment and its references are gone
  pending_.push_back(ref);
  if (!wake_scheduled_ && waker_) {
    wake_scheduled_ = true;
    waker_.NonBlockingCall([this](Napi::Env env, Napi::Function) { Drain(env); });
  }
}

void ReleaseQueue::Drain(napi_env env) {
  std::vector<napi_ref> refs;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    refs.swap(pending_);
    wake_scheduled_ = false;
  }
  for (napi_ref ref : refs) napi_delete_reference(env, ref);
}

void ReleaseQueue::Close(napi_env env) {
  Drain(env);
  std::lock_guard<std::mutex> lock(mutex_);
  closed_ = true;
  if (waker_) waker_.Release();
  waker_ = Napi::ThreadSafeFunction();
}

namespace {

Napi::Object LibraryInfo(Napi::Env env, const LoadResult& loaded) {
  Napi::Object info = Napi::Object::New(env);
  info.Set("path", loaded.path);
  info.Set("tensorflowVersion", loaded.version);
  info.Set("tensorAlignment", Napi::Number::New(env, static_cast<double>(tf().TF_TensorDefaultAlignment())));
  info.Set("oneDnn", loaded.one_dnn < 0 ? env.Null() : Napi::Boolean::New(env, loaded.one_dnn == 1));
  return info;
}

Failure LoadFailure(const LoadResult& result) {
  bool missing_symbol = result.error.rfind("missing symbol", 0) == 0;
  return {missing_symbol ? "LIBRARY_INCOMPATIBLE" : "LIBRARY_NOT_FOUND", result.error};
}

class LoadLibraryWorker : public PromiseWorker {
 public:
  LoadLibraryWorker(Napi::Env env, std::string path)
      : PromiseWorker(env, "tfslice:loadLibrary"), path_(std::move(path)) {}

 private:
  // dlopen runs TensorFlow's static initialisers (hundreds of ms): keep it off the loop.
  void Execute() override {
    result_ = LoadTensorFlow(path_);
    if (!result_.ok) failure_ = LoadFailure(result_);
  }
  Napi::Value Result(Napi::Env env) override { return LibraryInfo(env, result_); }

  std::string path_;
  LoadResult result_;
};

// A plug-in library of ops and kernels (tensorflow_text's, sentencepiece's, a custom op):
// TF_LoadLibrary dlopens it, and its static initialisers register them with TensorFlow.
class LoadOpLibraryWorker : public PromiseWorker {
 public:
  LoadOpLibraryWorker(Napi::Env env, std::string path)
      : PromiseWorker(env, "tfslice:loadOpLibrary"), path_(std::move(path)) {}

 private:
  void Execute() override {
    if (!LoadedTensorFlow().ok) {
      failure_ = {"LIBRARY_NOT_FOUND", "TensorFlow is not loaded"};
      return;
    }
    Status status;
    TF_Library* library = tf().TF_LoadLibrary(path_.c_str(), status.get());
    if (!status.ok() || library == nullptr) {
      failure_ = status.ok() ? Failure{"UNKNOWN", "TF_LoadLibrary returned nothing"} : status.failure();
      return;
    }
    // The library stays loaded for the life of the process (TensorFlow cannot unregister ops).
    TF_Buffer ops = tf().TF_GetOpList(library);
    op_list_.assign(static_cast<const char*>(ops.data), ops.length);
  }
  Napi::Value Result(Napi::Env env) override { return Napi::Buffer<char>::Copy(env, op_list_.data(), op_list_.size()); }

  std::string path_;
  std::string op_list_;
};

std::string PathArgument(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) {
    throw MakeTypeError(info.Env(), "path must be a string");
  }
  return info[0].As<Napi::String>().Utf8Value();
}

}  // namespace

namespace {

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
// The same numbers on every architecture (the syscall table's common part, Linux 5.1/5.3).
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

// Host processes of an environment that ends before it saw them exit (a worker_thread
// terminated): libuv reaps a child only from the loop that spawned it, and that loop is gone,
// so each would stay a zombie until this process exits. A pidfd names the very process (no pid
// reuse): it is killed (it has no owner left) and reaped on a thread of its own.
void ReapChildren(std::vector<int> pidfds) {
  if (pidfds.empty()) return;
  for (int fd : pidfds) syscall(SYS_pidfd_send_signal, fd, SIGKILL, nullptr, 0);
  std::thread([pidfds = std::move(pidfds)] {
    for (int fd : pidfds) {
      siginfo_t info{};
      while (waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(fd), &info, WEXITED) == -1 && errno == EINTR) {
      }
      close(fd);
    }
  }).detach();
}

// Children this thread started that no watchChild() registered, added to `pidfds`: a worker
// terminated while child_process.spawn() ran its JS after the fork (~15 ms with TensorFlow
// loaded) never got to that call, and its model host, killed by its parent-death signal as the
// thread ends, stayed a zombie (helper-84); a Python interpreter asked where TensorFlow is
// (lib/library.ts) outlived the thread's event loop, which alone would have reaped it
// (helper-85). Found among this thread's children (Linux 3.5+'s /proc/<pid>/task/<tid>/children)
// by the marker argument lib/ gives each such child (exported as `childMarker`). A fallback: lib/
// registers each child with watchChild() as soon as spawn() returns.
constexpr char kChildMarker[] = "--tfslice-child";
void AddUnwatchedChildren(std::vector<int>& pidfds) {
  std::ifstream children("/proc/self/task/" + std::to_string(syscall(SYS_gettid)) + "/children");
  const std::string marker = std::string(1, '\0') + kChildMarker + std::string(1, '\0');  // a whole argument
  long pid = 0;
  while (children >> pid) {
    // Empty while the child execs (a `python3` that is a shell script exec'ing the interpreter:
    // pyenv's shims, a venv's wrapper) and once it has exited: read again for a few ms.
    std::string args;
    for (int tries = 0; tries < 20 && args.empty(); ++tries) {
      if (tries > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      std::ifstream cmdline("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
      args.assign(std::istreambuf_iterator<char>(cmdline), std::istreambuf_iterator<char>());
    }
    if (args.find(marker) == std::string::npos) continue;
    int fd = static_cast<int>(syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0));
    if (fd >= 0) pidfds.push_back(fd);
  }
}

// Node unloads (dlclose) an addon that only worker_threads loaded once the last of them ends;
// the addon's threads (runners, the free thread, hosts' serving threads) outlive any one
// environment and would then run unmapped code (a segfault after Worker.terminate()). Marking
// the library RTLD_NODELETE keeps it mapped until the process ends.
void KeepLoaded() {
  static bool kept = [] {
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&KeepLoaded), &info) == 0 || info.dli_fname == nullptr) return false;
    return dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE) != nullptr;
  }();
  (void)kept;
}

}  // namespace

Addon::Addon(Napi::Env env, Napi::Object exports) : releases_(std::make_shared<ReleaseQueue>()), env_(env) {
  KeepLoaded();
  MarkJsThread();
  // Before TensorFlow is loaded and its thread pools take glibc's arenas (see runner.h).
  StartThreads();
  session_constructor_ = Napi::Persistent(Session::Define(env));
  completions_ = std::make_shared<Completions>(env);
  Napi::ThreadSafeFunction waker = Napi::ThreadSafeFunction::New(
      env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}), "tfslice:release", 0, 1);
  waker.Unref(env);  // releasing memory must never keep the process alive
  releases_->SetWaker(waker);
  DefineAddon(exports,
              {InstanceMethod<&Addon::LoadLibrary>("loadLibrary"),
               InstanceMethod<&Addon::LoadLibrarySync>("loadLibrarySync"),
               InstanceMethod<&Addon::Runtime>("runtime"),
               InstanceMethod<&Addon::LoadSession>("loadSession"),
               InstanceMethod<&Addon::LoadOpLibrary>("loadOpLibrary"),
               InstanceMethod<&Addon::AllocAligned>("allocAligned"),
               InstanceMethod<&Addon::Stats>("stats"),
               InstanceMethod<&Addon::AsyncNoop>("asyncNoop"),
               InstanceMethod<&Addon::CopyOffThread>("copyOffThread"),
               InstanceMethod<&Addon::LengthPrefixedOffThread>("lengthPrefixedOffThread"),
               InstanceMethod<&Addon::ReleaseBuffer>("releaseBuffer"),
               InstanceMethod<&Addon::TakenScratch>("takenScratch"),
               InstanceMethod<&Addon::BusyPoll>("busyPoll"),
               InstanceMethod<&Addon::KeptBufferIdle>("keptBufferIdle"),
               InstanceMethod<&Addon::WatchChild>("watchChild"),
               InstanceMethod<&Addon::UnwatchChild>("unwatchChild"),
               InstanceMethod<&Addon::StopForExit>("stopForExit"),
               InstanceValue("copyNow", Napi::Function::New<CopyNow>(env, "copyNow")),
               InstanceValue("lengthPrefixed", Napi::Function::New<LengthPrefixed>(env, "lengthPrefixed")),
               InstanceValue("shmCreate", Napi::Function::New<ShmCreate>(env, "shmCreate")),
               InstanceValue("shmOpen", Napi::Function::New<ShmOpen>(env, "shmOpen")),
               InstanceValue("shmRelease", Napi::Function::New<ShmRelease>(env, "shmRelease")),
               InstanceValue("shmView", Napi::Function::New<ShmView>(env, "shmView")),
               InstanceValue("channelPair", Napi::Function::New<ChannelPair>(env, "channelPair")),
               InstanceValue("closeDescriptor", Napi::Function::New<CloseDescriptor>(env, "closeDescriptor")),
               InstanceValue("serveRuns", Napi::Function::New<ServeRuns>(env, "serveRuns")),
               InstanceValue("Channel", Channel::Define(env)),
               InstanceValue("setParentDeathSignal", Napi::Function::New<SetParentDeathSignal>(env, "setParentDeathSignal")),
               InstanceValue("openFileLimit", Napi::Function::New<OpenFileLimit>(env, "openFileLimit")),
               InstanceValue("setDataLimit", Napi::Function::New<SetDataLimit>(env, "setDataLimit")),
               InstanceValue("childMarker", Napi::String::New(env, kChildMarker))});
  // Last, once nothing here can throw: a constructor that throws (every N-API call fails in a
  // worker_thread being terminated) frees this object without ~Addon(), and a hook registered
  // before would run on freed memory at the thread's end. After the waker, so that it runs
  // before the waker's own teardown (hooks run last registered first).
  napi_add_env_cleanup_hook(env, Teardown, this);
}

Addon::~Addon() { napi_remove_env_cleanup_hook(env_, Teardown, this); }

void Addon::Teardown(void* arg) {
  Addon* self = static_cast<Addon*>(arg);
  std::vector<std::weak_ptr<SessionCore>> sessions;
  {
    std::lock_guard<std::mutex> lock(self->sessions_mutex_);
    sessions.swap(self->sessions_);
  }
  // Runs in flight read JS memory that is about to be freed: TensorFlow is asked to stop them
  // (nobody awaits them now), and they are waited for; one that TensorFlow cannot stop (an op
  // that never checks for cancellation) holds the ending, said once on stderr.
  std::vector<std::shared_ptr<SessionCore>> cores;
  for (auto& weak : sessions) {
    if (auto core = weak.lock()) cores.push_back(std::move(core));
  }
  for (auto& core : cores) core->CancelRuns();
  bool warned = false;
  for (auto& core : cores) {
    if (!warned && !core->WaitForRuns(std::chrono::milliseconds(kExitWaitMillis))) {
      std::fprintf(stderr, "tfslice: this environment (a worker_thread, or the process) is ending with a run that TensorFlow did not stop within %d ms of being cancelled: waiting for it, since it may still read this environment's memory\n", kExitWaitMillis);
      std::fflush(stderr);
      warned = true;
    }
    core->Close();
  }
  self->js_reads_->CloseAndWait();
  self->completions_->Close();
  self->releases_->Close(self->env_);
  AddUnwatchedChildren(self->children_);  // a child watched already is killed and reaped twice: harmless
  ReapChildren(std::move(self->children_));
}

void Addon::Track(const std::shared_ptr<SessionCore>& core) {
  std::lock_guard<std::mutex> lock(sessions_mutex_);
  // Forget sessions that are gone so a long-lived process does not accumulate them.
  std::vector<std::weak_ptr<SessionCore>> live;
  for (auto& weak : sessions_) {
    if (!weak.expired()) live.push_back(weak);
  }
  live.push_back(core);
  sessions_.swap(live);
}

Napi::Value Addon::LoadLibrary(const Napi::CallbackInfo& info) {
  return (new LoadLibraryWorker(info.Env(), PathArgument(info)))->Start();
}

Napi::Value Addon::LoadLibrarySync(const Napi::CallbackInfo& info) {
  LoadResult result = LoadTensorFlow(PathArgument(info));
  if (!result.ok) throw MakeError(info.Env(), LoadFailure(result));
  return LibraryInfo(info.Env(), result);
}

Napi::Value Addon::Runtime(const Napi::CallbackInfo& info) {
  LoadResult loaded = LoadedTensorFlow();
  if (!loaded.ok) return info.Env().Null();
  return LibraryInfo(info.Env(), loaded);
}

Napi::Value Addon::LoadSession(const Napi::CallbackInfo& info) { return Session::Load(info); }

Napi::Value Addon::LoadOpLibrary(const Napi::CallbackInfo& info) {
  return (new LoadOpLibraryWorker(info.Env(), PathArgument(info)))->Start();
}

Napi::Value Addon::AsyncNoop(const Napi::CallbackInfo& info) { return tfslice::AsyncNoop(info); }
Napi::Value Addon::CopyOffThread(const Napi::CallbackInfo& info) { return tfslice::CopyOffThread(info); }
Napi::Value Addon::LengthPrefixedOffThread(const Napi::CallbackInfo& info) { return tfslice::LengthPrefixedOffThread(info); }

Napi::Value Addon::ReleaseBuffer(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsArrayBuffer()) {
    throw MakeTypeError(info.Env(), "releaseBuffer(arrayBuffer)");
  }
  ReleaseOutput(info.Env(), info[0].As<Napi::ArrayBuffer>());
  return info.Env().Undefined();
}

void Addon::MakeTakenScratch(Napi::Env env) {
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, kTakenScratchBytes);
  taken_scratch_ = Napi::Persistent(buffer);
  taken_scratch_data_ = static_cast<unsigned char*>(buffer.Data());
  taken_scratch_bytes_ = buffer.ByteLength();
}

Napi::Value Addon::TakenScratch(const Napi::CallbackInfo& info) {
  taken_scratch(info.Env());
  return taken_scratch_.Value();
}

Napi::Value Addon::StopForExit(const Napi::CallbackInfo& info) {
  tfslice::StopForExit(info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0, CancelAllRuns, RunsInFlight);
  return info.Env().Undefined();
}

namespace {

// A setting's getter and setter in one: sets it to info[0] when given (a whole number from 0 to
// `max`, else a TypeError saying `usage`), then returns it.
Napi::Value Setting(const Napi::CallbackInfo& info, double max, const char* usage, void (*set)(uint32_t), uint32_t (*get)()) {
  Napi::Env env = info.Env();
  if (info.Length() > 0 && !info[0].IsUndefined()) {
    double value = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
    if (!(value >= 0 && value <= max && value == static_cast<double>(static_cast<uint32_t>(value)))) throw MakeTypeError(env, usage);
    set(static_cast<uint32_t>(value));
  }
  return Napi::Number::New(env, get());
}

}  // namespace

Napi::Value Addon::BusyPoll(const Napi::CallbackInfo& info) {
  return Setting(info, 1e6, "busyPoll(micros) needs a whole number of microseconds from 0 to 1000000", SetBusyPollMicros, BusyPollMicros);
}

Napi::Value Addon::KeptBufferIdle(const Napi::CallbackInfo& info) {
  return Setting(info, 86400000, "keptBufferIdle(ms) needs a whole number of milliseconds from 0 to 86400000 (a day)", SetKeptBufferIdleMillis, KeptBufferIdleMillis);
}

Napi::Value Addon::WatchChild(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double pid = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 0;
  if (!(pid >= 1 && pid <= 4194304 && pid == static_cast<double>(static_cast<int>(pid)))) throw MakeTypeError(env, "watchChild(pid) needs a process id");
  // Linux 5.3+ (waitid on it: 5.4); without it the child is left as before.
  int fd = static_cast<int>(syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0));
  if (fd >= 0) children_.push_back(fd);
  return Napi::Number::New(env, fd);
}

Napi::Value Addon::UnwatchChild(const Napi::CallbackInfo& info) {
  int fd = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : -1;
  auto it = std::find(children_.begin(), children_.end(), fd);
  if (it != children_.end()) {
    children_.erase(it);
    close(fd);
  }
  return info.Env().Undefined();
}

Napi::Value Addon::AllocAligned(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double bytes = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
  if (!(bytes >= 0 && bytes <= 9007199254740991.0)) {
    throw MakeTypeError(env, "allocAligned(bytes) needs a non-negative byte count");
  }
  if (bytes > kMaxBufferBytes) throw MakeError(env, PastBufferLimit("a buffer", bytes));
  return NewAlignedArrayBuffer(env, static_cast<size_t>(bytes));
}

Napi::Value Addon::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorStats stats = CurrentTensorStats();
  Napi::Object out = Napi::Object::New(env);
  out.Set("borrowedFeeds", Napi::Number::New(env, static_cast<double>(stats.borrowed_feeds)));
  out.Set("copiedFeeds", Napi::Number::New(env, static_cast<double>(stats.copied_feeds)));
  out.Set("wrappedOutputs", Napi::Number::New(env, static_cast<double>(stats.wrapped_outputs)));
  out.Set("copiedOutputs", Napi::Number::New(env, static_cast<double>(stats.copied_outputs)));
  out.Set("preparedOutputs", Napi::Number::New(env, static_cast<double>(stats.prepared_outputs)));
  out.Set("threadCopies", Napi::Number::New(env, static_cast<double>(stats.thread_copies)));
  out.Set("threadLayouts", Napi::Number::New(env, static_cast<double>(stats.thread_layouts)));
  out.Set("pinnedNow", Napi::Number::New(env, static_cast<double>(stats.pinned_now)));
  out.Set("trims", Napi::Number::New(env, static_cast<double>(stats.trims)));
  out.Set("arenaChecks", Napi::Number::New(env, static_cast<double>(stats.arena_checks)));
  out.Set("releasedSinceCheck", Napi::Number::New(env, static_cast<double>(stats.released_since_check)));
  out.Set("pendingDeletes", Napi::Number::New(env, static_cast<double>(stats.pending_deletes)));
  out.Set("reusedBuffers", Napi::Number::New(env, static_cast<double>(stats.reused_buffers)));
  out.Set("keptBufferBytes", Napi::Number::New(env, static_cast<double>(stats.kept_buffer_bytes)));
  out.Set("liveSessions", Napi::Number::New(env, static_cast<double>(LiveSessions())));
  out.Set("threadsOnMainArena", Napi::Number::New(env, static_cast<double>(ThreadsOnMainArena())));
  out.Set("callerRuns", Napi::Number::New(env, static_cast<double>(CallerRuns())));
  out.Set("pooledRuns", Napi::Number::New(env, static_cast<double>(PooledRuns())));
  out.Set("deferredRuns", Napi::Number::New(env, static_cast<double>(DeferredRuns())));
  out.Set("rescuedRuns", Napi::Number::New(env, static_cast<double>(RescuedRuns())));
  return out;
}

}  // namespace tfslice

// The addon's name in its dynamic symbol table: lib/native.ts tells the copies of the addon a
// process has mapped from other .node files by this entry (a few KB of the file read), where
// it read each mapped .node file whole for a string.
extern "C" __attribute__((visibility("default"), used)) const char tfslice_addon_marker[] = "tfslice";

using tfslice::Addon;
NODE_API_ADDON(Addon)
