// Shared memory between a model's host process and its parent (isolation: 'process').
//
// A segment is an anonymous memfd mapped MAP_SHARED and handed to JS as an external
// ArrayBuffer. The creator keeps the descriptor open while the segment lives; the peer
// maps the same memory through /proc/<creator pid>/fd/<fd> and closes its descriptor at
// once. Nothing has a name in the file system, so a crash on either side leaks nothing:
// the kernel frees the memory when the last mapping goes. Segments are sealed against
// shrinking and growing (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL): a peer cannot
// truncate one under the other's mapping (SIGBUS), and OpenSegment maps nothing else.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "errors.h"

namespace tfslice {

// The most bytes one buffer handed to JS may hold: Node 20's limit on an ArrayBuffer
// (buffer.constants.MAX_LENGTH, 4 GiB; later Nodes allow more). Past it Node fails to create
// an external buffer, and node-addon-api then frees its finalizer data twice (an abort).
constexpr double kMaxBufferBytes = 4294967296.0;
// RESOURCE_EXHAUSTED for `what` of `bytes` past kMaxBufferBytes ("a buffer", "an output").
Failure PastBufferLimit(const std::string& what, double bytes);

// A mapped segment: `fd` is the creator's descriptor (kept open while the segment lives,
// so the peer can open it), -1 for a peer's mapping.
struct Segment {
  uint8_t* address = nullptr;
  size_t bytes = 0;
  int fd = -1;

  // Unmaps and closes (idempotent).
  void Release();
};

// Any thread; a Failure (RESOURCE_EXHAUSTED, UNAVAILABLE, PERMISSION_DENIED, INTERNAL)
// instead of throwing.
// A new sealed memfd segment of `bytes`, mapped.
Failure CreateSegment(size_t bytes, Segment* out);
// Maps another process's segment through /proc/<pid>/fd/<fd> (at least `bytes` long);
// PERMISSION_DENIED unless it is a memfd sealed as CreateSegment seals it.
Failure OpenSegment(int pid, int fd, size_t bytes, Segment* out);

// JS thread: when `arraybuffer` is a live segment buffer (shmCreate/shmOpen), takes a reference
// to its mapping and returns it (else nullptr): the memory stays mapped, whatever shmRelease or
// the collector do, until ReleaseSegmentMapping (any thread). For TensorFlow tensors that
// borrow a segment's memory and may outlive the run (a queue that keeps a fed tensor).
void* RetainSegmentMapping(napi_env env, napi_value arraybuffer);
void ReleaseSegmentMapping(void* mapping);
// JS thread: whether `arraybuffer` is a view from shmView (an isolated model's output over its
// slot, which goes back to the slot's pool on dispose()): fed in-process, it is copied, never
// borrowed, since a graph may keep a fed tensor past its run.
bool IsSegmentView(napi_env env, napi_value arraybuffer);

// shmCreate(bytes) -> { fd, buffer }
Napi::Value ShmCreate(const Napi::CallbackInfo& info);
// shmOpen(pid, fd, bytes) -> buffer
Napi::Value ShmOpen(const Napi::CallbackInfo& info);
// shmRelease(buffer): detaches the buffer and unmaps the segment now (idempotent).
Napi::Value ShmRelease(const Napi::CallbackInfo& info);
// shmView(buffer, offset, bytes) -> a buffer over part of the segment, which keeps the
// mapping alive until it is collected (or detached by releaseBuffer) even after shmRelease.
Napi::Value ShmView(const Napi::CallbackInfo& info);
// setParentDeathSignal(parentPid): this process gets SIGKILL when its parent dies;
// returns false when the parent is already gone.
Napi::Value SetParentDeathSignal(const Napi::CallbackInfo& info);
// openFileLimit() -> the soft RLIMIT_NOFILE: descriptors this process may hold open.
Napi::Value OpenFileLimit(const Napi::CallbackInfo& info);
// Limits the process's data (private writable memory) to a byte count: setrlimit(RLIMIT_DATA).
Napi::Value SetDataLimit(const Napi::CallbackInfo& info);

// Whether this process is a model host (lib/host.ts called setParentDeathSignal).
bool IsModelHost();
// A model host's end on std::bad_alloc while it serves a run (exit code 71, a line on stderr).
// The allocation failed (past hostMemoryLimitBytes), maybe inside TensorFlow, which is not
// exception-safe: its CPU allocator's lock stays held, and every later run would wait on it for
// ever (helper-59). The parent reports MODEL_CRASHED naming the limit.
[[noreturn]] void ExitOutOfMemory();

}  // namespace tfslice
