// dlopen + dlsym of libtensorflow into the process-wide function table.
#include "tf_api.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

namespace tfslice {
namespace {

std::mutex g_mutex;
TfApi g_api;
LoadResult g_loaded;  // ok=true once g_api is complete; never reset (dlclose of TF is unsafe)

// TensorFlow's lines from before it reads TF_CPP_MIN_LOG_LEVEL.
//
// TensorFlow (2.21; tsl's LOG is absl's) logs from libtensorflow_framework's static
// initialisers before the one among them that applies TF_CPP_MIN_LOG_LEVEL
// (absl::SetMinLogLevel, xla/tsl/platform/default/logging.cc), so the level never reaches
// those lines: with oneDNN on, port.cc's INFO "oneDNN custom operations are on", after absl's
// "All log messages before absl::InitializeLog()" line. Nothing can be set before dlopen (that
// absl is inside the library, loaded RTLD_LOCAL), so while dlopen runs the initialisers fd 2
// is a pipe and a thread passes on every line but absl lines below the level and absl's
// preamble. Lines in any other format (older TensorFlows' own) pass untouched.

constexpr char kAbslPreamble[] =
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR";
constexpr size_t kMaxLine = 16384;  // a longer line is passed on in pieces, never dropped

// TF_CPP_MIN_LOG_LEVEL as TensorFlow reads it (LogLevelFromEnv): an integer, sign dropped;
// unset or anything else is 0.
int MinLogLevelFromEnv() {
  const char* value = std::getenv("TF_CPP_MIN_LOG_LEVEL");
  if (value == nullptr) return 0;
  char* end = nullptr;
  errno = 0;
  long level = std::strtol(value, &end, 10);
  while (end != nullptr && (*end == ' ' || *end == '\t' || *end == '\n')) ++end;
  if (end == value || end == nullptr || *end != '\0' || errno != 0) return 0;
  return static_cast<int>(level < 0 ? -level : level);
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// The severity of a line in absl's format ("I0000 00:00:1796037250.520159     701 port.cc:153] ..."):
// 0 INFO, 1 WARNING, 2 ERROR, 3 FATAL; -1 for any other line.
int AbslSeverity(const char* line, size_t length) {
  static const char kLetters[] = "IWEF";
  if (length < 6) return -1;
  const char* letter = std::strchr(kLetters, line[0]);
  if (letter == nullptr || line[0] == '\0') return -1;
  size_t i = 1;
  for (; i < 5; ++i) {
    if (!IsDigit(line[i])) return -1;  // MMDD
  }
  if (line[i++] != ' ') return -1;
  size_t start = i;
  while (i < length && (IsDigit(line[i]) || line[i] == ':' || line[i] == '.')) ++i;  // time
  if (i == start || i >= length || line[i] != ' ') return -1;
  while (i < length && line[i] == ' ') ++i;
  start = i;
  while (i < length && IsDigit(line[i])) ++i;  // thread id
  if (i == start || i >= length || line[i] != ' ') return -1;
  ++i;
  start = i;
  while (i < length && line[i] != ' ' && line[i] != ']') ++i;  // file:line
  if (i == start || i + 1 >= length || line[i] != ']' || line[i + 1] != ' ') return -1;
  size_t colon = i;
  while (colon > start && IsDigit(line[colon - 1])) --colon;
  if (colon == i || colon == start || line[colon - 1] != ':') return -1;
  return static_cast<int>(letter - kLetters);
}

// write() until done, through EINTR and a non-blocking stderr. Async-signal-safe.
void WriteAll(int fd, const char* data, size_t length) {
  while (length > 0) {
    ssize_t n = write(fd, data, length);
    if (n > 0) {
      data += n;
      length -= static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd out{fd, POLLOUT, 0};
      poll(&out, 1, 1000);
    } else {
      return;  // stderr is gone: nothing to tell anyone
    }
  }
}

struct LogFilter {
  int read_fd = -1;    // the pipe's read end (non-blocking)
  int stderr_fd = -1;  // the real stderr, dup'ed
  int min_level = 0;
  // Who may read the pipe and touch `pending`: the pump between polls, or the abort
  // handler, which takes it for good. Lock-free, so the handler may take it.
  std::atomic<bool> busy{false};
  char pending[kMaxLine];
  size_t pending_length = 0;
  std::mutex mutex;
  std::condition_variable done_cv;
  bool done = false;  // the pump saw every writer go

  ~LogFilter() {
    if (read_fd >= 0) close(read_fd);
    if (stderr_fd >= 0) close(stderr_fd);
  }

  void Line(const char* line, size_t length) {  // without its newline
    int severity = AbslSeverity(line, length);
    bool preamble = length == sizeof(kAbslPreamble) - 1 && std::memcmp(line, kAbslPreamble, length) == 0;
    if (preamble || (severity >= 0 && severity < 3 && severity < min_level)) return;
    WriteAll(stderr_fd, line, length);
    WriteAll(stderr_fd, "\n", 1);
  }

  void Take(const char* data, size_t length) {
    for (size_t i = 0; i < length; ++i) {
      if (data[i] == '\n') {
        Line(pending, pending_length);
        pending_length = 0;
        continue;
      }
      if (pending_length == kMaxLine) {
        WriteAll(stderr_fd, pending, pending_length);
        pending_length = 0;
      }
      pending[pending_length++] = data[i];
    }
  }

  // Runs on its own thread until every write end is closed, or the abort handler takes over.
  static void Pump(std::shared_ptr<LogFilter> self) {
    char chunk[4096];
    for (;;) {
      pollfd in{self->read_fd, POLLIN, 0};
      if (poll(&in, 1, -1) < 0 && errno != EINTR) break;
      bool expected = false;
      if (!self->busy.compare_exchange_strong(expected, true)) return;  // the process is aborting
      ssize_t n = read(self->read_fd, chunk, sizeof chunk);
      if (n > 0) self->Take(chunk, static_cast<size_t>(n));
      bool end = n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
      if (end && self->pending_length > 0) {
        WriteAll(self->stderr_fd, self->pending, self->pending_length);  // a last line with no newline
        self->pending_length = 0;
      }
      self->busy.store(false);
      if (end) break;
    }
    std::lock_guard<std::mutex> lock(self->mutex);
    self->done = true;
    self->done_cv.notify_all();
  }
};

std::atomic<LogFilter*> g_filtering{nullptr};
struct sigaction g_previous_abort;

// A static initialiser that aborts (TensorFlow's CPU check, a CHECK) must not take its
// message down with it: put fd 2 back, pass on everything held, unfiltered, then let the
// previous disposition have the signal.
void OnAbort(int) {
  int saved_errno = errno;
  LogFilter* filter = g_filtering.load();
  if (filter != nullptr) {
    dup2(filter->stderr_fd, 2);
    for (int i = 0; i < 2000; ++i) {  // up to ~2 s for the pump to pass on what it has read
      bool expected = false;
      if (filter->busy.compare_exchange_strong(expected, true)) break;
      timespec ms{0, 1000000};
      nanosleep(&ms, nullptr);
    }
    WriteAll(filter->stderr_fd, filter->pending, filter->pending_length);
    char chunk[4096];
    ssize_t n;
    while ((n = read(filter->read_fd, chunk, sizeof chunk)) > 0) WriteAll(filter->stderr_fd, chunk, static_cast<size_t>(n));
  }
  sigaction(SIGABRT, &g_previous_abort, nullptr);
  raise(SIGABRT);  // pending until this handler returns
  errno = saved_errno;
}

// Holds TensorFlow's static initialisers to TF_CPP_MIN_LOG_LEVEL for its lifetime (a
// dlopen); does nothing when the level is 0 or fd 2 cannot be redirected. fd 2 is put back
// whatever dlopen did.
class StaticInitLogFilter {
 public:
  StaticInitLogFilter() {
    int level = MinLogLevelFromEnv();
    if (level <= 0) return;
    std::fflush(stderr);
    int saved = fcntl(2, F_DUPFD_CLOEXEC, 3);
    if (saved < 0) return;  // no stderr to protect
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
      close(saved);
      return;
    }
    fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
    auto filter = std::make_shared<LogFilter>();
    filter->read_fd = fds[0];
    filter->stderr_fd = saved;
    filter->min_level = level;
    try {
      pump_ = std::thread(LogFilter::Pump, filter);
    } catch (...) {
      close(fds[1]);
      return;  // `filter` closes the rest
    }
    g_filtering.store(filter.get());
    struct sigaction on_abort {};
    on_abort.sa_handler = OnAbort;
    sigemptyset(&on_abort.sa_mask);
    sigaction(SIGABRT, &on_abort, &g_previous_abort);
    int redirected;
    do redirected = dup2(fds[1], 2);
    while (redirected < 0 && errno == EINTR);
    close(fds[1]);  // fd 2 is now the only write end this process holds
    filter_ = std::move(filter);
    if (redirected < 0) Restore();
  }

  ~StaticInitLogFilter() { Restore(); }

 private:
  void Restore() {
    if (!filter_) return;
    std::fflush(stderr);
    while (dup2(filter_->stderr_fd, 2) < 0 && errno == EINTR) {
    }
    struct sigaction now {};
    sigaction(SIGABRT, nullptr, &now);
    if (now.sa_handler == OnAbort) sigaction(SIGABRT, &g_previous_abort, nullptr);
    g_filtering.store(nullptr);
    // The pump passes on the rest and sees the pipe close. A child spawned meanwhile with
    // stderr inherited still holds it: the pump then stays on for it, detached.
    bool done;
    {
      std::unique_lock<std::mutex> lock(filter_->mutex);
      done = filter_->done_cv.wait_for(lock, std::chrono::milliseconds(200), [this] { return filter_->done; });
    }
    if (done) pump_.join();
    else pump_.detach();
    filter_.reset();
  }

  std::shared_ptr<LogFilter> filter_;
  std::thread pump_;
};

}  // namespace

const TfApi& tf() { return g_api; }

LoadResult LoadedTensorFlow() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_loaded;
}

LoadResult LoadTensorFlow(const std::string& path) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_loaded.ok) {
    if (path == g_loaded.path) return g_loaded;
    LoadResult conflict;
    conflict.path = path;
    conflict.error = "TensorFlow is already loaded in this process from " + g_loaded.path +
                     "; a process can hold only one TensorFlow runtime";
    return conflict;
  }
  LoadResult result;
  result.path = path;
  // RTLD_LOCAL keeps TensorFlow's bundled protobuf/absl symbols out of the global
  // namespace; dlsym on the handle still searches its dependencies (the pip
  // wheel keeps tensors and status in libtensorflow_framework.so.2).
  // RTLD_LAZY, as the system loader binds a library a program is linked with (and tfjs-node's,
  // and bench/floor.c's): the ~190 000 PLT entries of the two libraries are bound when first
  // called, not all here. RTLD_NOW bound every one: 125 of the 480 ms this dlopen took, in
  // every process that loads TensorFlow (model hosts, the CLI, servers). Neither library is
  // linked with -z now, so RTLD_NOW made nothing read-only that lazy binding leaves writable.
  // The ~400 000 data relocations (vtables, typeinfo, globals) are still bound here, so libraries
  // that do not belong together still fail here; LD_BIND_NOW=1 restores binding everything.
  void* handle;
  {
    StaticInitLogFilter quiet;
    handle = dlopen(path.c_str(), RTLD_LAZY | RTLD_LOCAL);
  }
  if (handle == nullptr) {
    const char* why = dlerror();
    result.error = why != nullptr ? why : "dlopen failed";
    return result;
  }
  TfApi api;
#define TFSLICE_RESOLVE(name, ret, params)                                  \
  api.name = reinterpret_cast<ret(*) params>(dlsym(handle, #name));         \
  if (api.name == nullptr) {                                                \
    result.error = "missing symbol " #name " in " + path +                  \
                   " (is this a TensorFlow 2.x C library?)";                \
    return result; /* the handle stays open: TF does not survive dlclose */ \
  }
  TFSLICE_TF_FUNCTIONS(TFSLICE_RESOLVE)
#undef TFSLICE_RESOLVE
  api.IsMKLEnabled = reinterpret_cast<bool (*)()>(dlsym(handle, "_ZN10tensorflow12IsMKLEnabledEv"));
  g_api = api;
  result.ok = true;
  result.version = g_api.TF_Version();
  if (g_api.IsMKLEnabled != nullptr) result.one_dnn = g_api.IsMKLEnabled() ? 1 : 0;
  g_loaded = result;
  return result;
}

}  // namespace tfslice
