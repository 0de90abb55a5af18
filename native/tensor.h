// JS <-> TF_Tensor conversion.
//
// Feeds arrive and outputs leave as flat arrays [dtype, shape, data, dtype, ...]
// (indexed stores are far cheaper through N-API than named properties): dtype the
// TF_DataType number, shape an array of numbers, data a typed array of the matching
// kind, or for TF_STRING {bytes, offsets} (all strings concatenated, offsets a
// Float64Array of n+1 positions; lib/ packs it). What is copied (DESIGN-level, mirrored in the README):
//  - numeric feeds of at least kZeroCopyMinBytes whose memory satisfies
//    TF_TensorDefaultAlignment() are borrowed, not copied; smaller or unaligned ones
//    are copied once (TensorFlow itself would copy an unaligned buffer): for run(), an
//    unaligned one of at least kZeroCopyMinBytes is pinned and copied on the runner thread
//    as its run starts (FeedSet::Materialize), so the JS thread never copies big feeds;
//  - numeric outputs of at least kZeroCopyMinBytes become external ArrayBuffers over
//    TensorFlow's buffer (freed when JS collects them); smaller ones are copied;
//  - strings are always copied (TF_TString is TensorFlow's own layout).
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "errors.h"
#include "tf_api.h"

namespace tfslice {

class ReleaseQueue;

// Below this a copy costs less than pinning JS memory or wrapping TF's buffer.
constexpr size_t kZeroCopyMinBytes = 16 * 1024;

// TensorFlow's own rules for a shape (tensor_shape.cc, TensorShapeBase: at most 254
// dimensions, none negative, and the product of the non-zero dimensions within int64).
// TensorShape's constructor CHECK-fails (aborts the process) on a shape that breaks them,
// even when a later 0 makes the element count 0, so every shape from a caller is checked
// against them before TF_NewTensor or TF_AllocateTensor sees it.
constexpr size_t kMaxRank = 254;
// Empty when TensorFlow accepts `dims`; otherwise the rule it breaks, for an error message.
std::string ShapeViolation(const int64_t* dims, size_t rank);

// Bytes per element, 0 for TF_STRING and for types tfslice does not handle.
size_t DataTypeSize(TF_DataType dtype);
bool IsSupportedDataType(int dtype);
// A reference dtype (a TF1 variable fetched directly: DT_FLOAT_REF = 101 = DT_FLOAT + 100,
// types.proto) as its base dtype, which is what fetching it yields; others unchanged.
inline int BaseDataType(int dtype) { return dtype > 100 && dtype < 200 ? dtype - 100 : dtype; }

// A feed's shape, checked, and its number of elements.
struct Dims {
  std::vector<int64_t> dims;
  uint64_t elements = 1;
};

// The TF_Tensors of one run's feeds and the JS memory ranges they borrow. The
// tensors may be deleted on a worker thread: borrowed JS memory is only
// unpinned through the ReleaseQueue.
class FeedSet {
 public:
  FeedSet() = default;
  FeedSet(const FeedSet&) = delete;
  FeedSet& operator=(const FeedSet&) = delete;
  ~FeedSet() { Clear(); }

  // Converts one feed, given as its dtype number, shape array and data (JS thread).
  // Throws a JS TypeError naming feed `name` on malformed input; lib/ validates
  // against the signature before this point.
  // `defer_copy`: a feed of kZeroCopyMinBytes or more that must be copied (unaligned, or
  // strings, counting their bytes and 8 per string) is pinned instead, and copied by
  // Materialize() on the thread that runs it.
  void Add(Napi::Env env, const std::shared_ptr<ReleaseQueue>& releases, Napi::Value dtype,
           Napi::Value shape, Napi::Value data, const std::string& name, bool defer_copy = false);
  // The same, the dtype and shape read as doubles from `at` (never at or past `end`): [dtype,
  // rank, dim 0, ..., dim rank-1] (runSync()'s compact feeds). Returns where the next begins.
  const double* AddFromHeader(Napi::Env env, const std::shared_ptr<ReleaseQueue>& releases, const double* at,
                              const double* end, Napi::Value data, const std::string& name, bool defer_copy = false);
  // Makes the tensors of the deferred copies and unpins their JS memory (any thread; before
  // the run). No failure when every feed is ready; else RESOURCE_EXHAUSTED (out of memory) or
  // INVALID_ARGUMENT (a string feed's offsets changed after Add checked them).
  Failure Materialize();
  // Takes a tensor made elsewhere (a model host's view of a shared segment; any thread).
  void Adopt(TF_Tensor* tensor) { tensors_.push_back(tensor); }
  // Deletes the tensors (any thread).
  void Clear();
  // Deletes the tensors Materialize() made (the thread that ran it: their memory came from its
  // malloc arena, and a free from another thread's would contend for that arena's lock).
  void ClearMaterialized();

  TF_Tensor* const* data() const { return tensors_.data(); }
  int size() const { return static_cast<int>(tensors_.size()); }
  // True when [p, p+n) overlaps memory borrowed from JS.
  bool Borrows(const void* p, size_t n) const;

 private:
  void Add(Napi::Env env, const std::shared_ptr<ReleaseQueue>& releases, TF_DataType dtype, Dims shape,
           Napi::Value data, const std::string& name, bool defer_copy);
  // A feed to copy when its run starts: where its tensor goes in tensors_, its JS memory
  // (pinned by `pin`, a Pin of tensor.cc) and what TF_NewTensor needs.
  struct DeferredCopy {
    size_t index;
    const uint8_t* source;
    size_t bytes;
    TF_DataType dtype;
    std::vector<int64_t> dims;
    void* pin;
    std::string name;
  };

  // A string feed to make when its run starts: count strings at offsets (count + 1 of them)
  // into base (length bytes), both JS memory pinned by pin_bytes and pin_offsets.
  struct DeferredStrings {
    size_t index;
    const char* base;
    const double* offsets;
    uint64_t count;
    size_t length;
    std::vector<int64_t> dims;
    void* pin_bytes;
    void* pin_offsets;
    std::string name;
  };

  std::vector<TF_Tensor*> tensors_;
  std::vector<std::pair<uintptr_t, uintptr_t>> borrowed_;
  std::vector<DeferredCopy> deferred_;
  std::vector<DeferredStrings> deferred_strings_;
  std::vector<size_t> materialized_;  // indices in tensors_ that Materialize() filled
};

// A bool feed's bytes that are neither 0 nor 1 (TensorFlow reads each as a C++ bool, so `2`
// makes logical_not answer 253): INVALID_ARGUMENT naming the feed, the element and the byte; an
// empty failure when every byte is 0 or 1. Any thread; about 8 bytes per cycle.
Failure CheckBoolBytes(const std::string& name, const uint8_t* bytes, size_t count);

// What PrepareOutputs did for one output off the JS thread: its strings packed as OutputToJs
// hands strings to JS (every string's bytes back to back, and count + 1 offsets into them, in
// malloc'd memory that JS takes over), or its buffer copied into a tensor of its own.
struct PreparedOutput {
  void* bytes = nullptr;
  size_t total = 0;
  double* offsets = nullptr;
  size_t count = 0;
  bool packed = false;
  bool copied = false;
  // A small numeric output (under kZeroCopyMinBytes, rank up to kTakenMaxRank) copied out by
  // TakeSmallOutputs, its tensor deleted there: `taken` holds its dtype, dims and bytes.
  bool taken = false;
  static constexpr int kTakenMaxRank = 8;
  static constexpr size_t kInlineBytes = 64;
  TF_DataType dtype = TF_FLOAT;
  int rank = 0;
  int64_t dims[kTakenMaxRank] = {};
  size_t taken_bytes = 0;
  alignas(16) unsigned char inline_data[kInlineBytes];
  std::unique_ptr<unsigned char[]> heap_data;  // when taken_bytes > kInlineBytes
  const unsigned char* TakenData() const { return heap_data ? heap_data.get() : inline_data; }
  PreparedOutput() = default;
  PreparedOutput(const PreparedOutput&) = delete;
  PreparedOutput& operator=(const PreparedOutput&) = delete;
  ~PreparedOutput();
};

// Runner thread, after a run() has fetched `tensors`: does for the big outputs what OutputToJs
// would otherwise do on the JS thread, so that thread only wraps memory. A numeric output of
// kZeroCopyMinBytes or more that JS may not take over as it is (TensorFlow still holds its
// buffer, or it aliases a borrowed feed) is copied into a tensor of its own, which it may; a
// string output of that size is packed. `prepared`: empty, or one untouched entry per tensor
// (made by the caller on the thread that frees it: then this allocates no entries); it gets one
// entry per tensor when any was prepared. What cannot be prepared (no memory) is left as it
// was, for OutputToJs.
void PrepareOutputs(std::vector<TF_Tensor*>& tensors, const FeedSet& feeds, std::vector<PreparedOutput>& prepared);

// The thread that ran the session (a runner after run(); the JS thread inside runSync(), which
// already waits in TensorFlow for the whole run): copies every small numeric output into
// `prepared` and deletes its tensor there and then, leaving null in `tensors`. Otherwise the JS
// thread would hand each small output's tensor to the reaper's thread (it never deletes
// TensorFlow's tensors itself), which for a tiny model cost a futex wake per ~50 runs and 1-2
// µs of that thread's CPU per output: 11-13 % of a core in a loop of run() or runSync().
void TakeSmallOutputs(std::vector<TF_Tensor*>& tensors, std::vector<PreparedOutput>& prepared);

// runSync()'s compact result: the memory Addon::TakenScratch hands to JS once per environment.
constexpr size_t kTakenScratchBytes = 64 * 1024;

// The thread inside runSync() (the JS thread's run, or the one it waits for): when every tensor
// is numeric, under kZeroCopyMinBytes and of rank kTakenMaxRank or less, and all fit in
// `capacity` bytes of `scratch` (8-byte aligned), writes each there as doubles, [dtype, rank,
// dim 0, ..., dim rank-1, byte length], then its bytes padded to a multiple of 8, deletes it and
// returns true. Otherwise changes nothing and returns false.
bool TakeOutputsInto(std::vector<TF_Tensor*>& tensors, unsigned char* scratch, size_t capacity);

// Converts and takes ownership of `tensor` (JS thread), storing dtype, shape and
// data at out[at..at+2]. Memory that aliases a feed borrowed from JS is copied so
// no two ArrayBuffers share a backing store. `prepared`: what PrepareOutputs did for this
// tensor (its packed strings are taken over), or null.
void OutputToJs(Napi::Env env, TF_Tensor* tensor, const FeedSet& feeds, Napi::Array out, uint32_t at,
                PreparedOutput* prepared = nullptr);

// Detaches an output's ArrayBuffer and, when it is TensorFlow's buffer, frees it now
// instead of when the collector gets to it (JS thread; Tensor.dispose()).
void ReleaseOutput(Napi::Env env, Napi::ArrayBuffer buffer);

// At least `bytes` (one byte for none) of malloc'd memory aligned as TensorFlow wants a
// buffer (free() it); null when there is no memory. Any thread.
void* AlignedCopyBuffer(size_t bytes);
// Frees `bytes` of memory from AlignedCopyBuffer or malloc (any thread); big aligned buffers
// are kept for AlignedCopyBuffer to hand out again.
void FreeCopyBuffer(void* memory, size_t bytes);

// Memory behind one of the addon's external buffers that runner work will read (a borrowed or
// deferred feed, an echo's source) is pinned by its ArrayBuffer's start address from when the
// work is submitted until it is done with it (any thread). The buffers' finalizers free through
// ReleaseWhenUnpinned: a pinned buffer is freed when its last pin goes. A worker thread being
// terminated runs those finalizers before its cleanup hooks (where the addon waits for its
// runs), so without this, queued or running work could read memory freed under it.
void PinMemory(const void* start);
void UnpinMemory(const void* start);
void ReleaseWhenUnpinned(const void* start, void (*release)(void*), void* what);

// An ArrayBuffer's memory held for work off the JS thread (a borrowed feed, an echo's source):
// its start pinned (PinMemory; null for a SharedArrayBuffer, which has none to give) and, for
// a shared segment's buffer (Model.alloc on an isolated model), the segment kept mapped
// (RetainSegmentMapping: dispose() unmaps it otherwise). Taken on the JS thread; let go on any
// thread by Release() or the destructor, once.
class HeldMemory {
 public:
  HeldMemory() = default;
  HeldMemory(napi_env env, napi_value arraybuffer);
  HeldMemory(HeldMemory&& other) noexcept;
  HeldMemory& operator=(HeldMemory&& other) noexcept;
  HeldMemory(const HeldMemory&) = delete;
  HeldMemory& operator=(const HeldMemory&) = delete;
  ~HeldMemory() { Release(); }
  void Release();

 private:
  const void* start_ = nullptr;
  void* segment_ = nullptr;
};

// An external ArrayBuffer (`as_buffer`: a Node Buffer) over `bytes` at `data`, on the JS thread:
// `finalize(env, data, hint)` runs once the collector, or the environment's end, lets go of it.
// Every external buffer of the addon is made here, for what a failure leaves. It takes `hint`
// in every case: when it throws, `finalize` has run or will run, and the caller must not touch
// `hint` (nor what it frees) again.
// - Nothing made (the environment no longer runs JS, a worker being terminated, found by a call
//   with the same checks first): it calls `finalize` itself before it throws.
// - Past that check, Node 20 may have made and tracked the buffer before the call failed (a
//   worker's termination landing in between), or called `finalize` at once (a buffer past its
//   size limit): only Node calls `finalize` then, when it runs. (node-addon-api's
//   ArrayBuffer::New deletes its own finalizer data on failure, which Node may still call: with a
//   caller's free, a double free in the addon's free thread, found by terminating workers at
//   random moments while their echoes settled.) What Node never finalizes stays allocated:
//   buffers made in the instant a worker's termination began.
Napi::Value NewExternal(Napi::Env env, void* data, size_t bytes, napi_finalize finalize, void* hint, bool as_buffer);

// An ArrayBuffer over `bytes` of malloc'd memory that JS takes over (JS thread): the collector
// frees it, or releaseBuffer() (dispose()) at once; big ones on the addon's free thread. Takes
// `memory` in every case: when it throws, the memory is freed or left to the buffer's finalizer
// (NewExternal), so the caller lets go of its pointer before the call.
Napi::ArrayBuffer AdoptMalloced(Napi::Env env, void* memory, size_t bytes);

// copyNow(view) -> ArrayBuffer: a copy of the typed array's bytes, made at once on the JS thread
// in a copy buffer of the addon's (AlignedCopyBuffer: big ones reused), which JS adopts.
Napi::Value CopyNow(const Napi::CallbackInfo& info);

// lengthPrefixed(bytes: Uint8Array, offsets: Float64Array) -> ArrayBuffer: the packed strings
// (string i is bytes[offsets[i], offsets[i + 1])) laid out as KServe v2's BYTES are, each a
// 4-byte little-endian length and then its bytes. Offsets that are not whole, not ascending or
// past the bytes are a TypeError. (On the JS thread, a JS loop over 2 000 000 strings took
// 120-340 ms until optimized.)
Napi::Value LengthPrefixed(const Napi::CallbackInfo& info);

// Packed strings (string i is bytes[offsets[i], offsets[i + 1])) to lay out as KServe v2's BYTES:
// the arguments (bytes, offsets) of `name`, checked (JS thread; TypeError naming `name`, or
// RESOURCE_EXHAUSTED past the buffer limit), and the layout's size in bytes.
struct LengthPrefixedSource {
  Napi::Uint8Array bytes;
  Napi::Float64Array offsets;
  const uint8_t* bytes_data;
  const double* offsets_data;
  size_t count;  // strings
  double limit;  // bytes' length
  size_t total;  // of the layout: each string's 4-byte little-endian length, then its bytes
};
LengthPrefixedSource ReadLengthPrefixedSource(const Napi::CallbackInfo& info, const char* name);
// Lays the strings out into `out` (`total` bytes); false when the offsets no longer match
// (a SharedArrayBuffer changed under it), `out` then holding nothing to show. Any thread.
bool LayOutLengthPrefixed(const uint8_t* source, const double* offsets, size_t count, double limit, uint8_t* out, size_t total);

// Deletes a tensor: on the JS thread by handing it to a thread of its own, as
// TensorFlow's allocator may keep the JS thread waiting for seconds (tensor.cc, Reaper);
// elsewhere at once.
void DeleteTensor(TF_Tensor* tensor);
// Marks the calling thread as a JS thread (each addon instance's, at its start).
void MarkJsThread();

// Counters of the copy decisions above, for tests and benchmarks (relaxed atomics).
struct TensorStats {
  uint64_t borrowed_feeds;   // feeds TensorFlow read in place from JS memory
  uint64_t copied_feeds;     // numeric feeds copied (small or unaligned)
  uint64_t wrapped_outputs;  // outputs handed to JS over TensorFlow's buffer
  uint64_t copied_outputs;   // numeric outputs copied (into a fresh ArrayBuffer, or on a runner)
  uint64_t prepared_outputs; // outputs copied or packed on a runner thread (PrepareOutputs)
  uint64_t thread_copies;    // buffers copied on a runner thread by copyOffThread()
  uint64_t thread_layouts;   // BYTES laid out on a runner thread by lengthPrefixedOffThread()
  int64_t pinned_now;        // JS buffers TensorFlow holds right now
  uint64_t trims;            // times released outputs were handed back to the kernel
  uint64_t arena_checks;     // times the reaper looked at glibc's arenas for a trim (mallinfo2)
  uint64_t released_since_check;  // bytes of outputs released since that look (one is due from kCheckEveryBytes)
  uint64_t pending_deletes;  // tensors the JS thread let go that the reaper has not deleted yet
  uint64_t reused_buffers;   // big copy buffers (>= 32 MiB) handed out again instead of mapped afresh
  uint64_t kept_buffer_bytes;  // big copy buffers kept for reuse now (bytes)
};
TensorStats CurrentTensorStats();
// Counts buffers copyOffThread() copied (any thread).
void CountThreadCopies(uint64_t n);
// Counts layouts lengthPrefixedOffThread() made (any thread).
void CountThreadLayout();

// How long a big copy buffer kept for reuse (>= 32 MiB, tensor.cc BigBuffers) may stay unused
// before the free thread hands it back to the system; 0 frees each at once (any thread).
constexpr uint32_t kDefaultKeptIdleMillis = 10000;
void SetKeptBufferIdleMillis(uint32_t millis);
uint32_t KeptBufferIdleMillis();

// At process exit: the thread that frees tensors stops, after the batch it is freeing.
void StopReaperForExit();
// Starts the free thread now (see StartThreads in runner.h).
void StartReaper();

// A zeroed ArrayBuffer of `bytes` aligned for TensorFlow, so feeds made in it
// are never copied.
Napi::ArrayBuffer NewAlignedArrayBuffer(Napi::Env env, size_t bytes);

// TF_NewTensor's deallocator for a malloc'ed array of TF_TStrings: frees each string, then the array.
void FreeStrings(void* data, size_t len, void* arg);

}  // namespace tfslice
