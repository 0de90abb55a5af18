// The subset of the TensorFlow C API that tfslice uses, declared by us.
//
// The addon links nothing from TensorFlow: these are opaque types, the few
// public structs whose layout the C API fixes (TF_Buffer, TF_Output), and a
// table of function pointers filled by dlsym at run time (tf_api.cc). Names and
// signatures follow tensorflow/c/c_api.h, tf_tensor.h, tf_status.h and
// tf_tstring.h of TensorFlow 2.x; the enum values are part of TF's stable ABI.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" {

typedef struct TF_Status TF_Status;
typedef struct TF_Graph TF_Graph;
typedef struct TF_Operation TF_Operation;
typedef struct TF_Session TF_Session;
typedef struct TF_SessionOptions TF_SessionOptions;
typedef struct TF_Tensor TF_Tensor;
typedef struct TF_DeviceList TF_DeviceList;
typedef struct TF_Library TF_Library;
typedef struct TF_ImportGraphDefOptions TF_ImportGraphDefOptions;

typedef struct TF_Buffer {
  const void* data;
  size_t length;
  void (*data_deallocator)(void* data, size_t length);
} TF_Buffer;

typedef struct TF_Output {
  TF_Operation* oper;
  int index;
} TF_Output;

// TF_TString is a 24-byte union (tensorflow/core/platform/ctstring_internal.h);
// we only ever handle it through the exported TF_String* functions.
typedef struct TF_TString {
  alignas(8) char opaque[24];
} TF_TString;

typedef enum TF_DataType {
  TF_FLOAT = 1,
  TF_DOUBLE = 2,
  TF_INT32 = 3,
  TF_UINT8 = 4,
  TF_INT16 = 5,
  TF_INT8 = 6,
  TF_STRING = 7,
  TF_INT64 = 9,
  TF_BOOL = 10,
  TF_BFLOAT16 = 14,
  TF_UINT16 = 17,
  TF_HALF = 19,
  TF_UINT32 = 22,
  TF_UINT64 = 23,
} TF_DataType;

typedef enum TF_Code {
  TF_OK = 0,
  TF_CANCELLED = 1,
  TF_UNKNOWN = 2,
  TF_INVALID_ARGUMENT = 3,
  TF_DEADLINE_EXCEEDED = 4,
  TF_NOT_FOUND = 5,
  TF_ALREADY_EXISTS = 6,
  TF_PERMISSION_DENIED = 7,
  TF_RESOURCE_EXHAUSTED = 8,
  TF_FAILED_PRECONDITION = 9,
  TF_ABORTED = 10,
  TF_OUT_OF_RANGE = 11,
  TF_UNIMPLEMENTED = 12,
  TF_INTERNAL = 13,
  TF_UNAVAILABLE = 14,
  TF_DATA_LOSS = 15,
  TF_UNAUTHENTICATED = 16,
} TF_Code;

}  // extern "C"

namespace tfslice {

// X(name, return type, parameter list): every C API function we call. Adding a
// function here is all it takes to resolve it at load time.
#define TFSLICE_TF_FUNCTIONS(X)                                                 \
  X(TF_Version, const char*, ())                                                \
  X(TF_NewStatus, TF_Status*, ())                                               \
  X(TF_DeleteStatus, void, (TF_Status*))                                        \
  X(TF_GetCode, TF_Code, (const TF_Status*))                                    \
  X(TF_Message, const char*, (const TF_Status*))                                \
  X(TF_NewSessionOptions, TF_SessionOptions*, ())                               \
  X(TF_DeleteSessionOptions, void, (TF_SessionOptions*))                        \
  X(TF_SetConfig, void, (TF_SessionOptions*, const void*, size_t, TF_Status*))  \
  X(TF_SetTarget, void, (TF_SessionOptions*, const char*))                      \
  X(TF_NewImportGraphDefOptions, TF_ImportGraphDefOptions*, ())                 \
  X(TF_DeleteImportGraphDefOptions, void, (TF_ImportGraphDefOptions*))          \
  X(TF_ImportGraphDefOptionsSetDefaultDevice, void,                            \
    (TF_ImportGraphDefOptions*, const char*))                                   \
  X(TF_GraphImportGraphDef, void,                                               \
    (TF_Graph*, const TF_Buffer*, const TF_ImportGraphDefOptions*, TF_Status*)) \
  X(TF_NewSession, TF_Session*, (TF_Graph*, const TF_SessionOptions*, TF_Status*)) \
  X(TF_NewGraph, TF_Graph*, ())                                                 \
  X(TF_DeleteGraph, void, (TF_Graph*))                                          \
  X(TF_GraphOperationByName, TF_Operation*, (TF_Graph*, const char*))           \
  X(TF_OperationNumOutputs, int, (TF_Operation*))                               \
  X(TF_OperationOutputType, TF_DataType, (TF_Output))                           \
  X(TF_NewBuffer, TF_Buffer*, ())                                               \
  X(TF_DeleteBuffer, void, (TF_Buffer*))                                        \
  X(TF_LoadSessionFromSavedModel, TF_Session*,                                  \
    (const TF_SessionOptions*, const TF_Buffer*, const char*,                   \
     const char* const*, int, TF_Graph*, TF_Buffer*, TF_Status*))               \
  X(TF_CloseSession, void, (TF_Session*, TF_Status*))                           \
  X(TF_DeleteSession, void, (TF_Session*, TF_Status*))                          \
  X(TF_SessionRun, void,                                                        \
    (TF_Session*, const TF_Buffer*, const TF_Output*, TF_Tensor* const*, int,   \
     const TF_Output*, TF_Tensor**, int, const TF_Operation* const*, int,       \
     TF_Buffer*, TF_Status*))                                                   \
  X(TF_SessionListDevices, TF_DeviceList*, (TF_Session*, TF_Status*))           \
  X(TF_DeleteDeviceList, void, (TF_DeviceList*))                                \
  X(TF_DeviceListCount, int, (const TF_DeviceList*))                            \
  X(TF_DeviceListName, const char*, (const TF_DeviceList*, int, TF_Status*))    \
  X(TF_DeviceListType, const char*, (const TF_DeviceList*, int, TF_Status*))    \
  X(TF_DeviceListMemoryBytes, int64_t, (const TF_DeviceList*, int, TF_Status*)) \
  X(TF_NewTensor, TF_Tensor*,                                                   \
    (TF_DataType, const int64_t*, int, void*, size_t,                           \
     void (*)(void*, size_t, void*), void*))                                    \
  X(TF_AllocateTensor, TF_Tensor*,                                              \
    (TF_DataType, const int64_t*, int, size_t))                                 \
  X(TF_DeleteTensor, void, (TF_Tensor*))                                        \
  X(TF_TensorType, TF_DataType, (const TF_Tensor*))                             \
  X(TF_NumDims, int, (const TF_Tensor*))                                        \
  X(TF_Dim, int64_t, (const TF_Tensor*, int))                                   \
  X(TF_TensorByteSize, size_t, (const TF_Tensor*))                              \
  X(TF_TensorData, void*, (const TF_Tensor*))                                   \
  X(TF_TensorElementCount, int64_t, (const TF_Tensor*))                         \
  X(TF_TensorDefaultAlignment, size_t, ())                                      \
  X(TF_StringInit, void, (TF_TString*))                                         \
  X(TF_StringCopy, void, (TF_TString*, const char*, size_t))                    \
  X(TF_StringGetDataPointer, const char*, (const TF_TString*))                  \
  X(TF_StringGetSize, size_t, (const TF_TString*))                              \
  X(TF_StringDealloc, void, (TF_TString*))                                      \
  X(TF_TensorMaybeMove, TF_Tensor*, (TF_Tensor*))                               \
  X(TF_LoadLibrary, TF_Library*, (const char*, TF_Status*))                     \
  X(TF_GetOpList, TF_Buffer, (TF_Library*))

struct TfApi {
#define TFSLICE_DECLARE_POINTER(name, ret, params) ret(*name) params = nullptr;
  TFSLICE_TF_FUNCTIONS(TFSLICE_DECLARE_POINTER)
#undef TFSLICE_DECLARE_POINTER
  // Optional, outside the C API: tensorflow::IsMKLEnabled() (a C++ symbol of
  // libtensorflow_framework), TensorFlow's own answer to "are oneDNN kernels on?",
  // whose default depends on the CPU. nullptr when the library does not export it.
  bool (*IsMKLEnabled)() = nullptr;
};

// The process-wide table; valid (all pointers set) once LoadTensorFlow succeeded.
// dlopen is per process, so this is shared by every Node environment (workers too).
const TfApi& tf();

struct LoadResult {
  bool ok = false;
  std::string path;     // what was dlopen'ed
  std::string version;  // TF_Version()
  int one_dnn = -1;     // IsMKLEnabled(): 1 on, 0 off, -1 unknown
  std::string error;    // dlerror() text or "missing symbol TF_X"
};

// Opens `path` (a file, or a bare soname for the system loader) and resolves
// every function. Thread-safe; the first success wins for the process, and a
// later call with another path fails instead of loading a second TensorFlow.
LoadResult LoadTensorFlow(const std::string& path);

// The result of the successful load, or ok=false when nothing is loaded yet.
LoadResult LoadedTensorFlow();

}  // namespace tfslice
