// The one way tfslice runs work off the JS thread and settles a promise with it.
#pragma once

#include <napi.h>

#include "addon.h"
#include "errors.h"

namespace tfslice {

// Lifecycle of every asynchronous entry point: the constructor and Queue() run on
// the JS thread; Execute() runs on the libuv pool, touches only TensorFlow and
// plain C++ data, and records a Failure instead of throwing; Result() runs back on
// the JS thread and turns the baton into JS values.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  PromiseWorker(Napi::Env env, const char* name)
      : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise Start() {
    Napi::Promise promise = deferred_.Promise();
    Queue();
    return promise;
  }

 protected:
  virtual Napi::Value Result(Napi::Env env) = 0;
  Failure failure_;

 private:
  void OnOK() final {
    try {
      Settle(Env());
    } catch (const Napi::Error&) {
      // Only when JS can no longer run (a worker_thread being terminated): nobody awaits.
    }
  }
  // Execute() never calls SetError (it records failure_), so this is not reached;
  // settling here too keeps the promise from hanging if that ever changes.
  void OnError(const Napi::Error& error) final { OnOK(); }

  void Settle(Napi::Env env) {
    // Feeds deleted in Execute() may have queued JS references to release.
    Addon::Of(env).releases()->Drain(env);
    if (failure_) {
      deferred_.Reject(MakeError(env, failure_).Value());
      return;
    }
    try {
      deferred_.Resolve(Result(env));
    } catch (const Napi::Error& error) {
      deferred_.Reject(error.Value());
    }
  }

  Napi::Promise::Deferred deferred_;
};

}  // namespace tfslice
