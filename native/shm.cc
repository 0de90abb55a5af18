#include "shm.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "errors.h"

namespace tfslice {

namespace {

// Owns one mapping (and, for the creator, the descriptor); released once.
struct Mapping {
  void* address = nullptr;
  size_t bytes = 0;
  int fd = -1;

  void Release() {
    if (address != nullptr) munmap(address, bytes);
    if (fd >= 0) close(fd);
    address = nullptr;
    fd = -1;
  }
};

std::string SystemError(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

size_t ByteCount(const Napi::CallbackInfo& info, size_t index) {
  Napi::Value value = info[index];
  double bytes = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : -1;
  if (!(bytes > 0 && bytes <= 9007199254740991.0 && bytes == static_cast<double>(static_cast<size_t>(bytes)))) {
    throw MakeTypeError(info.Env(), "shared memory needs a positive whole byte count");
  }
  return static_cast<size_t>(bytes);
}

int IntArg(const Napi::CallbackInfo& info, size_t index, const char* name) {
  Napi::Value value = info[index];
  if (!value.IsNumber()) throw MakeTypeError(info.Env(), std::string(name) + " must be a number");
  return value.As<Napi::Number>().Int32Value();
}

Napi::ArrayBuffer Expose(Napi::Env env, Mapping* mapping) {
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(
      env, mapping->address, mapping->bytes,
      [](Napi::Env, void*, Mapping* done) {
        done->Release();
        delete done;
      },
      mapping);
  napi_wrap(env, buffer, mapping, nullptr, nullptr, nullptr);
  return buffer;
}

Napi::ArrayBuffer Map(Napi::Env env, int fd, size_t bytes, bool keep_fd) {
  void* address = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (address == MAP_FAILED) {
    std::string message = SystemError("mmap of a shared tensor segment");
    close(fd);
    throw MakeError(env, "RESOURCE_EXHAUSTED", message);
  }
  if (!keep_fd) close(fd);
  return Expose(env, new Mapping{address, bytes, keep_fd ? fd : -1});
}

}  // namespace

Napi::Value ShmCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t bytes = ByteCount(info, 0);
  int fd = memfd_create("tfslice-tensors", MFD_CLOEXEC);
  if (fd < 0) throw MakeError(env, "RESOURCE_EXHAUSTED", SystemError("memfd_create"));
  if (ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    std::string message = SystemError("ftruncate of a shared tensor segment");
    close(fd);
    throw MakeError(env, "RESOURCE_EXHAUSTED", message);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", Napi::Number::New(env, fd));
  out.Set("buffer", Map(env, fd, bytes, true));
  return out;
}

Napi::Value ShmOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pid = IntArg(info, 0, "pid");
  int peer_fd = IntArg(info, 1, "fd");
  size_t bytes = ByteCount(info, 2);
  std::string path = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(peer_fd);
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) throw MakeError(env, "UNAVAILABLE", SystemError(("open " + path).c_str()));
  struct stat st;
  if (fstat(fd, &st) != 0 || static_cast<size_t>(st.st_size) < bytes) {
    close(fd);
    throw MakeError(env, "INTERNAL", path + " is smaller than the " + std::to_string(bytes) + " bytes announced");
  }
  return Map(env, fd, bytes, false);
}

Napi::Value ShmRelease(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArrayBuffer()) throw MakeTypeError(env, "shmRelease(buffer) needs an ArrayBuffer");
  Napi::ArrayBuffer buffer = info[0].As<Napi::ArrayBuffer>();
  void* data = nullptr;
  if (napi_unwrap(env, buffer, &data) != napi_ok || data == nullptr) {
    throw MakeTypeError(env, "shmRelease(buffer) needs a buffer from shmCreate or shmOpen");
  }
  // Detached first: JS can no longer reach the memory once it is unmapped.
  if (!buffer.IsDetached()) buffer.Detach();
  static_cast<Mapping*>(data)->Release();
  return env.Undefined();
}

Napi::Value SetParentDeathSignal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int parent = IntArg(info, 0, "parentPid");
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) throw MakeError(env, "INTERNAL", SystemError("prctl(PR_SET_PDEATHSIG)"));
  // The parent may have died before the signal was armed.
  return Napi::Boolean::New(env, getppid() == parent);
}

}  // namespace tfslice
