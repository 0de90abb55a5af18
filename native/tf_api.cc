// dlopen + dlsym of libtensorflow into the process-wide function table.
#include "tf_api.h"

#include <dlfcn.h>

#include <mutex>

namespace tfslice {
namespace {

std::mutex g_mutex;
TfApi g_api;
LoadResult g_loaded;  // ok=true once g_api is complete; never reset (dlclose of TF is unsafe)

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
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
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
