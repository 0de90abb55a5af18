// The direct path of isolation: 'process'. Runs whose tensors are all numeric cross a
// SOCK_SEQPACKET socket pair as one small binary message each way; the tensors stay in
// the shared segments (native/shm.h). In the host, native threads take a request, run
// it and answer, with no JS on the way; in the parent, a libuv poll handle hands each
// answer to the JS thread. Control (load, close) and runs with strings keep the JSON
// frames on fd 3 (lib/ipc.ts).
//
// Wire format, little-endian, no padding; byte counts, offsets and dims are float64
// (exact below 2^53, and what JS's DataView writes cheaply). lib/ipc.ts mirrors it.
//   request: u32 id, u32 plan, u32 slot, u32 flags, f64 used,
//            [flags & 32: u32 n, u32 slot*]             slots whose segments to forget
//            [flags & 128: u32 below, f64 sent ms]      sent ahead of its turn: starts once
//                                                       fewer than `below` runs read before it
//                                                       execute here, and after the runs sent
//                                                       ahead before it (lib/model.ts); its wait
//                                                       since `sent` (CLOCK_MONOTONIC) is taken
//                                                       off its timeout
//            [flags & 16: f64 until ms, f64 limit ms]   start only until then (its wait limit)
//            [flags & 64: f64 timeout ms]               TensorFlow's run timeout
//            [flags & 1: i32 pid, i32 fd, f64 bytes]              the slot's new segment
//            [flags & 4: u32 n, (u32 segment, i32 pid, i32 fd, f64 bytes)*]
//                                                       shared feed segments to map
//            [flags & 8: u32 n, u32 segment*]           shared feed segments to forget
//            [flags & 2: u32 nin, u32 nout, (u32 length, utf-8)*] the plan's tensor names
//            u32 nfeeds, (u32 segment, i32 dtype, u32 rank, f64 at, f64 bytes, f64 dims[rank])*
//            a feed's segment is 0 for the slot, else a shared feed segment (memory the
//            parent allocated for a tensor, Model.alloc); plan 0 runs nothing and is
//            answered with status 0 and no outputs.
//   reply:   u32 id, u32 status
//            status 0: u32 flags, u32 µs (the request's time in the host, when the plan's
//                      next run goes to the serving thread; else 0), [flags & 1: i32 pid,
//                      i32 fd, f64 bytes] (the host moved the slot to a bigger segment of its
//                      own), u32 nout, outputs as feeds
//            status 1: (u32 length, utf-8) code, (u32 length, utf-8) message
//            status 2: nothing ran; the plan has outputs this path cannot carry (strings)
#pragma once

#include <napi.h>

#include <cstddef>
#include <memory>

#include "runner.h"

namespace tfslice {

// Messages larger than this take the JSON path.
constexpr size_t kChannelMessageBytes = 64 * 1024;

// channelPair() -> [parentFd, childFd]: a SOCK_SEQPACKET pair, both close-on-exec (spawn
// dup2()s the child's end into place, which clears the flag there).
Napi::Value ChannelPair(const Napi::CallbackInfo& info);

// closeDescriptor(fd): closes an end channelPair() made (fs.closeSync warns in a worker about
// a descriptor fs did not open).
Napi::Value CloseDescriptor(const Napi::CallbackInfo& info);

// serveRuns(fd, session, threads, control?): starts the host's serving threads on `fd` for
// the session and returns. They end when the parent closes its end. `control`: the parent's
// control segment (shmOpen), one int32 word per slot: a run starts only if it turns its
// slot's word from queued to started before the parent turns it to cancelled (lib/ipc.ts
// takeRun); otherwise it is answered CANCELLED, not started.
Napi::Value ServeRuns(const Napi::CallbackInfo& info);

// The parent's end: new Channel(fd, inbox, outbox, onMessage). send(length, expected)
// sends the first `length` bytes of outbox without blocking: 1 sent, 0 the socket is full,
// -1 it is gone or refused the message; when it is the only request awaiting a reply and the last reply to such
// a request took `expected` microseconds or less, the event loop polls for the reply
// (native/runner.h, LoopPoller). Each message received is copied into inbox and
// onMessage(length) called on the JS thread. ref()/unref() as for any handle; close()
// stops and closes the fd.
class Channel : public Napi::ObjectWrap<Channel> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Channel(const Napi::CallbackInfo& info);
  ~Channel() override;

  void Drain();

 private:
  Napi::Value Send(const Napi::CallbackInfo& info);
  Napi::Value RefHandle(const Napi::CallbackInfo& info);
  Napi::Value UnrefHandle(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  void Stop();

  int fd_ = -1;
  void* poll_ = nullptr;  // uv_poll_t, freed in its close callback
  std::unique_ptr<LoopPoller> poller_;
  int awaiting_ = 0;  // requests sent and not answered
  Napi::Reference<Napi::ArrayBuffer> inbox_;
  Napi::Reference<Napi::ArrayBuffer> outbox_;
  Napi::FunctionReference on_message_;
};

}  // namespace tfslice
