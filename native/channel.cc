#include "channel.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "errors.h"
#include "session.h"
#include "shm.h"
#include "tensor.h"

#include "uv_compat.h"

namespace tfslice {
namespace {

enum RequestFlags : uint32_t { kNewSegment = 1, kNames = 2, kShared = 4, kReleased = 8, kWaitUntil = 16, kDropped = 32, kTimeout = 64, kStartBelow = 128 };
// A feed in the run's slot; any other number names a shared feed segment (kShared).
constexpr uint32_t kInSlot = 0;
// A request that runs nothing: it only announces or releases shared feed segments.
constexpr uint32_t kNoPlan = 0;
enum ReplyStatus : uint32_t { kDone = 0, kFailed = 1, kFallback = 2 };
enum ReplyFlags : uint32_t { kMoved = 1 };
// Channel::Send's answer (lib/native.ts NativeChannel.send).
enum SendResult : int { kSendFailed = -1, kSendFull = 0, kSent = 1 };

constexpr size_t kAlignment = 64;  // lib/ipc.ts ALIGNMENT
// A run's word in the control segment (lib/ipc.ts runTag, takeRun): RunTag(id) while it is
// queued for the host, -RunTag(id) once the parent cancelled it, kRunStarted once taken here.
constexpr int32_t kRunStarted = 0;
int32_t RunTag(uint32_t id) { return static_cast<int32_t>(id % 0x7FFFFFFEu) + 1; }
// How long the host's reading thread polls its socket before it blocks.
constexpr auto kServeSpin = std::chrono::microseconds(50);
constexpr double kMaxExact = 9007199254740991.0;
constexpr size_t kMaxMessageText = 16 * 1024;
// The host's exit code when its direct path breaks under it (lib/isolation.ts reports it).
constexpr int kBrokenChannelExit = 70;

size_t Align(size_t n) { return (n + kAlignment - 1) / kAlignment * kAlignment; }

std::string SystemError(const std::string& what) { return what + ": " + std::strerror(errno); }

// A request the host cannot serve: answered with this failure, nothing ran.
struct Refused {
  Failure failure;
};

[[noreturn]] void Refuse(const std::string& code, const std::string& message) { throw Refused{{code, message}}; }

class Reader {
 public:
  Reader(const uint8_t* data, size_t length) : at_(data), end_(data + length) {}

  template <typename T>
  T Get() {
    if (static_cast<size_t>(end_ - at_) < sizeof(T)) Refuse("INTERNAL", "a direct-path request was cut short");
    T value;
    std::memcpy(&value, at_, sizeof(T));
    at_ += sizeof(T);
    return value;
  }

  // A float64 that must be a whole number in [0, 2^53).
  size_t Count() {
    double value = Get<double>();
    if (!(value >= 0 && value <= kMaxExact && value == std::floor(value))) {
      Refuse("INTERNAL", "a direct-path request holds a bad count");
    }
    return static_cast<size_t>(value);
  }

  std::string String() {
    uint32_t length = Get<uint32_t>();
    if (static_cast<size_t>(end_ - at_) < length) Refuse("INTERNAL", "a direct-path request was cut short");
    std::string out(reinterpret_cast<const char*>(at_), length);
    at_ += length;
    return out;
  }

 private:
  const uint8_t* at_;
  const uint8_t* end_;
};

class Writer {
 public:
  template <typename T>
  void Put(T value) {
    const uint8_t* bytes = reinterpret_cast<const uint8_t*>(&value);
    data_.insert(data_.end(), bytes, bytes + sizeof(T));
  }
  void String(const std::string& text) {
    Put<uint32_t>(static_cast<uint32_t>(text.size()));
    data_.insert(data_.end(), text.begin(), text.end());
  }
  // A u32 to fill in once the request is served (Loop: the time it took here).
  void PutLater() {
    later_ = data_.size();
    Put<uint32_t>(0u);
  }
  // Fills in the u32 PutLater() left, if it left one.
  void Fill(uint32_t value) {
    if (later_ != 0) std::memcpy(data_.data() + later_, &value, sizeof value);
  }
  const std::vector<uint8_t>& data() const { return data_; }

 private:
  std::vector<uint8_t> data_;
  size_t later_ = 0;
};

// A direct-path request's head (lib/ipc.ts encodeRun), read by the host's reading thread before
// it reads the next request.
struct RequestHead {
  uint32_t id = 0;
  uint32_t plan = 0;
  uint32_t slot = 0;
  uint32_t flags = 0;
  size_t used = 0;
  std::vector<uint32_t> dropped;  // kDropped: slots whose segments the parent let go of
  uint32_t start_below = 0;       // kStartBelow: sent ahead of its turn (RunServer::WaitBelow)
  double sent_ms = 0;             // kStartBelow: when the parent made it (CLOCK_MONOTONIC, ms)
};

// Reads `in`'s head into `head` (Refused when malformed: `head.id` is set once read).
void ReadHead(Reader& in, RequestHead& head) {
  head.id = in.Get<uint32_t>();
  head.plan = in.Get<uint32_t>();
  head.slot = in.Get<uint32_t>();
  head.flags = in.Get<uint32_t>();
  head.used = in.Count();
  if (head.flags & kDropped) {
    uint32_t count = in.Get<uint32_t>();
    for (uint32_t i = 0; i < count; ++i) head.dropped.push_back(in.Get<uint32_t>());
  }
  if (head.flags & kStartBelow) {
    head.start_below = in.Get<uint32_t>();
    head.sent_ms = in.Get<double>();
    if (head.start_below == 0) Refuse("INTERNAL", "a direct-path run sent ahead of its turn names no run limit");
    if (!(head.sent_ms >= 0 && head.sent_ms <= kMaxExact)) Refuse("INTERNAL", "a direct-path run sent ahead of its turn has no time it was sent");
  }
}

// A segment owned by whoever holds a reference: the slot's table, a run reading it, a tensor
// TensorFlow kept (unmapped when the last goes).
std::shared_ptr<Segment> Own(const Segment& segment) {
  return std::shared_ptr<Segment>(new Segment(segment), [](Segment* gone) {
    gone->Release();
    delete gone;
  });
}

// A feed in a slot: holds the slot's segment while TensorFlow holds the tensor, and says when
// TensorFlow let go of it (`released[index]`).
struct SlotFeed {
  std::shared_ptr<Segment> segment;
  std::shared_ptr<std::vector<std::atomic<bool>>> released;
  size_t index;
};

void DropSlotFeed(void* /*data*/, size_t /*length*/, void* arg) {
  auto* feed = static_cast<SlotFeed*>(arg);
  (*feed->released)[feed->index].store(true, std::memory_order_release);
  delete feed;
}

// A shared feed segment held while TensorFlow holds a tensor over it (which may outlive the
// run: a graph that keeps a fed tensor in a queue), whatever the parent releases meanwhile.
void DropSharedSegment(void* /*data*/, size_t /*length*/, void* arg) { delete static_cast<std::shared_ptr<Segment>*>(arg); }

struct TensorHeader {
  TF_DataType dtype;
  std::vector<int64_t> dims;
  size_t at;
  size_t bytes;
};

// One feed of a request; `name` labels it in errors. The parent checked the shape already
// (lib/tensor.ts); it is checked again because TensorFlow aborts on a shape it refuses.
TensorHeader ReadTensor(Reader& in, const std::string& name) {
  TensorHeader tensor;
  tensor.dtype = static_cast<TF_DataType>(in.Get<int32_t>());
  uint32_t rank = in.Get<uint32_t>();
  tensor.at = in.Count();
  tensor.bytes = in.Count();
  if (rank > kMaxRank) Refuse("INVALID_ARGUMENT", "feed '" + name + "': shape has " + std::to_string(rank) + " dimensions; TensorFlow allows at most " + std::to_string(kMaxRank));
  for (uint32_t i = 0; i < rank; ++i) tensor.dims.push_back(static_cast<int64_t>(in.Count()));
  std::string violation = ShapeViolation(tensor.dims.data(), tensor.dims.size());
  if (!violation.empty()) Refuse("INVALID_ARGUMENT", "feed '" + name + "': " + violation);
  uint64_t elements = 1;  // within int64 by the rule above
  for (int64_t dim : tensor.dims) elements *= static_cast<uint64_t>(dim);
  size_t size = DataTypeSize(tensor.dtype);
  if (size == 0 || elements > tensor.bytes || elements * size != tensor.bytes) {
    Refuse("INTERNAL", "a direct-path feed's dtype, shape and byte count disagree");
  }
  return tensor;
}

void WriteTensor(Writer& out, TF_Tensor* tensor, size_t at) {
  int rank = tf().TF_NumDims(tensor);
  out.Put<int32_t>(static_cast<int32_t>(tf().TF_TensorType(tensor)));
  out.Put<uint32_t>(static_cast<uint32_t>(rank));
  out.Put<double>(static_cast<double>(at));
  out.Put<double>(static_cast<double>(tf().TF_TensorByteSize(tensor)));
  for (int i = 0; i < rank; ++i) out.Put<double>(static_cast<double>(tf().TF_Dim(tensor, i)));
}

// The host's side: threads that take requests off the socket and run them. One thread
// waits in recv() at a time (the others wait for the reader lock), so a request wakes
// one thread, and runs that arrive together still run concurrently.
class RunServer {
 public:
  // `control`: the parent's run words (lib/ipc.ts takeRun), `words` of them; null for none.
  RunServer(int fd, std::shared_ptr<SessionCore> core, int32_t* control, size_t words)
      : fd_(fd), core_(std::move(core)), control_(control), control_words_(words) {}

  void Start(int threads) {
    for (int i = 0; i < threads; ++i) {
      std::thread thread([this] { Loop(); });
      pthread_setname_np(thread.native_handle(), "tfslice-serve");
      thread.detach();
    }
  }

 private:
  void Loop() {
    std::vector<uint8_t> buffer(kChannelMessageBytes);
    for (;;) {
      ssize_t length;
      Reader in(buffer.data(), 0);
      RequestHead head;
      std::optional<Failure> refused;
      // Counts among the runs executing here (WaitBelow) until TensorFlow is done with it (Run),
      // or, one that never got that far, until its reply is sent.
      bool counted = false;
      // A run sent ahead of its turn: its place among those waiting here (WaitBelow), 0 for others.
      uint64_t ahead = 0;
      {
        std::lock_guard<std::mutex> lead(reader_);
        // Awake for a while first: a parent that awaits each run sends the next one soon
        // after the last reply, and a sleeping thread is slow to wake (native/runner.h).
        auto until = std::chrono::steady_clock::now() + (BusyPollMicros() > 0 ? kServeSpin : std::chrono::microseconds(0));
        do {
          length = recv(fd_, buffer.data(), buffer.size(), MSG_TRUNC | MSG_DONTWAIT);
        } while ((length < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) &&
                 std::chrono::steady_clock::now() < until);
        while (length < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
          length = recv(fd_, buffer.data(), buffer.size(), MSG_TRUNC);
        }
        if (length > 0) {
          in = Reader(buffer.data(), std::min(static_cast<size_t>(length), buffer.size()));
          try {
            ReadHead(in, head);
            // Before the next request is read: one that announces a new segment for a dropped
            // slot (it comes later) must not be served first, and lose its segment to the drop.
            DropSlots(head.dropped);
            // Counted as read, before a later request can be: a run sent ahead of its turn
            // after this one must find it counted, whether or not its thread has taken it yet.
            if (head.plan != kNoPlan && head.start_below == 0) {
              Count();
              counted = true;
            } else if (head.plan != kNoPlan) {
              ahead = QueueAhead();  // in the order read, as the parent sent them
            }
          } catch (const Refused& failed) {
            refused = failed.failure;  // answered by Serve
          } catch (const std::bad_alloc&) {
            ExitOutOfMemory();
          }
        }
      }
      // The parent closed its end: the host exits through fd 3 closing.
      if (length == 0) return;
      // Any other failure leaves a request unanswered whose run would wait for ever: the host
      // ends, and the parent sees it as a crash (MODEL_CRASHED) instead of a hang.
      if (length < 0) std::_Exit(kBrokenChannelExit);
      auto received = std::chrono::steady_clock::now();
      Writer reply;
      Serve(head, refused, in, reply, counted, received, ahead);
      // Started, or refused before it could (its place then goes to the next run sent ahead).
      if (ahead != 0) LeaveAhead(ahead);
      // A done reply whose plan's next run goes to this thread (not to an inter-op pool) says
      // how long the parent waited here, its wait for a turn and the output copies included:
      // the parent polls for the next reply when that was short (lib/isolation.ts). (A failure
      // replaces the reply, and what it left to fill.)
      auto micros = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - received).count();
      reply.Fill(static_cast<uint32_t>(std::clamp<int64_t>(micros, 1, UINT32_MAX - 1)));
      if (reply.data().size() > kChannelMessageBytes) {
        // Only with thousands of outputs: say so rather than send what the parent cannot read.
        FailureReply(reply, head.id, {"UNIMPLEMENTED", "the outputs of this run do not fit a direct-path reply (" +
                                                           std::to_string(kChannelMessageBytes) + " bytes)"});
      }
      const std::vector<uint8_t>& data = reply.data();
      ssize_t sent;
      do {
        sent = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      } while (sent < 0 && errno == EINTR);
      if (sent < 0) std::_Exit(kBrokenChannelExit);
      // A run refused before it ran (cancelled, not started, a bad request): once its reply is
      // on its way.
      if (counted) Uncount();
    }
  }

  // One more run executing here (or about to).
  void Count() {
    std::lock_guard<std::mutex> lock(count_mutex_);
    ++executing_;
  }

  void Uncount() {
    {
      std::lock_guard<std::mutex> lock(count_mutex_);
      --executing_;
    }
    count_cv_.notify_all();
  }

  // A run sent ahead of its turn (kStartBelow, lib/model.ts): the parent's runs that hold the
  // model's turns (maxConcurrentRuns) went before it, and it takes the turn of the first of them
  // to end. It waits here, holding a serving thread but no count, until fewer than `below` runs
  // are executing and no run sent ahead before it still waits (`ahead`, QueueAhead: runs start
  // in the order they were sent, though one may reach this point later than the next, e.g.
  // mapping its slot's new segment first), then counts itself (true). It stops waiting (false)
  // once the parent cancels it (its caller gave up: its control word) or its wait limit passes;
  // Run's checks then refuse it. Polled every millisecond for those, which the parent does not
  // signal here.
  bool WaitBelow(uint32_t below, uint32_t slot, uint32_t id, double wait_until_ms, uint64_t ahead) {
    std::unique_lock<std::mutex> lock(count_mutex_);
    bool started = false;
    for (;;) {
      if (executing_ < below && (ahead_.empty() || *ahead_.begin() == ahead)) {
        ++executing_;
        started = true;
        break;
      }
      int32_t* word = Word(slot);
      if (word != nullptr && __atomic_load_n(word, __ATOMIC_ACQUIRE) == -RunTag(id)) break;
      if (wait_until_ms > 0 && MonotonicMs() > wait_until_ms) break;
      count_cv_.wait_for(lock, std::chrono::milliseconds(1));
    }
    // Out of the queue either way: the next run sent ahead may start now (below a limit of 2 or
    // more, or in this one's place).
    ahead_.erase(ahead);
    lock.unlock();
    count_cv_.notify_all();
    return started;
  }

  // A run sent ahead of its turn, read: its place among those waiting for a turn here.
  uint64_t QueueAhead() {
    std::lock_guard<std::mutex> lock(count_mutex_);
    ahead_.insert(++last_ahead_);
    return last_ahead_;
  }

  // Run sent ahead `ahead` started, or never will: the next one may.
  void LeaveAhead(uint64_t ahead) {
    {
      std::lock_guard<std::mutex> lock(count_mutex_);
      if (ahead_.erase(ahead) == 0) return;
    }
    count_cv_.notify_all();
  }

  static double MonotonicMs() {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }

  // Forgets the segments of the slots a request drops (lib/ipc.ts DirectRun.dropped: the parent
  // let go of them); a run still reading one keeps it mapped.
  void DropSlots(const std::vector<uint32_t>& slots) {
    if (slots.empty()) return;
    std::lock_guard<std::mutex> lock(mutex_);
    for (uint32_t slot : slots) segments_.erase(slot);
  }

  // Answers a request whose head was read (or refused: `refused`), the rest of it in `in`.
  // `counted`: set when a run sent ahead counts itself (WaitBelow); `received` moves to when
  // it did, so that the time reported is the run's, not its wait for a turn.
  void Serve(const RequestHead& head, const std::optional<Failure>& refused, Reader& in, Writer& reply, bool& counted,
             std::chrono::steady_clock::time_point& received, uint64_t ahead) {
    try {
      if (refused) return FailureReply(reply, head.id, *refused);
      reply.Put<uint32_t>(head.id);
      Run(head, in, reply, counted, received, ahead);
    } catch (const Refused& failed) {
      FailureReply(reply, head.id, failed.failure);
    } catch (const std::bad_alloc&) {
      ExitOutOfMemory();
    } catch (const std::exception& error) {
      FailureReply(reply, head.id, {"INTERNAL", std::string("the model host failed: ") + error.what()});
    }
  }

  // Replaces `reply` with a failure (its message bounded: a reply must fit one message).
  static void FailureReply(Writer& reply, uint32_t id, const Failure& failure) {
    reply = Writer();
    reply.Put<uint32_t>(id);
    reply.Put<uint32_t>(kFailed);
    reply.String(failure.code);
    reply.String(failure.message.substr(0, kMaxMessageText));
  }

  // Whether run `id` in `slot` may start: its word (lib/ipc.ts takeRun) goes from queued to
  // started, unless the parent cancelled it first (its caller gave up while it waited here).
  // A slot past the words, or a word the parent did not set for this run: not cancellable.
  bool Take(uint32_t slot, uint32_t id) {
    int32_t* word = Word(slot);
    if (word == nullptr) return true;
    int32_t queued = RunTag(id);
    int32_t seen = queued;
    if (__atomic_compare_exchange_n(word, &seen, kRunStarted, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return true;
    return seen != -queued;
  }

  // The parent's control word for `slot` (lib/ipc.ts takeRun); null past the words, or with none.
  int32_t* Word(uint32_t slot) const { return control_ == nullptr || slot >= control_words_ ? nullptr : control_ + slot; }

  void Run(const RequestHead& head, Reader& in, Writer& reply, bool& counted, std::chrono::steady_clock::time_point& received,
           uint64_t ahead) {
    const uint32_t id = head.id, plan_id = head.plan, slot = head.slot, flags = head.flags;
    const size_t used = head.used;
    // kWaitUntil: the run starts only until then (CLOCK_MONOTONIC, ms), its caller's
    // runTimeoutMs from when it was sent; a run still queued for this host then (its
    // caller has given up: a server answered 504) is not started, nor does it hold up the
    // runs behind it.
    double wait_until_ms = 0;
    double wait_limit_ms = 0;
    if (flags & kWaitUntil) {
      wait_until_ms = in.Get<double>();
      wait_limit_ms = in.Get<double>();
    }
    // kTimeout: the caller's runTimeoutMs (what is left of it), TensorFlow's RunOptions.timeout_in_ms.
    int64_t timeout_ms = 0;
    if (flags & kTimeout) {
      double timeout = in.Get<double>();
      if (!(timeout >= 1 && timeout <= kMaxExact)) Refuse("INTERNAL", "a direct-path run's timeout is not a whole number of ms from 1");
      timeout_ms = static_cast<int64_t>(timeout);
    }
    if (flags & kNewSegment) {
      int pid = in.Get<int32_t>();
      int fd = in.Get<int32_t>();
      size_t bytes = in.Count();
      std::lock_guard<std::mutex> lock(mutex_);
      std::shared_ptr<Segment>& held = segments_[slot];
      // The segment this slot holds already (it moved to one of ours): kept, since reopening
      // it would close the fd that names it. Anything else is opened before the old one is
      // let go (a tensor TensorFlow kept may still hold it).
      if (!(held && pid == getpid() && held->fd >= 0 && held->fd == fd && held->bytes >= bytes)) {
        Segment segment;
        if (Failure failure = OpenSegment(pid, fd, bytes, &segment)) throw Refused{failure};
        held = Own(segment);
      }
    }
    if (flags & kShared) MapShared(in);
    if (flags & kReleased) ReleaseShared(in);
    if (plan_id == kNoPlan) {
      reply.Put<uint32_t>(kDone);
      reply.Put<uint32_t>(0u);  // flags
      reply.Put<uint32_t>(0u);  // run microseconds
      reply.Put<uint32_t>(0u);  // outputs
      return;
    }
    if (head.start_below > 0) {
      counted = WaitBelow(head.start_below, slot, id, wait_until_ms, ahead);
      // TensorFlow's limit counts the wait for a turn (as a run waiting in the parent's queue):
      // here, and in the socket before (every serving thread busy).
      double waited = MonotonicMs() - head.sent_ms;
      if (timeout_ms > 0 && waited > 0) timeout_ms = std::max<int64_t>(1, timeout_ms - static_cast<int64_t>(waited));
      received = std::chrono::steady_clock::now();
    }
    if (wait_until_ms > 0) {
      double now = MonotonicMs();
      if (now > wait_until_ms) {
        Refuse("NOT_STARTED", "the run waited " + std::to_string(std::llround(now - wait_until_ms + wait_limit_ms)) +
                                  " ms for its model host, past its runTimeoutMs of " + std::to_string(std::llround(wait_limit_ms)) +
                                  " ms, and was not started");
      }
    }
    // Begun before it is taken: the parent's close waits until the runs that an idle host was
    // sent are taken (lib/isolation.ts, close), and the close must then find them begun.
    if (!core_->BeginRun()) Refuse("MODEL_DISPOSED", kDisposedMessage);
    struct Begun {
      SessionCore& core;
      ~Begun() { core.EndRun(); }
    } begun{*core_};
    if (!Take(slot, id)) Refuse("CANCELLED", "the run was cancelled while it waited for its model host, and was not started");
    std::shared_ptr<RunPlan> plan = PlanFor(plan_id, flags, in);
    if (!plan) {
      reply.Put<uint32_t>(kFallback);
      return;
    }
    std::shared_ptr<Segment> segment;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto found = segments_.find(slot);
      if (found != segments_.end()) segment = found->second;
    }
    if (!segment) Refuse("INTERNAL", "a direct-path run names a slot the host never mapped");
    uint32_t count = in.Get<uint32_t>();
    if (count != plan->inputs.size()) {
      Refuse("INVALID_ARGUMENT", "expected " + std::to_string(plan->inputs.size()) + " feeds, got " + std::to_string(count));
    }
    // The slot's feeds: where each lies, and whether TensorFlow let go of it after the run.
    auto released = std::make_shared<std::vector<std::atomic<bool>>>(count);
    std::vector<std::pair<const uint8_t*, size_t>> in_slot(count, {nullptr, 0});
    FeedSet feeds;
    for (uint32_t i = 0; i < count; ++i) {
      uint32_t in_segment = in.Get<uint32_t>();
      TensorHeader header = ReadTensor(in, plan->input_names[i]);
      // A shared feed's segment: held by its tensor while TensorFlow holds that, whatever a
      // release says meanwhile.
      std::shared_ptr<Segment> shared = in_segment == kInSlot ? nullptr : SharedSegment(in_segment);
      const Segment* source = shared ? shared.get() : segment.get();
      if (header.at > source->bytes || header.bytes > source->bytes - header.at) {
        Refuse("INTERNAL", "a direct-path feed lies outside its segment");
      }
      if (header.dtype == TF_BOOL) {
        if (Failure bad = CheckBoolBytes(plan->input_names[i], source->address + header.at, header.bytes)) throw Refused{bad};
      }
      TF_Tensor* tensor = nullptr;
      if (in_segment == kInSlot) {
        in_slot[i] = {source->address + header.at, header.bytes};
        tensor = tf().TF_NewTensor(header.dtype, header.dims.data(), static_cast<int>(header.dims.size()),
                                   source->address + header.at, header.bytes, DropSlotFeed, new SlotFeed{segment, released, i});
      } else {
        // On failure TF_NewTensor has called the deallocator already.
        tensor = tf().TF_NewTensor(header.dtype, header.dims.data(), static_cast<int>(header.dims.size()),
                                   source->address + header.at, header.bytes, DropSharedSegment,
                                   new std::shared_ptr<Segment>(std::move(shared)));
      }
      if (tensor == nullptr) Refuse("RESOURCE_EXHAUSTED", "feed '" + plan->input_names[i] + "': cannot allocate");
      feeds.Adopt(tensor);
    }
    Fetched fetched;
    Failure failure = RunPlanOnce(*plan, feeds, fetched, timeout_ms, true);
    // TensorFlow is done with it: a run sent ahead may start while this one's outputs are copied.
    if (counted) {
      Uncount();
      counted = false;
    }
    // Only this side knows what was left of a run's limit when it started after a wait for its
    // turn here: said after TensorFlow's words, in a form lib/model.ts (runError) reads.
    if (failure && head.start_below > 0 && timeout_ms > 0 && failure.code == "DEADLINE_EXCEEDED") {
      failure.message += " [" + std::to_string(timeout_ms) + " ms left at its start]";
    }
    if (failure) throw Refused{failure};
    feeds.Clear();
    UnaliasSlotFeeds(in_slot, fetched);
    // Whether its next run goes to this thread, not to an inter-op pool (a short plan does even
    // with a pool: native/session.cc): then Loop tells the parent the time the request took here.
    // (For the next run with the same kind of limit: a run with a timeout may go to the pool where
    // one without does not, MayRunOnCaller.)
    WriteOutputs(slot, segment, used, fetched, reply, KeptFeeds(in_slot, *released), plan->RunsOnCaller(timeout_ms));
  }

  // Outputs over a feed in the slot (a feed passed through, e.g. by Identity) become copies of
  // their own, so that only TensorFlow's own references can still hold a slot feed.
  static void UnaliasSlotFeeds(const std::vector<std::pair<const uint8_t*, size_t>>& in_slot, Fetched& fetched) {
    for (TF_Tensor*& tensor : fetched.tensors) {
      const uint8_t* data = static_cast<const uint8_t*>(tf().TF_TensorData(tensor));
      size_t bytes = tf().TF_TensorByteSize(tensor);
      bool aliased = std::any_of(in_slot.begin(), in_slot.end(), [data](const auto& feed) {
        return feed.first != nullptr && data >= feed.first && data < feed.first + feed.second;
      });
      if (!aliased || bytes == 0) continue;
      std::vector<int64_t> dims(static_cast<size_t>(tf().TF_NumDims(tensor)));
      for (size_t d = 0; d < dims.size(); ++d) dims[d] = tf().TF_Dim(tensor, static_cast<int>(d));
      TF_Tensor* copy = tf().TF_AllocateTensor(tf().TF_TensorType(tensor), dims.data(), static_cast<int>(dims.size()), bytes);
      if (copy == nullptr) Refuse("RESOURCE_EXHAUSTED", "cannot allocate " + std::to_string(bytes) + " bytes for an output that passes a feed through");
      std::memcpy(tf().TF_TensorData(copy), data, bytes);
      tf().TF_DeleteTensor(tensor);
      tensor = copy;
    }
  }

  // Whether TensorFlow still holds a feed in the slot after the run and its outputs were
  // unaliased (a graph that keeps a fed tensor: a queue). The next run's feeds would overwrite
  // it, so the slot moves to a new segment; the old one lives while it is held.
  static bool KeptFeeds(const std::vector<std::pair<const uint8_t*, size_t>>& in_slot, const std::vector<std::atomic<bool>>& released) {
    for (size_t i = 0; i < in_slot.size(); ++i) {
      const auto& [begin, bytes] = in_slot[i];
      if (begin != nullptr && bytes != 0 && !released[i].load(std::memory_order_acquire)) return true;
    }
    return false;
  }

  // Maps the shared feed segments a request announces (one the host holds already is kept:
  // runs in flight on several threads may all announce it until the parent hears back).
  void MapShared(Reader& in) {
    uint32_t count = in.Get<uint32_t>();
    for (uint32_t i = 0; i < count; ++i) {
      uint32_t id = in.Get<uint32_t>();
      int pid = in.Get<int32_t>();
      int fd = in.Get<int32_t>();
      size_t bytes = in.Count();
      if (id == kInSlot) Refuse("INTERNAL", "a direct-path request announces shared segment 0");
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (shared_.count(id) != 0) continue;
      }
      Segment segment;
      if (Failure failure = OpenSegment(pid, fd, bytes, &segment)) throw Refused{failure};
      std::shared_ptr<Segment> held = Own(segment);
      std::lock_guard<std::mutex> lock(mutex_);
      shared_.emplace(id, std::move(held));
    }
  }

  // Forgets shared feed segments the parent freed; a run still reading one keeps it mapped.
  void ReleaseShared(Reader& in) {
    uint32_t count = in.Get<uint32_t>();
    for (uint32_t i = 0; i < count; ++i) {
      uint32_t id = in.Get<uint32_t>();
      std::lock_guard<std::mutex> lock(mutex_);
      shared_.erase(id);
    }
  }

  std::shared_ptr<Segment> SharedSegment(uint32_t id) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = shared_.find(id);
    if (found == shared_.end()) Refuse("INTERNAL", "a direct-path feed names shared segment " + std::to_string(id) + ", which the host never mapped");
    return found->second;
  }

  // The plan for `id`, resolved from the names the request carries the first times it is
  // used; null when its outputs cannot cross this way (the parent then uses JSON frames).
  std::shared_ptr<RunPlan> PlanFor(uint32_t id, uint32_t flags, Reader& in) {
    std::vector<std::string> inputs, outputs;
    if (flags & kNames) {
      uint32_t in_count = in.Get<uint32_t>();
      uint32_t out_count = in.Get<uint32_t>();
      for (uint32_t i = 0; i < in_count; ++i) inputs.push_back(in.String());
      for (uint32_t i = 0; i < out_count; ++i) outputs.push_back(in.String());
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto found = plans_.find(id);
      if (found != plans_.end()) return found->second;
    }
    if (!(flags & kNames)) Refuse("INTERNAL", "a direct-path run names a plan the host does not know");
    // As a run: the graph must not be freed under the lookup (ResolvePlan reads every
    // output's dtype inside this window, so nothing touches the graph after EndRun).
    if (!core_->BeginRun()) Refuse("MODEL_DISPOSED", kDisposedMessage);
    auto plan = std::make_shared<RunPlan>();
    Failure failure = ResolvePlan(core_, inputs, outputs, *plan);
    core_->EndRun();
    if (failure) throw Refused{failure};
    if (!plan->all_numeric) plan = nullptr;
    std::lock_guard<std::mutex> lock(mutex_);
    return plans_.emplace(id, plan).first->second;
  }

  // Copies the outputs after the feeds (into a bigger segment of the host's when they do
  // not fit) and describes them; TensorFlow's buffers are freed with `fetched`.
  // `move`: to a new segment even when they fit (TensorFlow kept a feed in this one).
  // `on_caller`: the plan's next run goes to the serving thread: its time is filled in (Loop), else 0.
  void WriteOutputs(uint32_t slot, const std::shared_ptr<Segment>& segment, size_t used, Fetched& fetched, Writer& reply, bool move, bool on_caller) {
    size_t need = 0;
    for (TF_Tensor* tensor : fetched.tensors) {
      if (DataTypeSize(tf().TF_TensorType(tensor)) == 0) Refuse("INTERNAL", "a direct-path output is not numeric");
      need += Align(tf().TF_TensorByteSize(tensor));
    }
    size_t at = Align(used);
    std::shared_ptr<Segment> target = segment;
    bool moved = move || at + need > segment->bytes;
    if (moved) {
      // Room for these feeds and these outputs, so the next such run fits without a move.
      size_t bytes = segment->bytes;
      while (bytes < at + need) bytes *= 2;
      // Ours: its fd stays open for the parent to open.
      Segment created;
      if (Failure failure = CreateSegment(bytes, &created)) throw Refused{failure};
      target = Own(created);
    }
    reply.Put<uint32_t>(kDone);
    reply.Put<uint32_t>(moved ? static_cast<uint32_t>(kMoved) : 0u);
    if (on_caller) reply.PutLater(); else reply.Put<uint32_t>(0u);  // the request's µs (lib/ipc.ts DirectReply)
    if (moved) {
      reply.Put<int32_t>(static_cast<int32_t>(getpid()));
      reply.Put<int32_t>(target->fd);
      reply.Put<double>(static_cast<double>(target->bytes));
    }
    reply.Put<uint32_t>(static_cast<uint32_t>(fetched.tensors.size()));
    for (TF_Tensor* tensor : fetched.tensors) {
      size_t bytes = tf().TF_TensorByteSize(tensor);
      // memmove: an output may be a feed passed through, in place in the segment.
      if (bytes != 0) std::memmove(target->address + at, tf().TF_TensorData(tensor), bytes);
      WriteTensor(reply, tensor, at);
      at += Align(bytes);
    }
    if (moved) {
      // Only now: the outputs may have pointed into the old segment (which stays mapped while
      // a run or a kept tensor holds it).
      std::lock_guard<std::mutex> lock(mutex_);
      segments_[slot] = target;
    }
  }

  const int fd_;
  const std::shared_ptr<SessionCore> core_;
  int32_t* const control_;
  const size_t control_words_;
  std::mutex reader_;
  std::mutex mutex_;  // segments_, shared_ and plans_; a slot's segment is used by one run at a time
  // Runs executing here, or read and about to (Count, WaitBelow): what a run sent ahead of its
  // turn waits on. Under count_mutex_; count_cv_ wakes the runs that wait.
  std::mutex count_mutex_;
  std::condition_variable count_cv_;
  uint32_t executing_ = 0;
  // Runs sent ahead of their turn, read and not yet started nor refused, by the order they were
  // read in (QueueAhead, WaitBelow, LeaveAhead). Under count_mutex_.
  std::set<uint64_t> ahead_;
  uint64_t last_ahead_ = 0;
  std::unordered_map<uint32_t, std::shared_ptr<Segment>> segments_;
  std::unordered_map<uint32_t, std::shared_ptr<Segment>> shared_;
  std::unordered_map<uint32_t, std::shared_ptr<RunPlan>> plans_;
};

int FdArgument(const Napi::CallbackInfo& info, size_t index) {
  Napi::Value value = info[index];
  if (!value.IsNumber() || value.As<Napi::Number>().Int32Value() < 0) {
    throw MakeTypeError(info.Env(), "expected a file descriptor");
  }
  return value.As<Napi::Number>().Int32Value();
}

void OnReadable(uv_poll_t* handle, int /*status*/, int /*events*/) {
  static_cast<Channel*>(uv_handle_get_data(reinterpret_cast<uv_handle_t*>(handle)))->Drain();
}

void FreeHandle(uv_handle_t* handle) { std::free(handle); }

}  // namespace

Napi::Value ChannelPair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
    throw MakeError(env, "RESOURCE_EXHAUSTED", SystemError("socketpair"));
  }
  Napi::Array pair = Napi::Array::New(env, 2);
  pair.Set(0u, Napi::Number::New(env, fds[0]));
  pair.Set(1u, Napi::Number::New(env, fds[1]));
  return pair;
}

Napi::Value CloseDescriptor(const Napi::CallbackInfo& info) {
  close(FdArgument(info, 0));
  return info.Env().Undefined();
}

Napi::Value ServeRuns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArgument(info, 0);
  std::shared_ptr<SessionCore> core = Session::CoreOf(info[1]);
  int threads = info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 0;
  if (threads < 1 || threads > 64) throw MakeTypeError(env, "serveRuns needs 1 to 64 threads");
  // The parent's control segment: mapped for as long as the host lives, as the server.
  int32_t* control = nullptr;
  size_t words = 0;
  if (info.Length() > 3 && !info[3].IsUndefined()) {
    if (!info[3].IsArrayBuffer()) throw MakeTypeError(env, "serveRuns' control must be a shared segment's ArrayBuffer");
    Napi::ArrayBuffer buffer = info[3].As<Napi::ArrayBuffer>();
    if (RetainSegmentMapping(env, buffer) == nullptr) throw MakeTypeError(env, "serveRuns' control must be a shared segment's ArrayBuffer");
    control = static_cast<int32_t*>(buffer.Data());
    words = buffer.ByteLength() / sizeof(int32_t);
  }
  // Lives as long as the host process: its threads may be blocked in recv() at exit.
  (new RunServer(fd, std::move(core), control, words))->Start(threads);
  return env.Undefined();
}

Napi::Function Channel::Define(Napi::Env env) {
  return DefineClass(env, "Channel",
                     {InstanceMethod<&Channel::Send>("send"), InstanceMethod<&Channel::RefHandle>("ref"),
                      InstanceMethod<&Channel::UnrefHandle>("unref"), InstanceMethod<&Channel::Close>("close")});
}

Channel::Channel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Channel>(info) {
  Napi::Env env = info.Env();
  fd_ = FdArgument(info, 0);
  if (!info[1].IsArrayBuffer() || !info[2].IsArrayBuffer() || !info[3].IsFunction()) {
    throw MakeTypeError(env, "new Channel(fd, inbox: ArrayBuffer, outbox: ArrayBuffer, onMessage)");
  }
  inbox_ = Napi::Persistent(info[1].As<Napi::ArrayBuffer>());
  outbox_ = Napi::Persistent(info[2].As<Napi::ArrayBuffer>());
  on_message_ = Napi::Persistent(info[3].As<Napi::Function>());
  uv_loop_t* loop = nullptr;
  NAPI_THROW_IF_FAILED_VOID(env, napi_get_uv_event_loop(env, reinterpret_cast<struct uv_loop_s**>(&loop)));
  int flags = fcntl(fd_, F_GETFL);
  if (flags < 0 || fcntl(fd_, F_SETFL, flags | O_NONBLOCK) != 0) {
    throw MakeError(env, "INTERNAL", SystemError("fcntl(O_NONBLOCK) on a host channel"));
  }
  poller_ = std::make_unique<LoopPoller>(env);  // before the poll handle points at this
  auto* poll = static_cast<uv_poll_t*>(std::malloc(uv_handle_size(UV_POLL)));
  if (poll == nullptr || uv_poll_init(loop, poll, fd_) != 0) {
    std::free(poll);
    throw MakeError(env, "INTERNAL", "libuv could not watch a host channel");
  }
  uv_handle_set_data(reinterpret_cast<uv_handle_t*>(poll), this);
  poll_ = poll;
  if (uv_poll_start(poll, UV_READABLE, OnReadable) != 0) {
    Stop();
    throw MakeError(env, "INTERNAL", "libuv could not watch a host channel");
  }
  Ref();  // alive while the poll handle points at it, until close()
}

Channel::~Channel() {
  Stop();
  if (fd_ >= 0) close(fd_);
}

void Channel::Stop() {
  if (poll_ == nullptr) return;
  auto* poll = static_cast<uv_poll_t*>(poll_);
  poll_ = nullptr;
  poller_.reset();
  uv_poll_stop(poll);
  uv_close(reinterpret_cast<uv_handle_t*>(poll), FreeHandle);
}

void Channel::Drain() {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  Napi::ArrayBuffer inbox = inbox_.Value();
  while (poll_ != nullptr) {
    ssize_t length = recv(fd_, inbox.Data(), inbox.ByteLength(), MSG_DONTWAIT);
    if (length < 0 && errno == EINTR) continue;
    if (length < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (length <= 0) {
      // The host is gone: its exit is reported by the child process handle.
      Stop();
      return;
    }
    if (awaiting_ > 0 && --awaiting_ == 0) poller_->Done();
    // The C API, not node-addon-api's throwing calls: in a worker being terminated no JS runs
    // any more, and building a Napi::Error then fails fatally (napi_define_properties).
    napi_value argument = nullptr;
    napi_value result = nullptr;
    napi_status status = napi_create_double(env, static_cast<double>(length), &argument);
    if (status == napi_ok) status = napi_make_callback(env, nullptr, Value(), on_message_.Value(), 1, &argument, &result);
    if (status == napi_pending_exception) {
      napi_value error = nullptr;
      if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
      return;
    }
    if (status != napi_ok) {
      // The environment is going away: nothing will read another reply.
      Stop();
      return;
    }
  }
}

Napi::Value Channel::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::ArrayBuffer outbox = outbox_.Value();
  double length = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
  if (!(length > 0 && length <= static_cast<double>(outbox.ByteLength()))) {
    throw MakeTypeError(env, "send(length) needs a length within the outbox");
  }
  double expected = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 0;
  if (poll_ == nullptr) return Napi::Number::New(env, kSendFailed);
  ssize_t sent;
  do {
    sent = send(fd_, outbox.Data(), static_cast<size_t>(length), MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Napi::Number::New(env, kSendFull);
  if (sent != static_cast<ssize_t>(length)) return Napi::Number::New(env, kSendFailed);
  if (awaiting_++ == 0 && expected >= 1 && expected < 4294967295.0) poller_->Begin(static_cast<uint32_t>(expected));
  return Napi::Number::New(env, kSent);
}

Napi::Value Channel::RefHandle(const Napi::CallbackInfo& info) {
  if (poll_ != nullptr) uv_ref(static_cast<uv_handle_t*>(poll_));
  return info.Env().Undefined();
}

Napi::Value Channel::UnrefHandle(const Napi::CallbackInfo& info) {
  if (poll_ != nullptr) uv_unref(static_cast<uv_handle_t*>(poll_));
  return info.Env().Undefined();
}

Napi::Value Channel::Close(const Napi::CallbackInfo& info) {
  if (fd_ >= 0) {
    Stop();
    close(fd_);
    fd_ = -1;
    Unref();
  }
  return info.Env().Undefined();
}

}  // namespace tfslice
