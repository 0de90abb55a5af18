#include "shm.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>
#include <string>

#include "errors.h"
#include "tensor.h"

namespace tfslice {

namespace {

// One mapping (and, for the creator, the descriptor), shared by the segment's buffer and
// the views made over parts of it: unmapped when the segment is released and the last
// view is gone.
struct Mapping {
  void* address = nullptr;
  size_t bytes = 0;
  int fd = -1;
  std::atomic<int> refs{1};

  void Unref() {
    if (refs.fetch_sub(1) != 1) return;
    if (address != nullptr) munmap(address, bytes);
    if (fd >= 0) close(fd);
    delete this;
  }
};

// What a segment's buffer holds: the mapping until shmRelease() or the collector.
struct SegmentHandle {
  Mapping* mapping;
  void Release() {
    if (mapping != nullptr) mapping->Unref();
    mapping = nullptr;
  }
};

constexpr int kSizeSeals = F_SEAL_SHRINK | F_SEAL_GROW;

std::string SystemError(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

size_t ByteCount(const Napi::CallbackInfo& info, size_t index) {
  Napi::Value value = info[index];
  double bytes = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : -1;
  if (!(bytes > 0 && bytes <= 9007199254740991.0 && bytes == static_cast<double>(static_cast<size_t>(bytes)))) {
    throw MakeTypeError(info.Env(), "shared memory needs a positive whole byte count");
  }
  if (bytes > kMaxBufferBytes) throw MakeError(info.Env(), PastBufferLimit("a shared segment", bytes));
  return static_cast<size_t>(bytes);
}

int IntArg(const Napi::CallbackInfo& info, size_t index, const char* name) {
  Napi::Value value = info[index];
  if (!value.IsNumber()) throw MakeTypeError(info.Env(), std::string(name) + " must be a number");
  return value.As<Napi::Number>().Int32Value();
}

// Marks a segment's own buffer, so only those are ever unwrapped as a SegmentHandle
// (tensor.cc wraps output buffers with a tag of its own).
constexpr napi_type_tag kSegmentTag = {0x7466736c69636530ULL, 0x7365676d656e7431ULL};
// Marks a view made by shmView (an isolated model's output over its slot).
constexpr napi_type_tag kViewTag = {0x7466736c69636530ULL, 0x7365676d76696577ULL};

Napi::ArrayBuffer Expose(Napi::Env env, Mapping* mapping) {
  auto* held = new SegmentHandle{mapping};
  Napi::ArrayBuffer buffer = NewExternal(
                                env, mapping->address, mapping->bytes,
                                [](napi_env, void*, void* hint) {
                                  auto* done = static_cast<SegmentHandle*>(hint);
                                  done->Release();
                                  delete done;
                                },
                                held, false)
                                .As<Napi::ArrayBuffer>();
  // The finalizer's from here, whatever fails.
  NAPI_THROW_IF_FAILED(env, napi_type_tag_object(env, buffer, &kSegmentTag), buffer);
  NAPI_THROW_IF_FAILED(env, napi_wrap(env, buffer, held, nullptr, nullptr, nullptr), buffer);
  return buffer;
}

Napi::ArrayBuffer Expose(Napi::Env env, const Segment& segment) {
  auto* mapping = new Mapping();
  mapping->address = segment.address;
  mapping->bytes = segment.bytes;
  mapping->fd = segment.fd;
  return Expose(env, mapping);
}

// A segment the caller owns from here, mapped from `fd` (closed unless kept).
Failure MapSegment(int fd, size_t bytes, bool keep_fd, Segment* out) {
  void* address = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (address == MAP_FAILED) {
    Failure failure{"RESOURCE_EXHAUSTED", SystemError("mmap of a shared tensor segment")};
    close(fd);
    return failure;
  }
  if (!keep_fd) close(fd);
  *out = Segment{static_cast<uint8_t*>(address), bytes, keep_fd ? fd : -1};
  return {};
}

}  // namespace

Failure PastBufferLimit(const std::string& what, double bytes) {
  return {"RESOURCE_EXHAUSTED", what + " of " + std::to_string(static_cast<size_t>(bytes)) + " bytes is past the most one buffer may hold here (" +
                                    std::to_string(static_cast<size_t>(kMaxBufferBytes)) + ")"};
}

void Segment::Release() {
  if (address != nullptr) munmap(address, bytes);
  if (fd >= 0) close(fd);
  *this = Segment();
}

Failure CreateSegment(size_t bytes, Segment* out) {
  int fd = memfd_create("tfslice-tensors", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return {"RESOURCE_EXHAUSTED", SystemError("memfd_create")};
  if (ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    Failure failure{"RESOURCE_EXHAUSTED", SystemError("ftruncate of a shared tensor segment")};
    close(fd);
    return failure;
  }
  // Its size is fixed for good: no peer (nor a graph's WriteFile opening /proc/<pid>/fd/N
  // with "w") can shrink it under a mapping, which would be SIGBUS at the next touch.
  if (fcntl(fd, F_ADD_SEALS, kSizeSeals | F_SEAL_SEAL) != 0) {
    Failure failure{"INTERNAL", SystemError("sealing a shared tensor segment")};
    close(fd);
    return failure;
  }
  return MapSegment(fd, bytes, true, out);
}

Failure OpenSegment(int pid, int peer_fd, size_t bytes, Segment* out) {
  std::string path = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(peer_fd);
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return {"UNAVAILABLE", SystemError(("open " + path).c_str())};
  // Only a segment CreateSegment made: a memfd whose size can never change. Any other file
  // a peer names (or one it could truncate under the mapping) is refused.
  int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0 || (seals & kSizeSeals) != kSizeSeals) {
    close(fd);
    return {"PERMISSION_DENIED", path + " is not a sealed tfslice tensor segment"};
  }
  struct stat st;
  if (bytes == 0 || fstat(fd, &st) != 0 || static_cast<size_t>(st.st_size) < bytes) {
    close(fd);
    return {"INTERNAL", path + " is smaller than the " + std::to_string(bytes) + " bytes announced"};
  }
  return MapSegment(fd, bytes, false, out);
}

Napi::Value ShmCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Segment segment;
  Failure failure = CreateSegment(ByteCount(info, 0), &segment);
  if (failure) throw MakeError(env, failure);
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", Napi::Number::New(env, segment.fd));
  out.Set("buffer", Expose(env, segment));
  return out;
}

Napi::Value ShmOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pid = IntArg(info, 0, "pid");
  int peer_fd = IntArg(info, 1, "fd");
  Segment segment;
  Failure failure = OpenSegment(pid, peer_fd, ByteCount(info, 2), &segment);
  if (failure) throw MakeError(env, failure);
  return Expose(env, segment);
}

// A segment's buffer from shmCreate/shmOpen, not yet released; null for anything else.
SegmentHandle* Unwrap(Napi::Env env, Napi::Value value) {
  bool tagged = false;
  void* data = nullptr;
  if (!value.IsArrayBuffer() || napi_check_object_type_tag(env, value, &kSegmentTag, &tagged) != napi_ok || !tagged ||
      napi_unwrap(env, value, &data) != napi_ok) {
    return nullptr;
  }
  return static_cast<SegmentHandle*>(data);
}

void* RetainSegmentMapping(napi_env env, napi_value arraybuffer) {
  SegmentHandle* handle = Unwrap(env, Napi::Value(env, arraybuffer));
  if (handle == nullptr || handle->mapping == nullptr) return nullptr;
  handle->mapping->refs.fetch_add(1);
  return handle->mapping;
}

bool IsSegmentView(napi_env env, napi_value arraybuffer) {
  bool tagged = false;
  return napi_check_object_type_tag(env, arraybuffer, &kViewTag, &tagged) == napi_ok && tagged;
}

void ReleaseSegmentMapping(void* mapping) {
  if (mapping != nullptr) static_cast<Mapping*>(mapping)->Unref();
}

Napi::Value ShmRelease(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool tagged = false;
  if (!info[0].IsArrayBuffer() || napi_check_object_type_tag(env, info[0], &kSegmentTag, &tagged) != napi_ok || !tagged) {
    throw MakeTypeError(env, "shmRelease(buffer) needs a buffer from shmCreate or shmOpen");
  }
  // Unwrapped first: once detached, the finalizer may free the handle at any time, and a
  // second release (documented as harmless) must not find it.
  void* data = nullptr;
  if (napi_remove_wrap(env, info[0], &data) != napi_ok || data == nullptr) return env.Undefined();
  SegmentHandle* handle = static_cast<SegmentHandle*>(data);
  Napi::ArrayBuffer buffer = info[0].As<Napi::ArrayBuffer>();
  // Detached before the unmap: JS can no longer reach the memory.
  Mapping* mapping = std::exchange(handle->mapping, nullptr);
  if (!buffer.IsDetached()) buffer.Detach();
  if (mapping != nullptr) mapping->Unref();
  return env.Undefined();
}

Napi::Value ShmView(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SegmentHandle* handle = Unwrap(env, info[0]);
  if (handle == nullptr) throw MakeTypeError(env, "shmView(buffer, offset, bytes) needs a live buffer from shmCreate or shmOpen");
  double offset = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : -1;
  double bytes = info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : -1;
  if (handle->mapping == nullptr || !(offset >= 0 && bytes >= 0) ||
      offset + bytes > static_cast<double>(handle->mapping->bytes)) {
    throw MakeError(env, "OUT_OF_RANGE", "shmView: the range is outside the segment (or it was released)");
  }
  Mapping* mapping = handle->mapping;
  mapping->refs.fetch_add(1);
  // Zero bytes: a plain empty buffer (N-API may not take an external one of length 0).
  if (bytes == 0) {
    mapping->Unref();
    return Napi::ArrayBuffer::New(env, 0);
  }
  Napi::ArrayBuffer view =
      NewExternal(
          env, static_cast<char*>(mapping->address) + static_cast<size_t>(offset), static_cast<size_t>(bytes),
          // A terminating worker runs this before the addon's teardown, maybe while a runner
          // still reads the view (an echo's copy): the unmapping waits for its pins.
          [](napi_env, void* data, void* done) {
            ReleaseWhenUnpinned(data, [](void* what) { static_cast<Mapping*>(what)->Unref(); }, done);
          },
          mapping, false)
          .As<Napi::ArrayBuffer>();
  NAPI_THROW_IF_FAILED(env, napi_type_tag_object(env, view, &kViewTag), view);
  return view;
}

namespace {
std::atomic<bool> model_host{false};
constexpr int kOutOfMemoryExit = 71;
}  // namespace

bool IsModelHost() { return model_host.load(std::memory_order_relaxed); }

void ExitOutOfMemory() {
  static const char kMessage[] = "tfslice model host: out of memory (std::bad_alloc) while serving a run: exiting\n";
  (void)!write(2, kMessage, sizeof kMessage - 1);
  std::_Exit(kOutOfMemoryExit);
}

Napi::Value SetParentDeathSignal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  model_host.store(true, std::memory_order_relaxed);
  int parent = IntArg(info, 0, "parentPid");
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) throw MakeError(env, "INTERNAL", SystemError("prctl(PR_SET_PDEATHSIG)"));
  // The parent may have died before the signal was armed.
  return Napi::Boolean::New(env, getppid() == parent);
}

Napi::Value OpenFileLimit(const Napi::CallbackInfo& info) {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return Napi::Number::New(info.Env(), 1 << 20);
  return Napi::Number::New(info.Env(), static_cast<double>(limit.rlim_cur));
}

Napi::Value SetDataLimit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double bytes = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
  if (!(bytes > 0 && bytes <= 9007199254740991.0)) throw MakeTypeError(env, "setDataLimit(bytes) needs a positive byte count");
  // RLIMIT_DATA (Linux >= 4.7) counts every private writable mapping: the heap, anonymous mmap
  // (where big tensors go), thread stacks. An allocation past it fails (ENOMEM) instead of
  // growing the process. Soft and hard: the graph cannot raise it again.
  struct rlimit limit;
  limit.rlim_cur = limit.rlim_max = static_cast<rlim_t>(bytes);
  if (setrlimit(RLIMIT_DATA, &limit) != 0) throw MakeError(env, "INTERNAL", SystemError("setrlimit(RLIMIT_DATA)"));
  return env.Undefined();
}

}  // namespace tfslice
