// Per-environment state of the addon (main thread and each worker_thread has its own).
#pragma once

#include <napi.h>

#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "runner.h"

namespace tfslice {

class SessionCore;
class Completions;

// References to JS memory that TensorFlow borrowed (zero-copy feeds). TensorFlow
// may let go of a buffer on any thread; the reference is only ever deleted here,
// on the JS thread of the environment that created it.
class ReleaseQueue {
 public:
  // Any thread. Returns false when the environment is gone (the reference is moot).
  void Push(napi_ref ref);
  // JS thread: deletes every queued reference.
  void Drain(napi_env env);
  // JS thread, at environment teardown: later pushes are dropped.
  void Close(napi_env env);
  // Wakes the JS thread to drain when a push came from elsewhere.
  void SetWaker(Napi::ThreadSafeFunction waker) { waker_ = waker; }

 private:
  std::mutex mutex_;
  std::vector<napi_ref> pending_;
  bool closed_ = false;
  bool wake_scheduled_ = false;
  Napi::ThreadSafeFunction waker_;
};

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports);
  ~Addon();

  static Addon& Of(Napi::Env env) { return *env.GetInstanceData<Addon>(); }

  const std::shared_ptr<ReleaseQueue>& releases() const { return releases_; }
  Napi::FunctionReference& session_constructor() { return session_constructor_; }
  // Where this environment's asynchronous runs are settled (native/runner.h).
  const std::shared_ptr<Completions>& completions() const { return completions_; }
  // Runner-thread work that reads this environment's JS memory outside any session
  // (copyOffThread): its teardown waits for what has begun and keeps the rest from beginning.
  const std::shared_ptr<InFlight>& js_reads() const { return js_reads_; }

  // runSync()'s small outputs, written here for JS to copy (TakeOutputsInto in tensor.h): the
  // ArrayBuffer takenScratch() returns, made on first use (JS thread).
  // A scratch that JS code got hold of and detached (transferred) is replaced: its memory may be
  // gone (found by helper-47's trial, through monkeypatched built-ins).
  unsigned char* taken_scratch(Napi::Env env) {
    if (taken_scratch_data_ == nullptr || taken_scratch_.Value().IsDetached()) MakeTakenScratch(env);
    return taken_scratch_data_;
  }
  size_t taken_scratch_bytes() const { return taken_scratch_bytes_; }

  // Sessions created in this environment, closed (waiting for in-flight runs)
  // when the environment is torn down, e.g. when a worker_thread exits.
  void Track(const std::shared_ptr<SessionCore>& core);

 private:
  Napi::Value LoadLibrary(const Napi::CallbackInfo& info);
  Napi::Value LoadLibrarySync(const Napi::CallbackInfo& info);
  Napi::Value Runtime(const Napi::CallbackInfo& info);
  Napi::Value LoadSession(const Napi::CallbackInfo& info);
  // loadOpLibrary(path) -> Promise<OpList bytes>: TF_LoadLibrary of a plug-in op library.
  Napi::Value LoadOpLibrary(const Napi::CallbackInfo& info);
  Napi::Value AllocAligned(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value AsyncNoop(const Napi::CallbackInfo& info);
  Napi::Value CopyOffThread(const Napi::CallbackInfo& info);
  Napi::Value LengthPrefixedOffThread(const Napi::CallbackInfo& info);
  Napi::Value ReleaseBuffer(const Napi::CallbackInfo& info);
  Napi::Value TakenScratch(const Napi::CallbackInfo& info);
  void MakeTakenScratch(Napi::Env env);
  Napi::Value BusyPoll(const Napi::CallbackInfo& info);
  Napi::Value KeptBufferIdle(const Napi::CallbackInfo& info);
  // watchChild(pid) -> pidfd or -1: the host process `pid` this environment spawned, killed and
  // reaped at teardown unless unwatchChild(pidfd) came first (its exit was seen).
  Napi::Value WatchChild(const Napi::CallbackInfo& info);
  Napi::Value UnwatchChild(const Napi::CallbackInfo& info);
  // Main thread, from process.on('exit'): see StopForExit in runner.h.
  Napi::Value StopForExit(const Napi::CallbackInfo& info);
  static void Teardown(void* self);

  std::shared_ptr<ReleaseQueue> releases_;
  std::shared_ptr<Completions> completions_;
  std::shared_ptr<InFlight> js_reads_ = std::make_shared<InFlight>();
  Napi::FunctionReference session_constructor_;
  Napi::Reference<Napi::ArrayBuffer> taken_scratch_;
  unsigned char* taken_scratch_data_ = nullptr;
  size_t taken_scratch_bytes_ = 0;
  std::mutex sessions_mutex_;
  std::vector<std::weak_ptr<SessionCore>> sessions_;
  // pidfds of host processes whose exit this environment has not seen (JS thread only).
  std::vector<int> children_;
  napi_env env_;
};

}  // namespace tfslice
