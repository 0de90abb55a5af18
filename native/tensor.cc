#include "tensor.h"

#include "runner.h"
#include "shm.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <new>
#include <unordered_map>
#include <thread>
#include <utility>
#include <vector>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "addon.h"
#include "errors.h"

namespace tfslice {
namespace {

// The JS typed array kind that carries each dtype (DESIGN.md: "Data by dtype").
napi_typedarray_type ArrayTypeOf(TF_DataType dtype) {
  switch (dtype) {
    case TF_FLOAT: return napi_float32_array;
    case TF_DOUBLE: return napi_float64_array;
    case TF_INT8: return napi_int8_array;
    case TF_INT16: return napi_int16_array;
    case TF_INT32: return napi_int32_array;
    case TF_INT64: return napi_bigint64_array;
    case TF_UINT8: return napi_uint8_array;
    case TF_BOOL: return napi_uint8_array;
    case TF_UINT16: return napi_uint16_array;
    case TF_HALF: return napi_uint16_array;
    case TF_BFLOAT16: return napi_uint16_array;
    case TF_UINT32: return napi_uint32_array;
    case TF_UINT64: return napi_biguint64_array;
    default: return napi_uint8_array;
  }
}

static_assert(sizeof(float) == 4 && sizeof(double) == 8, "float32/float64 map to float/double");
static_assert(sizeof(TF_TString) == 24, "TF_TString is 24 bytes in TensorFlow 2.x");

std::atomic<uint64_t> g_borrowed_feeds{0};
std::atomic<uint64_t> g_copied_feeds{0};
std::atomic<uint64_t> g_wrapped_outputs{0};
std::atomic<uint64_t> g_copied_outputs{0};
std::atomic<uint64_t> g_prepared_outputs{0};
std::atomic<uint64_t> g_thread_copies{0};
std::atomic<uint64_t> g_thread_layouts{0};
std::atomic<int64_t> g_pinned_now{0};

using Clock = std::chrono::steady_clock;
// Frees the big copy buffers kept unused for too long; returns when the next is due
// (Clock::time_point::max() with none kept). The reaper's thread calls it (BigBuffers).
Clock::time_point DropIdleCopyBuffers();

// Owns the memory behind an output ArrayBuffer: TensorFlow's tensor, or malloc'd memory the
// addon filled (AdoptMalloced: copies and packed strings made on a runner). Both are null once
// released early (ReleaseOutput: dispose()).
struct OutputOwner {
  TF_Tensor* tensor = nullptr;
  void* memory = nullptr;
  size_t bytes = 0;  // of `memory`

  const void* Data() const;
  // Frees what it holds, big frees off the JS thread (any thread).
  void Release();
  // Releases and deletes `owner` once no runner work reads its memory (ReleaseWhenUnpinned).
  static void ReleaseUnpinned(OutputOwner* owner);
  // The buffer's finalizer (NewExternal): ReleaseUnpinned.
  static void Finalize(napi_env env, void* data, void* owner);
};

// Marks ArrayBuffers over TensorFlow's memory, so a wrap is only ever read as an
// OutputOwner (shm.cc wraps segment buffers with a tag of its own).
constexpr napi_type_tag kOutputTag = {0x7466736c69636530ULL, 0x6f75747075747331ULL};

// TensorFlow's CPU allocator takes one lock for every allocation and free (MklCPUAllocator
// with oneDNN on, the BFC allocator's retry otherwise) and keeps it while it retries an
// allocation it cannot satisfy, for up to 10 s. A run that asks for more memory than there is
// would then stop the JS thread in its next TF_DeleteTensor or TF_AllocateTensor, and with it
// every request of a server. So the JS thread never calls either: feeds are built in memory
// of ours (TF_NewTensor), and the tensors it lets go are deleted by the reaper's thread. The
// one exception is inside runSync(), which runs the session on the JS thread and so already
// allocates through TensorFlow there: its small outputs are deleted at once (TakeSmallOutputs).
thread_local bool t_js_thread = false;
void DeleteOutputTensorNow(TF_Tensor* tensor);
// The reaper's thread, when asked (an output's release crossed kCheckEveryBytes) or when a look
// put off is due: looks at glibc's arenas and trims them (below); returns when the next look is
// due (Clock::time_point::max() with none put off).
Clock::time_point TrimArenasWhenDue();

// The reaper's thread frees what the JS thread lets go. Waking it costs a context switch
// (on a 2-vCPU host the woken thread often preempts the JS thread itself), which at one wake
// per run was a third of a tiny model's runSync(). So small deletions gather: the first wakes
// the reaper, which then waits up to kGather for more before it frees them all in one pass,
// and the deletions made meanwhile wake nobody. A big tensor (kUrgentBytes and up) or a long
// queue is freed at once: the next run's output is likely to reuse its memory.
constexpr auto kGather = std::chrono::microseconds(500);
constexpr size_t kUrgentBytes = size_t{64} << 10;
constexpr size_t kUrgentCount = 256;

class Reaper {
 public:
  static Reaper& Get() {
    static Reaper* reaper = new Reaper();  // never destroyed: its thread may be blocked at exit
    return *reaper;
  }

  void Delete(TF_Tensor* tensor, bool output) { Queue({tensor, output, nullptr, 0}, tf().TF_TensorByteSize(tensor)); }

  // Frees malloc'd memory of `bytes` (an external buffer's, let go by the collector or dispose()).
  void Free(void* memory, size_t bytes) { Queue({nullptr, false, memory, bytes}, bytes); }

  uint64_t Pending() const { return pending_.load(std::memory_order_relaxed); }

  // Released outputs crossed kCheckEveryBytes: the reaper looks at the arenas (TrimArenasWhenDue).
  void AskTrim() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      trim_asked_ = true;
    }
    wake_.notify_one();
  }

  // Big copy buffers are kept now (BigBuffers::Keep), or the time they may stay unused changed:
  // the reaper looks again when the next is due.
  void Nudge() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      nudged_ = true;
    }
    wake_.notify_one();
  }

 private:
  struct Item {
    TF_Tensor* tensor;
    bool output;  // released as an output: counted towards the next arena trim
    void* memory;  // or, instead of a tensor, memory to free (FreeCopyBuffer)
    size_t bytes;  // of `memory`
  };

  void Queue(Item item, size_t bytes) {
    bool urgent = bytes >= kUrgentBytes;
    bool wake = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(item);
      pending_.fetch_add(1, std::memory_order_relaxed);
      if (urgent || queue_.size() >= kUrgentCount) urgent_ = true;
      // Asleep with nothing queued: this deletion starts a gathering. Gathering: only an
      // urgent one cuts it short.
      wake = !gathering_ || urgent_;
      gathering_ = true;
    }
    if (wake) wake_.notify_one();
  }

  Reaper() {
    std::thread thread([this] {
      NoteThreadArena();
      Loop();
    });
    pthread_setname_np(thread.native_handle(), "tfslice-free");
    thread.detach();
  }

 public:
  // At process exit: no deletion starts any more, and the one in progress ends first (see
  // StopForExit in runner.h). What is still queued is left to the exiting process.
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    std::lock_guard<std::mutex> working(working_);
  }

 private:
  void Loop() {
    std::vector<Item> batch;
    for (;;) {
      std::unique_lock<std::mutex> working(working_, std::defer_lock);
      {
        std::unique_lock<std::mutex> lock(mutex_);
        // Kept copy buffers unused for long are freed when due, busy or not; idle, the reaper
        // sleeps until a deletion comes or the next of them is due.
        for (;;) {
          if (stopping_) break;  // the process exits: nothing more is freed, trimmed or dropped
          Clock::time_point now = Clock::now();
          if (nudged_ || now >= kept_due_) {
            nudged_ = false;
            lock.unlock();
            kept_due_ = DropIdleCopyBuffers();
            lock.lock();
            continue;  // nudged again meanwhile?
          }
          if (trim_asked_ || now >= trim_due_) {
            trim_asked_ = false;
            lock.unlock();
            {
              std::lock_guard<std::mutex> busy(working_);  // Stop() waits for a trim under way too
              trim_due_ = TrimArenasWhenDue();
            }
            lock.lock();
            continue;
          }
          if (!queue_.empty() || stopping_) break;
          Clock::time_point due = std::min(kept_due_, trim_due_);
          auto woken = [this] { return !queue_.empty() || stopping_ || nudged_ || trim_asked_; };
          if (due == Clock::time_point::max()) {
            wake_.wait(lock, woken);
          } else {
            wake_.wait_until(lock, due, woken);
          }
        }
        wake_.wait_for(lock, kGather, [this] { return urgent_ || stopping_; });
        if (stopping_) {
          lock.unlock();
          for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
        }
        batch.swap(queue_);
        urgent_ = false;
        gathering_ = false;
        working.lock();  // before the queue's lock is let go: Stop() cannot slip in between
      }
      for (const Item& item : batch) {
        if (item.memory != nullptr) FreeCopyBuffer(item.memory, item.bytes);
        else if (item.output) DeleteOutputTensorNow(item.tensor);
        else tf().TF_DeleteTensor(item.tensor);
      }
      pending_.fetch_sub(batch.size(), std::memory_order_relaxed);
      batch.clear();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Item> queue_;
  bool gathering_ = false;  // woken for the queue (or about to be); deletions need not wake it
  bool urgent_ = false;     // the queue holds a big tensor or many: free it now
  bool stopping_ = false;   // the process is exiting
  bool nudged_ = false;     // kept copy buffers changed (Nudge)
  bool trim_asked_ = false;  // released outputs crossed kCheckEveryBytes (AskTrim)
  Clock::time_point kept_due_ = Clock::time_point::min();  // when DropIdleCopyBuffers is next due (reaper's thread)
  Clock::time_point trim_due_ = Clock::time_point::max();  // when a look at the arenas put off is due (reaper's thread)
  std::mutex working_;      // held while a batch is deleted
  std::atomic<uint64_t> pending_{0};
};

void NudgeReaper() { Reaper::Get().Nudge(); }

struct TensorDeleter {
  void operator()(TF_Tensor* tensor) const {
    if (tensor != nullptr) DeleteTensor(tensor);
  }
};
using TensorPtr = std::unique_ptr<TF_Tensor, TensorDeleter>;

// Big outputs are allocated by TensorFlow on whichever thread ran the session and are
// freed later on the JS thread, when the collector or dispose() lets go. glibc keeps such
// freed chunks inside its arenas rather than giving them back, so a process whose big
// outputs were released late, or many at once, would keep its high-water mark (and more,
// across the arenas of the runner threads) for ever. So after every kCheckEveryBytes of
// released outputs the reaper asks glibc how much free memory its arenas hold (mallinfo2), and
// when that is past kTrimFreeBytes hands their free pages back to the kernel. A steady loop
// reuses what it frees, so its arenas hold little free memory and it never pays for a trim;
// a batch released together is given back whatever the order it was released in.
// mallinfo2 walks every free chunk of every arena, each under its arena's lock: about a
// millisecond in a Node process beside TensorFlow. `big_io` (4 MiB out) released 32 MiB every
// 8 runs, ~375 looks a second, and the reaper's looks took a quarter of the process's CPU
// samples on 2 vCPUs (AMD EPYC, oneDNN on, run() loop), holding arena locks TensorFlow's
// allocations wait for. So the reaper looks at most once per kCheckInterval; a release that
// crosses the mark sooner is looked at when the interval ends, busy or idle.
constexpr size_t kCheckEveryBytes = size_t{32} << 20;
constexpr size_t kTrimFreeBytes = size_t{64} << 20;
constexpr auto kCheckInterval = std::chrono::milliseconds(200);
std::atomic<size_t> g_released_since_check{0};
std::atomic<uint64_t> g_trims{0};
std::atomic<uint64_t> g_arena_checks{0};
Clock::time_point g_last_check = Clock::time_point::min();  // reaper's thread only

void DeleteOutputTensorNow(TF_Tensor* tensor) {
  size_t bytes = tf().TF_TensorByteSize(tensor);
  tf().TF_DeleteTensor(tensor);
  size_t released = g_released_since_check.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  // Once per crossing: the look counts down what it saw.
  if (released >= kCheckEveryBytes && released - bytes < kCheckEveryBytes) Reaper::Get().AskTrim();
}

Clock::time_point TrimArenasWhenDue() {
  size_t seen = g_released_since_check.load(std::memory_order_relaxed);
  if (seen < kCheckEveryBytes) return Clock::time_point::max();
  Clock::time_point now = Clock::now();
  if (g_last_check != Clock::time_point::min() && now < g_last_check + kCheckInterval) return g_last_check + kCheckInterval;
  g_last_check = now;
#if defined(__GLIBC__)
  struct mallinfo2 arenas = mallinfo2();
  if (arenas.fordblks + arenas.fsmblks > kTrimFreeBytes) {
    malloc_trim(0);
    g_trims.fetch_add(1, std::memory_order_relaxed);
  }
#endif
  g_arena_checks.fetch_add(1, std::memory_order_relaxed);
  // Counted down only now, so that the count stays past the mark until the trim is done (stats:
  // releasedSinceCheck); what was released meanwhile, past the mark again, is looked at next.
  size_t left = g_released_since_check.fetch_sub(seen, std::memory_order_relaxed) - seen;
  return left >= kCheckEveryBytes ? g_last_check + kCheckInterval : Clock::time_point::max();
}

void DeleteOutputTensor(TF_Tensor* tensor) {
  if (t_js_thread) Reaper::Get().Delete(tensor, true);
  else DeleteOutputTensorNow(tensor);
}

// A JS value TensorFlow borrows; released on the JS thread through the queue. Its memory is
// held while TensorFlow holds the tensor (a graph may keep a fed tensor past its run: a queue).
struct Pin {
  std::shared_ptr<ReleaseQueue> releases;
  napi_ref ref;
  HeldMemory memory;
};

void ReleasePin(void* /*data*/, size_t /*len*/, void* arg) {
  Pin* pin = static_cast<Pin*>(arg);
  g_pinned_now.fetch_sub(1, std::memory_order_relaxed);
  pin->memory.Release();
  pin->releases->Push(pin->ref);
  delete pin;
}

// Pins a feed's JS memory (and a shared segment's mapping under it) until ReleasePin (JS thread).
void* PinFeed(Napi::Env env, const std::shared_ptr<ReleaseQueue>& releases, Napi::Value data, napi_value arraybuffer) {
  Pin* pin = new Pin{releases, nullptr, {}};
  napi_status status = napi_create_reference(env, data, 1, &pin->ref);
  if (status != napi_ok) {
    delete pin;
    NAPI_THROW_IF_FAILED(env, status, nullptr);
  }
  pin->memory = HeldMemory(env, arraybuffer);
  g_pinned_now.fetch_add(1, std::memory_order_relaxed);
  return pin;
}

// TensorFlow copies feeds that are less aligned than this (EIGEN_MAX_ALIGN_BYTES);
// 64 covers every build when TensorFlow is not loaded yet.
size_t DefaultAlignment() {
  static std::atomic<size_t> cached{0};
  size_t alignment = cached.load(std::memory_order_relaxed);
  if (alignment == 0 && tf().TF_TensorDefaultAlignment != nullptr) {
    alignment = tf().TF_TensorDefaultAlignment();
    if (alignment == 0) alignment = 1;
    cached.store(alignment, std::memory_order_relaxed);
  }
  return alignment == 0 ? 64 : alignment;
}

size_t CopyAlignment() { return DefaultAlignment() < 64 ? 64 : DefaultAlignment(); }
size_t CopyCapacity(size_t bytes) {
  size_t alignment = CopyAlignment();
  return (std::max<size_t>(bytes, 1) + alignment - 1) / alignment * alignment;
}

// glibc maps every allocation of 32 MiB or more afresh (its mmap threshold stops growing there)
// and unmaps it when freed, so each big copy page-faulted all of its memory again: a 48 MiB echo
// took ~200 ms a run on a VM where TensorFlow's output of the same size, from an allocator that
// keeps its memory, took 14 ms. So freed copy buffers this big are kept for the next copy of
// about their size, up to kKeptBigBytes in all (the oldest go first), and handed back to the
// system once unused for g_kept_idle_ms (the reaper's thread frees them): a server that
// answered one burst of big requests does not keep their memory for ever.
constexpr size_t kBigBufferBytes = size_t{32} << 20;
constexpr size_t kKeptBigBytes = size_t{128} << 20;
std::atomic<uint64_t> g_reused_buffers{0};
std::atomic<uint32_t> g_kept_idle_ms{kDefaultKeptIdleMillis};

class BigBuffers {
 public:
  static BigBuffers& Get() {
    static BigBuffers* buffers = new BigBuffers();  // never destroyed: frees may come at exit
    return *buffers;
  }

  // A buffer of at least `capacity` bytes: a kept one (not a quarter bigger) or a new one; null
  // without memory. Its real size is noted until Keep.
  void* Take(size_t capacity) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto it = kept_.rbegin(); it != kept_.rend(); ++it) {
        if (it->size >= capacity && it->size - capacity <= capacity / 4) {
          void* memory = it->memory;
          size_t size = it->size;
          kept_bytes_ -= size;
          kept_.erase(std::next(it).base());
          out_[memory] = size;
          g_reused_buffers.fetch_add(1, std::memory_order_relaxed);
          return memory;
        }
      }
    }
    void* memory = std::aligned_alloc(CopyAlignment(), capacity);
    if (memory == nullptr) return nullptr;
    std::lock_guard<std::mutex> lock(mutex_);
    out_[memory] = capacity;
    return memory;
  }

  // Keeps `memory` for Take when Take made it; false when it did not, or it is too big to keep.
  bool Keep(void* memory) {
    std::vector<void*> dropped;
    bool first = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto found = out_.find(memory);
      if (found == out_.end()) return false;
      size_t size = found->second;
      out_.erase(found);
      if (size > kKeptBigBytes) return false;
      while (kept_bytes_ + size > kKeptBigBytes) {
        dropped.push_back(kept_.front().memory);
        kept_bytes_ -= kept_.front().size;
        kept_.pop_front();
      }
      first = kept_.empty();
      kept_.push_back({memory, size, Clock::now()});
      kept_bytes_ += size;
    }
    for (void* old : dropped) std::free(old);
    if (first) NudgeReaper();  // it frees what stays unused: it needs to know there is some
    return true;
  }

  // Frees the buffers kept longer than g_kept_idle_ms; returns when the next one would be due
  // (Clock::time_point::max() with none kept).
  Clock::time_point DropIdle() {
    std::vector<void*> dropped;
    Clock::time_point next = Clock::time_point::max();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto idle = std::chrono::milliseconds(g_kept_idle_ms.load(std::memory_order_relaxed));
      Clock::time_point now = Clock::now();
      while (!kept_.empty() && now - kept_.front().since >= idle) {
        dropped.push_back(kept_.front().memory);
        kept_bytes_ -= kept_.front().size;
        kept_.pop_front();
      }
      if (!kept_.empty()) next = kept_.front().since + idle;
    }
    for (void* old : dropped) std::free(old);
    return next;
  }

  size_t KeptBytes() {
    std::lock_guard<std::mutex> lock(mutex_);
    return kept_bytes_;
  }

 private:
  struct Kept {
    void* memory;
    size_t size;  // its real size
    Clock::time_point since;
  };
  std::mutex mutex_;
  std::deque<Kept> kept_;  // oldest first
  size_t kept_bytes_ = 0;
  std::unordered_map<void*, size_t> out_;  // handed out by Take: their real sizes
};

Clock::time_point DropIdleCopyBuffers() { return BigBuffers::Get().DropIdle(); }

}  // namespace

void SetKeptBufferIdleMillis(uint32_t millis) {
  g_kept_idle_ms.store(millis, std::memory_order_relaxed);
  NudgeReaper();
}
uint32_t KeptBufferIdleMillis() { return g_kept_idle_ms.load(std::memory_order_relaxed); }

void* AlignedCopyBuffer(size_t bytes) {
  size_t capacity = CopyCapacity(bytes);
  if (capacity >= kBigBufferBytes) return BigBuffers::Get().Take(capacity);
  return std::aligned_alloc(CopyAlignment(), capacity);
}

void FreeCopyBuffer(void* memory, size_t bytes) {
  if (memory == nullptr) return;
  // Only what BigBuffers handed out is kept (with its real size); the rest is freed.
  if (CopyCapacity(bytes) >= kBigBufferBytes && BigBuffers::Get().Keep(memory)) return;
  std::free(memory);
}

namespace {

void FreeCopy(void* data, size_t len, void* /*arg*/) { FreeCopyBuffer(data, len); }

// "feed 'x'", built only when an error is thrown (runs must not allocate it).
std::string FeedLabel(const std::string& name) { return "feed '" + name + "'"; }


// Checks `rank` dimensions, dim(i) giving each as a double (-1 for a value that is no number).
template <typename Dim>
Dims CheckDims(Napi::Env env, uint32_t rank, Dim dim, const std::string& name) {
  Dims out;
  if (rank > kMaxRank) {
    throw MakeError(env, "INVALID_ARGUMENT", FeedLabel(name) + ": shape has " + std::to_string(rank) +
                                                 " dimensions; TensorFlow allows at most " + std::to_string(kMaxRank));
  }
  out.dims.reserve(rank);
  for (uint32_t i = 0; i < rank; ++i) {
    double d = dim(i);
    if (!(d >= 0 && d <= 9007199254740991.0 && d == static_cast<double>(static_cast<int64_t>(d)))) {
      throw MakeTypeError(env, FeedLabel(name) + ": shape[" + std::to_string(i) +
                                   "] must be a non-negative integer");
    }
    out.dims.push_back(static_cast<int64_t>(d));
  }
  std::string violation = ShapeViolation(out.dims.data(), out.dims.size());
  if (!violation.empty()) throw MakeError(env, "INVALID_ARGUMENT", FeedLabel(name) + ": " + violation);
  // Within int64 by the rule above (and 0 when any dimension is).
  for (int64_t n : out.dims) out.elements *= static_cast<uint64_t>(n);
  return out;
}

Dims ReadShape(Napi::Env env, Napi::Value value, const std::string& name) {
  if (!value.IsArray()) throw MakeTypeError(env, FeedLabel(name) + ": shape must be an array of integers");
  Napi::Array array = value.As<Napi::Array>();
  return CheckDims(env, array.Length(), [&](uint32_t i) {
    Napi::Value dim = array.Get(i);
    return dim.IsNumber() ? dim.As<Napi::Number>().DoubleValue() : -1.0;
  }, name);
}

// A string feed's packed form, checked: n strings, string i at [offsets[i], offsets[i+1]) of
// bytes (JS memory; JS thread to read them from the values).
struct PackedFeed {
  Napi::Uint8Array bytes;
  Napi::Float64Array offsets;
};

// Whether n + 1 offsets describe strings in order within `length` bytes (any thread).
bool OffsetsInOrder(const double* off, uint64_t n, size_t length) {
  for (uint64_t i = 0; i < n; ++i) {
    if (!(off[i] >= 0 && off[i] <= off[i + 1] && off[i + 1] <= static_cast<double>(length))) return false;
  }
  return true;
}

PackedFeed ReadPackedFeed(Napi::Env env, const Dims& shape, Napi::Value data, const std::string& name) {
  if (!data.IsObject()) throw MakeTypeError(env, FeedLabel(name) + ": string data must be {bytes, offsets}");
  Napi::Object packed = data.As<Napi::Object>();
  Napi::Value bytes_value = packed.Get("bytes");
  Napi::Value offsets_value = packed.Get("offsets");
  if (!bytes_value.IsTypedArray() ||
      bytes_value.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      !offsets_value.IsTypedArray() ||
      offsets_value.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    throw MakeTypeError(env, FeedLabel(name) + ": string data must be {bytes: Uint8Array, offsets: Float64Array}");
  }
  PackedFeed feed{bytes_value.As<Napi::Uint8Array>(), offsets_value.As<Napi::Float64Array>()};
  uint64_t n = shape.elements;
  if (feed.offsets.ElementLength() != n + 1) {
    throw MakeError(env, "INVALID_ARGUMENT", FeedLabel(name) + ": expected " + std::to_string(n) +
                                                 " strings for its shape, got " +
                                                 std::to_string(feed.offsets.ElementLength() - 1));
  }
  if (!OffsetsInOrder(feed.offsets.Data(), n, feed.bytes.ByteLength())) {
    throw MakeError(env, "INVALID_ARGUMENT", FeedLabel(name) + ": string offsets are out of order");
  }
  return feed;
}

// A TF_STRING tensor of the n strings (offsets checked); null without memory (any thread).
TF_Tensor* NewStringTensor(const std::vector<int64_t>& dims, const char* base, const double* off, uint64_t n) {
  // TF_TStrings in memory of ours (not TF_AllocateTensor: see Reaper); TensorFlow uses a
  // TF_STRING buffer it is given as it is, and FreeStrings frees each string, then the array.
  size_t array_bytes = n * sizeof(TF_TString);
  TF_TString* strings = static_cast<TF_TString*>(AlignedCopyBuffer(array_bytes));
  if (strings == nullptr) return nullptr;
  for (uint64_t i = 0; i < n; ++i) {
    tf().TF_StringInit(&strings[i]);
    size_t begin = static_cast<size_t>(off[i]);
    tf().TF_StringCopy(&strings[i], base + begin, static_cast<size_t>(off[i + 1]) - begin);
  }
  // On failure TF_NewTensor has called FreeStrings already.
  return tf().TF_NewTensor(TF_STRING, dims.data(), static_cast<int>(dims.size()), strings, array_bytes, FreeStrings, nullptr);
}

Napi::Value NewTypedArray(Napi::Env env, TF_DataType dtype, Napi::ArrayBuffer buffer,
                          size_t elements) {
  napi_value result;
  napi_status status =
      napi_create_typedarray(env, ArrayTypeOf(dtype), elements, buffer, 0, &result);
  NAPI_THROW_IF_FAILED(env, status, Napi::Value());
  return Napi::Value(env, result);
}

}  // namespace

std::string ShapeViolation(const int64_t* dims, size_t rank) {
  if (rank > kMaxRank) {
    return "shape has " + std::to_string(rank) + " dimensions; TensorFlow allows at most " + std::to_string(kMaxRank);
  }
  int64_t product = 1;  // of the non-zero dimensions, in any order
  for (size_t i = 0; i < rank; ++i) {
    if (dims[i] < 0) return "shape[" + std::to_string(i) + "] is " + std::to_string(dims[i]) + "; dimensions must be >= 0";
    if (dims[i] != 0 && __builtin_mul_overflow(product, dims[i], &product)) {
      return "shape's non-zero dimensions multiply past 2^63-1 at shape[" + std::to_string(i) +
             "], which TensorFlow refuses even when another dimension is 0";
    }
  }
  return {};
}

size_t DataTypeSize(TF_DataType dtype) {
  switch (dtype) {
    case TF_INT8: case TF_UINT8: case TF_BOOL: return 1;
    case TF_INT16: case TF_UINT16: case TF_HALF: case TF_BFLOAT16: return 2;
    case TF_FLOAT: case TF_INT32: case TF_UINT32: return 4;
    case TF_DOUBLE: case TF_INT64: case TF_UINT64: return 8;
    default: return 0;
  }
}

bool IsSupportedDataType(int dtype) {
  return dtype == TF_STRING || DataTypeSize(static_cast<TF_DataType>(dtype)) != 0;
}

void FeedSet::Add(Napi::Env env, const std::shared_ptr<ReleaseQueue>& releases,
                  Napi::Value dtype_value, Napi::Value shape_value, Napi::Value data,
                  const std::string& name, bool defer_copy) {
  int dtype_number = dtype_value.IsNumber() ? dtype_value.As<Napi::Number>().Int32Value() : -1;
  if (!IsSupportedDataType(dtype_number)) {
    throw MakeTypeError(env, FeedLabel(name) + ": unsupported dtype number " + std::to_string(dtype_number));
  }
  Add(env, releases, static_cast<TF_DataType>(dtype_number), ReadShape(env, shape_value, name), data, name, defer_copy);
}

const double* FeedSet::AddFromHeader(Napi::Env env, const std::shared_ptr<ReleaseQueue>& releases, const double* at,
                                     const double* end, Napi::Value data, const std::string& name, bool defer_copy) {
  // [dtype, rank, dims...]: each read only within [at, end).
  double dtype_number = at + 2 <= end ? at[0] : -1;
  double rank = at + 2 <= end ? at[1] : -1;
  if (!(dtype_number >= 0 && dtype_number <= 1000 && IsSupportedDataType(static_cast<int>(dtype_number)) &&
        dtype_number == static_cast<double>(static_cast<int>(dtype_number)))) {
    throw MakeTypeError(env, FeedLabel(name) + ": unsupported dtype number " + std::to_string(dtype_number));
  }
  if (!(rank >= 0 && rank <= static_cast<double>(kMaxRank) && rank == static_cast<double>(static_cast<int>(rank)) &&
        at + 2 + static_cast<size_t>(rank) <= end)) {
    throw MakeTypeError(env, FeedLabel(name) + ": its shape's header is malformed");
  }
  const double* dims = at + 2;
  Add(env, releases, static_cast<TF_DataType>(static_cast<int>(dtype_number)),
      CheckDims(env, static_cast<uint32_t>(rank), [&](uint32_t i) { return dims[i]; }, name), data, name, defer_copy);
  return dims + static_cast<size_t>(rank);
}

void FeedSet::Add(Napi::Env env, const std::shared_ptr<ReleaseQueue>& releases, TF_DataType dtype, Dims shape,
                  Napi::Value data, const std::string& name, bool defer_copy) {
  tensors_.reserve(tensors_.size() + 1);
  if (dtype == TF_STRING) {
    PackedFeed packed = ReadPackedFeed(env, shape, data, name);
    const char* base = reinterpret_cast<const char*>(packed.bytes.Data());
    const double* offsets = packed.offsets.Data();
    uint64_t n = shape.elements;
    if (defer_copy && packed.bytes.ByteLength() + (n + 1) * sizeof(double) >= kZeroCopyMinBytes) {
      // Made into TF_TStrings by Materialize() on the runner thread, as the run starts.
      DeferredStrings deferred{tensors_.size(), base, offsets, n, packed.bytes.ByteLength(), shape.dims, nullptr, nullptr, name};
      deferred.pin_bytes = PinFeed(env, releases, packed.bytes, packed.bytes.ArrayBuffer());
      try {
        deferred.pin_offsets = PinFeed(env, releases, packed.offsets, packed.offsets.ArrayBuffer());
      } catch (...) {
        ReleasePin(nullptr, 0, deferred.pin_bytes);
        throw;
      }
      deferred_strings_.push_back(std::move(deferred));
      tensors_.push_back(nullptr);
      return;
    }
    TF_Tensor* tensor = NewStringTensor(shape.dims, base, offsets, n);
    if (tensor == nullptr) throw MakeError(env, "RESOURCE_EXHAUSTED", FeedLabel(name) + ": cannot allocate");
    tensors_.push_back(tensor);
    return;
  }
  // One napi call gives kind, length and the element pointer (SharedArrayBuffers too).
  napi_typedarray_type type = napi_int8_array;
  size_t length = 0;
  void* pointer = nullptr;
  napi_value arraybuffer = nullptr;
  if (!data.IsTypedArray() ||
      napi_get_typedarray_info(env, data, &type, &length, &pointer, &arraybuffer, nullptr) != napi_ok ||
      type != ArrayTypeOf(dtype)) {
    throw MakeTypeError(env, FeedLabel(name) + ": data is not the typed array its dtype needs");
  }
  size_t bytes = length * DataTypeSize(dtype);
  if (length != shape.elements) {
    throw MakeError(env, "INVALID_ARGUMENT",
                    FeedLabel(name) + ": data has " + std::to_string(length) +
                        " elements but its shape needs " + std::to_string(shape.elements));
  }
  uint8_t* memory = static_cast<uint8_t*>(pointer);
  const int rank = static_cast<int>(shape.dims.size());
  TF_Tensor* tensor = nullptr;
  bool aligned = reinterpret_cast<uintptr_t>(memory) % DefaultAlignment() == 0;
  if (dtype == TF_BOOL) {
    if (Failure bad = CheckBoolBytes(name, memory, bytes)) throw MakeError(env, bad);
  }
  if (bytes >= kZeroCopyMinBytes && !aligned && defer_copy) {
    // Copied by Materialize() on the runner thread, as the run starts.
    void* pin = PinFeed(env, releases, data, arraybuffer);
    deferred_.push_back({tensors_.size(), memory, bytes, dtype, shape.dims, pin, name});
    tensors_.push_back(nullptr);
    return;
  }
  if (bytes >= kZeroCopyMinBytes && aligned && !IsSegmentView(env, arraybuffer)) {
    Pin* pin = static_cast<Pin*>(PinFeed(env, releases, data, arraybuffer));
    // On failure TF_NewTensor has already called ReleasePin (its buffer's last reference
    // went), so the pin is not ours to free.
    tensor = tf().TF_NewTensor(dtype, shape.dims.data(), rank, memory, bytes, ReleasePin, pin);
    if (tensor != nullptr) {
      g_borrowed_feeds.fetch_add(1, std::memory_order_relaxed);
      borrowed_.emplace_back(reinterpret_cast<uintptr_t>(memory),
                             reinterpret_cast<uintptr_t>(memory) + bytes);
    }
  } else {
    // A copy in memory of ours, aligned as TensorFlow wants it (it would copy it again
    // otherwise, through its allocator), freed by whichever thread drops the last reference.
    void* copy = AlignedCopyBuffer(bytes);
    if (copy != nullptr) {
      if (bytes != 0) std::memcpy(copy, memory, bytes);
      tensor = tf().TF_NewTensor(dtype, shape.dims.data(), rank, copy, bytes, FreeCopy, nullptr);
    }
    g_copied_feeds.fetch_add(1, std::memory_order_relaxed);
  }
  if (tensor == nullptr) throw MakeError(env, "RESOURCE_EXHAUSTED", FeedLabel(name) + ": cannot allocate");
  tensors_.push_back(tensor);
}

Failure CheckBoolBytes(const std::string& name, const uint8_t* bytes, size_t count) {
  size_t i = 0;
  for (; i + 8 <= count; i += 8) {
    uint64_t word;
    std::memcpy(&word, bytes + i, sizeof(word));
    if (word & 0xFEFEFEFEFEFEFEFEull) break;
  }
  for (; i < count; ++i) {
    if (bytes[i] > 1) {
      return {"INVALID_ARGUMENT", FeedLabel(name) + ": bool element " + std::to_string(i) + " is the byte " + std::to_string(bytes[i]) +
                                      "; a bool is 0 (false) or 1 (true)"};
    }
  }
  return {};
}

Failure FeedSet::Materialize() {
  Failure failure;
  for (DeferredCopy& feed : deferred_) {
    if (!failure) {
      // On failure TF_NewTensor has already freed the copy (its deallocator).
      void* copy = AlignedCopyBuffer(feed.bytes);
      if (copy != nullptr) {
        std::memcpy(copy, feed.source, feed.bytes);
        tensors_[feed.index] = tf().TF_NewTensor(feed.dtype, feed.dims.data(), static_cast<int>(feed.dims.size()), copy,
                                                 feed.bytes, FreeCopy, nullptr);
        if (tensors_[feed.index] != nullptr) materialized_.push_back(feed.index);
      }
      if (tensors_[feed.index] == nullptr) failure = {"RESOURCE_EXHAUSTED", FeedLabel(feed.name) + ": cannot allocate a copy of " + std::to_string(feed.bytes) + " bytes"};
      g_copied_feeds.fetch_add(1, std::memory_order_relaxed);
    }
    ReleasePin(nullptr, 0, feed.pin);
  }
  deferred_.clear();
  for (DeferredStrings& feed : deferred_strings_) {
    if (!failure) {
      // Checked again: the offsets are JS memory, and JS may have changed them since run().
      if (!OffsetsInOrder(feed.offsets, feed.count, feed.length)) {
        failure = {"INVALID_ARGUMENT", FeedLabel(feed.name) + ": string offsets changed while the run waited to start, and are out of order"};
      } else {
        tensors_[feed.index] = NewStringTensor(feed.dims, feed.base, feed.offsets, feed.count);
        if (tensors_[feed.index] == nullptr) failure = {"RESOURCE_EXHAUSTED", FeedLabel(feed.name) + ": cannot allocate " + std::to_string(feed.count) + " strings"};
        else materialized_.push_back(feed.index);
      }
    }
    ReleasePin(nullptr, 0, feed.pin_bytes);
    ReleasePin(nullptr, 0, feed.pin_offsets);
  }
  deferred_strings_.clear();
  return failure;
}

void FeedSet::ClearMaterialized() {
  for (size_t index : materialized_) {
    if (tensors_[index] != nullptr) tf().TF_DeleteTensor(std::exchange(tensors_[index], nullptr));
  }
  materialized_.clear();
}

void FeedSet::Clear() {
  // Deferred copies never made (the run did not start): their JS memory is unpinned.
  for (DeferredCopy& feed : deferred_) ReleasePin(nullptr, 0, feed.pin);
  deferred_.clear();
  for (DeferredStrings& feed : deferred_strings_) {
    ReleasePin(nullptr, 0, feed.pin_bytes);
    ReleasePin(nullptr, 0, feed.pin_offsets);
  }
  deferred_strings_.clear();
  // At once, on any thread: a feed's buffer is memory of ours (borrowed, copied or a shared
  // segment; TF_NewTensor never copies it, as it is aligned), so deleting it never enters
  // TensorFlow's allocator. Where TensorFlow still holds the buffer (an output aliasing
  // it), this only drops a reference; the output's deletion frees it.
  for (TF_Tensor* tensor : tensors_) {
    if (tensor != nullptr) tf().TF_DeleteTensor(tensor);
  }
  tensors_.clear();
  materialized_.clear();
}

void MarkJsThread() { t_js_thread = true; }

void StopReaperForExit() { Reaper::Get().Stop(); }

void StartReaper() { Reaper::Get(); }

void DeleteTensor(TF_Tensor* tensor) {
  if (t_js_thread) Reaper::Get().Delete(tensor, false);
  else tf().TF_DeleteTensor(tensor);
}

bool FeedSet::Borrows(const void* p, size_t n) const {
  uintptr_t begin = reinterpret_cast<uintptr_t>(p);
  uintptr_t end = begin + n;
  for (const auto& range : borrowed_) {
    if (begin < range.second && range.first < end) return true;
  }
  return false;
}

namespace {
std::mutex g_pins_mutex;
std::unordered_map<const void*, int> g_pins;  // ArrayBuffer start -> pins
// Frees waiting for them; several buffers may start at one address (views of a shared segment).
std::unordered_multimap<const void*, std::pair<void (*)(void*), void*>> g_unpinned;
}  // namespace

HeldMemory::HeldMemory(napi_env env, napi_value arraybuffer) : segment_(RetainSegmentMapping(env, arraybuffer)) {
  void* start = nullptr;
  size_t length = 0;
  if (arraybuffer != nullptr && napi_get_arraybuffer_info(env, arraybuffer, &start, &length) == napi_ok) start_ = start;
  PinMemory(start_);
}

HeldMemory::HeldMemory(HeldMemory&& other) noexcept
    : start_(std::exchange(other.start_, nullptr)), segment_(std::exchange(other.segment_, nullptr)) {}

HeldMemory& HeldMemory::operator=(HeldMemory&& other) noexcept {
  if (this != &other) {
    Release();
    start_ = std::exchange(other.start_, nullptr);
    segment_ = std::exchange(other.segment_, nullptr);
  }
  return *this;
}

void HeldMemory::Release() {
  UnpinMemory(std::exchange(start_, nullptr));
  ReleaseSegmentMapping(std::exchange(segment_, nullptr));
}

void PinMemory(const void* start) {
  if (start == nullptr) return;
  std::lock_guard<std::mutex> lock(g_pins_mutex);
  ++g_pins[start];
}

void UnpinMemory(const void* start) {
  if (start == nullptr) return;
  std::vector<std::pair<void (*)(void*), void*>> due;
  {
    std::lock_guard<std::mutex> lock(g_pins_mutex);
    auto found = g_pins.find(start);
    if (found == g_pins.end() || --found->second > 0) return;
    g_pins.erase(found);
    auto waiting = g_unpinned.equal_range(start);
    for (auto it = waiting.first; it != waiting.second; ++it) due.push_back(it->second);
    g_unpinned.erase(waiting.first, waiting.second);
  }
  for (const auto& [release, what] : due) release(what);
}

void ReleaseWhenUnpinned(const void* start, void (*release)(void*), void* what) {
  {
    std::lock_guard<std::mutex> lock(g_pins_mutex);
    if (start != nullptr && g_pins.count(start) != 0) {
      g_unpinned.emplace(start, std::make_pair(release, what));
      return;
    }
  }
  release(what);
}

PreparedOutput::~PreparedOutput() {
  FreeCopyBuffer(bytes, total);
  FreeCopyBuffer(offsets, (count + 1) * sizeof(double));
}

namespace {

// The bytes of a string tensor's strings, all together.
size_t StringBytes(TF_Tensor* tensor) {
  size_t n = static_cast<size_t>(tf().TF_TensorElementCount(tensor));
  const TF_TString* strings = static_cast<const TF_TString*>(tf().TF_TensorData(tensor));
  size_t total = 0;
  for (size_t i = 0; i < n; ++i) total += tf().TF_StringGetSize(&strings[i]);
  return total;
}

// Writes a string tensor's strings back to back into `dst` (StringBytes long) and their
// element count + 1 offsets into `offsets` (any thread).
void PackStringsInto(TF_Tensor* tensor, char* dst, double* offsets) {
  size_t n = static_cast<size_t>(tf().TF_TensorElementCount(tensor));
  const TF_TString* strings = static_cast<const TF_TString*>(tf().TF_TensorData(tensor));
  size_t offset = 0;
  for (size_t i = 0; i < n; ++i) {
    offsets[i] = static_cast<double>(offset);
    size_t size = tf().TF_StringGetSize(&strings[i]);
    if (size != 0) std::memcpy(dst + offset, tf().TF_StringGetDataPointer(&strings[i]), size);
    offset += size;
  }
  offsets[n] = static_cast<double>(offset);
}

// Packs a string tensor of `n` strings and `total` bytes into `into` (any thread); false
// without memory.
bool PackStrings(TF_Tensor* tensor, size_t n, size_t total, PreparedOutput& into) {
  void* bytes = AlignedCopyBuffer(total);
  void* offsets = AlignedCopyBuffer((n + 1) * sizeof(double));
  if (bytes == nullptr || offsets == nullptr) {
    FreeCopyBuffer(bytes, total);
    FreeCopyBuffer(offsets, (n + 1) * sizeof(double));
    return false;
  }
  PackStringsInto(tensor, static_cast<char*>(bytes), static_cast<double*>(offsets));
  into.bytes = bytes;
  into.offsets = static_cast<double*>(offsets);
  into.total = total;
  into.count = n;
  into.packed = true;
  return true;
}

}  // namespace

const void* OutputOwner::Data() const { return tensor != nullptr ? tf().TF_TensorData(tensor) : memory; }

void OutputOwner::Release() {
  if (tensor != nullptr) DeleteOutputTensor(std::exchange(tensor, nullptr));
  if (memory == nullptr) return;
  // Unmapping tens of MiB takes milliseconds: not on the JS thread.
  if (bytes >= kUrgentBytes && t_js_thread) Reaper::Get().Free(memory, bytes);
  else FreeCopyBuffer(memory, bytes);
  memory = nullptr;
}

void OutputOwner::ReleaseUnpinned(OutputOwner* owner) {
  ReleaseWhenUnpinned(owner->Data(), [](void* what) {
    auto* held = static_cast<OutputOwner*>(what);
    held->Release();
    delete held;
  }, owner);
}

void OutputOwner::Finalize(napi_env /*env*/, void* /*data*/, void* owner) { ReleaseUnpinned(static_cast<OutputOwner*>(owner)); }

Napi::Value NewExternal(Napi::Env env, void* data, size_t bytes, napi_finalize finalize, void* hint, bool as_buffer) {
  // The same entry checks as the external buffer's (an environment that runs no JS fails both),
  // on a buffer that owns nothing.
  void* unused = nullptr;
  napi_value probe = nullptr;
  if (napi_status status = napi_create_arraybuffer(env, 0, &unused, &probe); status != napi_ok) {
    finalize(env, data, hint);
    NAPI_THROW_IF_FAILED(env, status, Napi::Value());
  }
  napi_value value = nullptr;
  napi_status status = as_buffer ? napi_create_external_buffer(env, bytes, data, finalize, hint, &value)
                                 : napi_create_external_arraybuffer(env, data, bytes, finalize, hint, &value);
  NAPI_THROW_IF_FAILED(env, status, Napi::Value());
  return Napi::Value(env, value);
}

Napi::ArrayBuffer AdoptMalloced(Napi::Env env, void* memory, size_t bytes) {
  // V8 counts an external buffer's bytes itself, as for OutputToJs' buffers. Wrapped as an
  // output's, so that dispose() (ReleaseOutput) frees it at once.
  auto* owner = new OutputOwner();
  owner->memory = memory;
  owner->bytes = bytes;
  Napi::ArrayBuffer buffer = NewExternal(env, memory, bytes, OutputOwner::Finalize, owner, false).As<Napi::ArrayBuffer>();
  // From here the finalizer frees it, whatever fails.
  NAPI_THROW_IF_FAILED(env, napi_type_tag_object(env, buffer, &kOutputTag), buffer);
  NAPI_THROW_IF_FAILED(env, napi_wrap(env, buffer, owner, nullptr, nullptr, nullptr), buffer);
  return buffer;
}

Napi::Value CopyNow(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray()) throw MakeTypeError(env, "copyNow(view) needs a typed array");
  // The element pointer from napi_get_typedarray_info: a SharedArrayBuffer's too.
  void* data = nullptr;
  NAPI_THROW_IF_FAILED(env, napi_get_typedarray_info(env, info[0], nullptr, nullptr, &data, nullptr, nullptr), Napi::Value());
  size_t bytes = info[0].As<Napi::TypedArray>().ByteLength();
  void* copy = AlignedCopyBuffer(bytes);
  if (copy == nullptr) throw MakeError(env, "RESOURCE_EXHAUSTED", "cannot allocate a copy of " + std::to_string(bytes) + " bytes");
  if (bytes != 0 && data != nullptr) std::memcpy(copy, data, bytes);
  return AdoptMalloced(env, copy, bytes);
}

namespace {

Napi::Error LengthPrefixedUsage(Napi::Env env, const char* name) {
  return MakeTypeError(env, std::string(name) + "(bytes, offsets) needs a Uint8Array and a Float64Array of ascending whole offsets within it");
}

}  // namespace

LengthPrefixedSource ReadLengthPrefixedSource(const Napi::CallbackInfo& info, const char* name) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsTypedArray() || !info[1].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    throw LengthPrefixedUsage(env, name);
  }
  Napi::Uint8Array bytes = info[0].As<Napi::Uint8Array>();
  Napi::Float64Array offsets = info[1].As<Napi::Float64Array>();
  LengthPrefixedSource source{bytes, offsets, bytes.Data(), offsets.Data(), 0, static_cast<double>(bytes.ByteLength()), 0};
  source.count = offsets.ElementLength() == 0 ? 0 : offsets.ElementLength() - 1;
  const double* at = source.offsets_data;
  for (size_t i = 0; i < offsets.ElementLength(); ++i) {
    double offset = at[i];
    if (!(offset >= 0 && offset <= source.limit && offset == static_cast<double>(static_cast<size_t>(offset))) ||
        (i > 0 && !(offset >= at[i - 1] && offset - at[i - 1] <= 4294967295.0))) {
      throw LengthPrefixedUsage(env, name);
    }
  }
  source.total = source.count == 0 ? 0 : static_cast<size_t>(at[source.count]) - static_cast<size_t>(at[0]) + 4 * source.count;
  if (static_cast<double>(source.total) > kMaxBufferBytes) throw MakeError(env, PastBufferLimit("BYTES laid out with their lengths", static_cast<double>(source.total)));
  return source;
}

bool LayOutLengthPrefixed(const uint8_t* source, const double* at, size_t count, double limit, uint8_t* out, size_t total) {
  uint8_t* write = out;
  for (size_t i = 0; i < count; ++i) {
    // Read again, and checked again: a SharedArrayBuffer's offsets may change under us.
    double first = at[i];
    double last = at[i + 1];
    bool fits = first >= 0 && last >= first && last <= limit;
    size_t start = fits ? static_cast<size_t>(first) : 0;
    size_t end = fits ? static_cast<size_t>(last) : 0;
    if (!fits || end - start > 4294967295u || end - start + 4 > total - static_cast<size_t>(write - out)) return false;
    uint32_t length = static_cast<uint32_t>(end - start);
    write[0] = static_cast<uint8_t>(length);
    write[1] = static_cast<uint8_t>(length >> 8);
    write[2] = static_cast<uint8_t>(length >> 16);
    write[3] = static_cast<uint8_t>(length >> 24);
    if (length != 0) std::memcpy(write + 4, source + start, length);
    write += 4 + length;
  }
  return write == out + total;  // else they changed: nothing of the memory's old contents goes out
}

Napi::Value LengthPrefixed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LengthPrefixedSource source = ReadLengthPrefixedSource(info, "lengthPrefixed");
  if (source.total == 0) return Napi::ArrayBuffer::New(env, 0);
  auto* out = static_cast<uint8_t*>(AlignedCopyBuffer(source.total));
  if (out == nullptr) throw MakeError(env, "RESOURCE_EXHAUSTED", "cannot allocate " + std::to_string(source.total) + " bytes");
  if (!LayOutLengthPrefixed(source.bytes_data, source.offsets_data, source.count, source.limit, out, source.total)) {
    FreeCopyBuffer(out, source.total);
    throw LengthPrefixedUsage(env, "lengthPrefixed");
  }
  return AdoptMalloced(env, out, source.total);
}

namespace {

// prepared[i], made (one entry per tensor) the first time any is wanted, unless the caller made
// them already (RunJob sizes its list on the JS thread, so that the runner allocates nothing the
// JS thread frees).
PreparedOutput& PreparedEntry(std::vector<PreparedOutput>& prepared, size_t count, size_t i) {
  if (prepared.size() != count) prepared = std::vector<PreparedOutput>(count);
  return prepared[i];
}

// Whether `tensor` is a small numeric output that the thread which ran it copies out (numeric,
// under kZeroCopyMinBytes, rank kTakenMaxRank at most), with its dtype, byte size and rank.
bool SmallNumeric(TF_Tensor* tensor, TF_DataType& dtype, size_t& bytes, int& rank) {
  if (tensor == nullptr) return false;
  dtype = tf().TF_TensorType(tensor);
  if (dtype == TF_STRING || DataTypeSize(dtype) == 0) return false;
  bytes = tf().TF_TensorByteSize(tensor);
  rank = tf().TF_NumDims(tensor);
  return bytes < kZeroCopyMinBytes && rank <= PreparedOutput::kTakenMaxRank;
}

}  // namespace

void TakeSmallOutputs(std::vector<TF_Tensor*>& tensors, std::vector<PreparedOutput>& prepared) {
  for (size_t i = 0; i < tensors.size(); ++i) {
    TF_Tensor* tensor = tensors[i];
    TF_DataType dtype;
    size_t bytes;
    int rank;
    if (!SmallNumeric(tensor, dtype, bytes, rank)) continue;
    PreparedOutput& into = PreparedEntry(prepared, tensors.size(), i);
    if (bytes > PreparedOutput::kInlineBytes) {
      into.heap_data.reset(new (std::nothrow) unsigned char[bytes]);
      if (!into.heap_data) continue;  // no memory: OutputToJs copies it as before
    }
    if (bytes != 0) std::memcpy(into.heap_data ? into.heap_data.get() : into.inline_data, tf().TF_TensorData(tensor), bytes);
    into.dtype = dtype;
    into.rank = rank;
    for (int d = 0; d < rank; ++d) into.dims[d] = tf().TF_Dim(tensor, d);
    into.taken_bytes = bytes;
    into.taken = true;
    tf().TF_DeleteTensor(tensor);
    tensors[i] = nullptr;
  }
}

bool TakeOutputsInto(std::vector<TF_Tensor*>& tensors, unsigned char* scratch, size_t capacity) {
  if (scratch == nullptr) return false;
  auto padded = [](size_t bytes) { return (bytes + 7) & ~size_t{7}; };
  size_t need = 0;
  for (TF_Tensor* tensor : tensors) {
    TF_DataType dtype;
    size_t bytes;
    int rank;
    if (!SmallNumeric(tensor, dtype, bytes, rank)) return false;
    need += (3 + static_cast<size_t>(rank)) * sizeof(double) + padded(bytes);
    if (need > capacity) return false;
  }
  double* at = reinterpret_cast<double*>(scratch);
  for (TF_Tensor*& tensor : tensors) {
    int rank = tf().TF_NumDims(tensor);
    size_t bytes = tf().TF_TensorByteSize(tensor);
    *at++ = static_cast<double>(tf().TF_TensorType(tensor));
    *at++ = static_cast<double>(rank);
    for (int d = 0; d < rank; ++d) *at++ = static_cast<double>(tf().TF_Dim(tensor, d));
    *at++ = static_cast<double>(bytes);
    if (bytes != 0) std::memcpy(at, tf().TF_TensorData(tensor), bytes);
    at += padded(bytes) / sizeof(double);
    tf().TF_DeleteTensor(tensor);
    tensor = nullptr;
  }
  g_copied_outputs.fetch_add(tensors.size(), std::memory_order_relaxed);
  return true;
}

void PrepareOutputs(std::vector<TF_Tensor*>& tensors, const FeedSet& feeds, std::vector<PreparedOutput>& prepared) {
  TakeSmallOutputs(tensors, prepared);
  auto entry = [&](size_t i) -> PreparedOutput& { return PreparedEntry(prepared, tensors.size(), i); };
  for (size_t i = 0; i < tensors.size(); ++i) {
    TF_Tensor* tensor = tensors[i];
    if (tensor == nullptr) continue;
    TF_DataType dtype = tf().TF_TensorType(tensor);
    if (dtype == TF_STRING) {
      size_t n = static_cast<size_t>(tf().TF_TensorElementCount(tensor));
      size_t total = StringBytes(tensor);
      // Small ones are cheaper packed where JS wants them.
      if (total + (n + 1) * sizeof(double) >= kZeroCopyMinBytes && PackStrings(tensor, n, total, entry(i))) {
        g_prepared_outputs.fetch_add(1, std::memory_order_relaxed);
      }
      continue;
    }
    size_t bytes = tf().TF_TensorByteSize(tensor);
    if (DataTypeSize(dtype) == 0 || bytes < kZeroCopyMinBytes || static_cast<double>(bytes) > kMaxBufferBytes) continue;
    const void* data = tf().TF_TensorData(tensor);
    if (!feeds.Borrows(data, bytes)) {
      // This run alone holds the buffer: OutputToJs hands it over as it is.
      TF_Tensor* moved = tf().TF_TensorMaybeMove(tensor);
      if (moved != nullptr) {
        tensors[i] = moved;  // TF_TensorMaybeMove deleted the old handle
        continue;
      }
    }
    int rank = tf().TF_NumDims(tensor);
    std::vector<int64_t> dims(static_cast<size_t>(rank));
    for (int d = 0; d < rank; ++d) dims[static_cast<size_t>(d)] = tf().TF_Dim(tensor, d);
    // TensorFlow's allocator, so the copy is a buffer TF_TensorMaybeMove lets JS take over.
    TF_Tensor* own = tf().TF_AllocateTensor(dtype, dims.data(), rank, bytes);
    if (own == nullptr) continue;
    if (tf().TF_TensorData(own) == nullptr) {
      tf().TF_DeleteTensor(own);
      continue;
    }
    std::memcpy(tf().TF_TensorData(own), data, bytes);
    tf().TF_DeleteTensor(tensor);
    tensors[i] = own;
    entry(i).copied = true;
    g_copied_outputs.fetch_add(1, std::memory_order_relaxed);
    g_prepared_outputs.fetch_add(1, std::memory_order_relaxed);
  }
}

namespace {

// out[at] = dtype, out[at + 1] = [dim(0), ..., dim(rank - 1)].
template <typename Dim>
void PutDtypeAndShape(Napi::Env env, Napi::Array out, uint32_t at, TF_DataType dtype, int rank, Dim dim) {
  Napi::Array shape = Napi::Array::New(env, static_cast<size_t>(rank));
  for (int i = 0; i < rank; ++i) {
    shape.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(dim(i))));
  }
  out.Set(at, Napi::Number::New(env, dtype));
  out.Set(at + 1, shape);
}

// A JS-owned copy of `bytes` at `data` (counted as a copied output).
Napi::ArrayBuffer CopiedOutput(Napi::Env env, const void* data, size_t bytes) {
  g_copied_outputs.fetch_add(1, std::memory_order_relaxed);
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, bytes);
  if (bytes != 0) std::memcpy(buffer.Data(), data, bytes);
  return buffer;
}

}  // namespace

void OutputToJs(Napi::Env env, TF_Tensor* raw, const FeedSet& feeds, Napi::Array out, uint32_t at, PreparedOutput* prepared) {
  if (raw == nullptr && prepared != nullptr && prepared->taken) {
    // Copied out by TakeSmallOutputs, where its tensor was deleted.
    PutDtypeAndShape(env, out, at, prepared->dtype, prepared->rank, [&](int i) { return prepared->dims[i]; });
    size_t bytes = prepared->taken_bytes;
    Napi::ArrayBuffer buffer = CopiedOutput(env, prepared->TakenData(), bytes);
    out.Set(at + 2, NewTypedArray(env, prepared->dtype, buffer, bytes / DataTypeSize(prepared->dtype)));
    return;
  }
  // Ours from here: freed on every way out, a JS allocation that throws included, until a
  // buffer's finalizer takes it.
  TensorPtr tensor(raw);
  TF_DataType dtype = tf().TF_TensorType(tensor.get());
  PutDtypeAndShape(env, out, at, dtype, tf().TF_NumDims(tensor.get()), [&](int i) { return tf().TF_Dim(tensor.get(), i); });
  if (prepared != nullptr && prepared->packed) {
    tensor.reset();
    size_t total = prepared->total;
    size_t count = prepared->count;
    double largest = static_cast<double>(std::max(total, (count + 1) * sizeof(double)));
    if (largest > kMaxBufferBytes) throw MakeError(env, PastBufferLimit("an output", largest));
    // AdoptMalloced takes each, even when it throws.
    Napi::ArrayBuffer bytes = AdoptMalloced(env, std::exchange(prepared->bytes, nullptr), total);
    Napi::ArrayBuffer offsets = AdoptMalloced(env, std::exchange(prepared->offsets, nullptr), (count + 1) * sizeof(double));
    Napi::Object packed = Napi::Object::New(env);
    packed.Set("bytes", Napi::Uint8Array::New(env, total, bytes, 0));
    packed.Set("offsets", Napi::Float64Array::New(env, count + 1, offsets, 0));
    out.Set(at + 2, packed);
    return;
  }
  if (dtype == TF_STRING) {
    size_t n = static_cast<size_t>(tf().TF_TensorElementCount(tensor.get()));
    size_t total = StringBytes(tensor.get());
    Napi::ArrayBuffer bytes = Napi::ArrayBuffer::New(env, total);
    Napi::Float64Array offsets = Napi::Float64Array::New(env, n + 1);
    PackStringsInto(tensor.get(), static_cast<char*>(bytes.Data()), offsets.Data());
    tensor.reset();
    Napi::Object packed = Napi::Object::New(env);
    packed.Set("bytes", Napi::Uint8Array::New(env, total, bytes, 0));
    packed.Set("offsets", offsets);
    out.Set(at + 2, packed);
    return;
  }
  size_t element_size = DataTypeSize(dtype);
  if (element_size == 0) {
    throw MakeError(env, "UNIMPLEMENTED",
                    "output dtype " + std::to_string(dtype) + " is not supported by tfslice");
  }
  size_t bytes = tf().TF_TensorByteSize(tensor.get());
  if (static_cast<double>(bytes) > kMaxBufferBytes) throw MakeError(env, PastBufferLimit("an output", static_cast<double>(bytes)));
  // Only a buffer this run alone holds may be handed to JS: a fetched Const, a variable's
  // value or a tensor fetched twice share TensorFlow's own buffer (TF_SessionRun returns a
  // shallow copy), and a JS write into it would change the model.
  TF_Tensor* movable = nullptr;
  if (bytes >= kZeroCopyMinBytes && !feeds.Borrows(tf().TF_TensorData(tensor.get()), bytes)) {
    movable = tf().TF_TensorMaybeMove(tensor.get());
    if (movable != nullptr) {
      tensor.release();  // TF_TensorMaybeMove deleted it (and returned its successor)
      tensor.reset(movable);
    }
  }
  Napi::ArrayBuffer buffer;
  if (movable != nullptr) {
    // TensorFlow's buffer, freed by the collector or, earlier, by ReleaseOutput(): the finalizer's
    // from here, whatever fails.
    auto* held = new OutputOwner();
    held->tensor = tensor.release();
    buffer = NewExternal(env, tf().TF_TensorData(held->tensor), bytes, OutputOwner::Finalize, held, false).As<Napi::ArrayBuffer>();
    // V8 counts an external buffer's bytes as external memory itself (its ArrayBuffer
    // sweeper), and frees one nobody disposes in a scavenge. Reporting them once more
    // (AdjustExternalMemory) doubled the count: every 48 MiB output then forced a full
    // mark-compact, even when disposed at once (tens of ms on the JS thread with a big heap).
    NAPI_THROW_IF_FAILED_VOID(env, napi_type_tag_object(env, buffer, &kOutputTag));
    NAPI_THROW_IF_FAILED_VOID(env, napi_wrap(env, buffer, held, nullptr, nullptr, nullptr));
    // A copy made on the runner counted as copied there.
    if (prepared == nullptr || !prepared->copied) g_wrapped_outputs.fetch_add(1, std::memory_order_relaxed);
  } else {
    buffer = CopiedOutput(env, tf().TF_TensorData(tensor.get()), bytes);
    tensor.reset();
  }
  out.Set(at + 2, NewTypedArray(env, dtype, buffer, bytes / element_size));
}

void ReleaseOutput(Napi::Env env, Napi::ArrayBuffer buffer) {
  bool ours = false;
  OutputOwner taken;
  void* owner = nullptr;
  if (napi_check_object_type_tag(env, buffer, &kOutputTag, &ours) == napi_ok && ours &&
      napi_remove_wrap(env, buffer, &owner) == napi_ok && owner != nullptr) {
    // Unwrapped first: once detached, the finalizer may free the owner at any time, and a
    // second release must not find it.
    OutputOwner* held = static_cast<OutputOwner*>(owner);
    taken.tensor = std::exchange(held->tensor, nullptr);
    taken.memory = std::exchange(held->memory, nullptr);
    taken.bytes = held->bytes;
  }
  // Detached before the free: JS can no longer reach the memory. (Detaching alone frees
  // nothing: Node runs an external buffer's finalizer when the collector takes the object.)
  if (!buffer.IsDetached()) buffer.Detach();
  // Runner work that still reads it (a copy job) has it pinned: freed when that is done.
  if (taken.tensor != nullptr || taken.memory != nullptr) OutputOwner::ReleaseUnpinned(new OutputOwner(taken));
}

void CountThreadCopies(uint64_t n) { g_thread_copies.fetch_add(n, std::memory_order_relaxed); }
void CountThreadLayout() { g_thread_layouts.fetch_add(1, std::memory_order_relaxed); }

TensorStats CurrentTensorStats() {
  return {g_borrowed_feeds.load(std::memory_order_relaxed), g_copied_feeds.load(std::memory_order_relaxed),
          g_wrapped_outputs.load(std::memory_order_relaxed), g_copied_outputs.load(std::memory_order_relaxed),
          g_prepared_outputs.load(std::memory_order_relaxed), g_thread_copies.load(std::memory_order_relaxed),
          g_thread_layouts.load(std::memory_order_relaxed),
          g_pinned_now.load(std::memory_order_relaxed), g_trims.load(std::memory_order_relaxed), g_arena_checks.load(std::memory_order_relaxed),
          g_released_since_check.load(std::memory_order_relaxed), Reaper::Get().Pending(),
          g_reused_buffers.load(std::memory_order_relaxed), BigBuffers::Get().KeptBytes()};
}

Napi::ArrayBuffer NewAlignedArrayBuffer(Napi::Env env, size_t bytes) {
  if (bytes == 0) return Napi::ArrayBuffer::New(env, 0);
  size_t rounded = CopyCapacity(bytes);
  void* memory = std::aligned_alloc(CopyAlignment(), rounded);
  if (memory == nullptr) throw MakeError(env, "RESOURCE_EXHAUSTED", "cannot allocate " + std::to_string(bytes) + " bytes");
  std::memset(memory, 0, rounded);
  return NewExternal(env, memory, bytes, [](napi_env, void* p, void*) { ReleaseWhenUnpinned(p, std::free, p); }, nullptr, false)
      .As<Napi::ArrayBuffer>();
}

void FreeStrings(void* data, size_t len, void* /*arg*/) {
  TF_TString* strings = static_cast<TF_TString*>(data);
  for (size_t i = 0, n = len / sizeof(TF_TString); i < n; ++i) tf().TF_StringDealloc(&strings[i]);
  std::free(data);
}

}  // namespace tfslice
