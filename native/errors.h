// Errors that cross from TensorFlow (or our own checks) into JS with a stable `code`.
#pragma once

#include <napi.h>

#include <string>

#include "tf_api.h"

namespace tfslice {

// Plain data, safe to fill on a worker thread; turned into a JS Error on the JS thread.
struct Failure {
  std::string code;  // empty means no failure
  std::string message;
  explicit operator bool() const { return !code.empty(); }
};

// "INVALID_ARGUMENT" for TF_INVALID_ARGUMENT, "UNKNOWN" for codes we do not know.
const char* CodeName(TF_Code code);

// An Error whose `code` property is `code` (a TF status name or one of tfslice's).
Napi::Error MakeError(Napi::Env env, const std::string& code, const std::string& message);
inline Napi::Error MakeError(Napi::Env env, const Failure& failure) {
  return MakeError(env, failure.code, failure.message);
}
Napi::TypeError MakeTypeError(Napi::Env env, const std::string& message);

// Owns a TF_Status for the length of one C API call sequence.
class Status {
 public:
  Status() : status_(tf().TF_NewStatus()) {}
  ~Status() { tf().TF_DeleteStatus(status_); }
  Status(const Status&) = delete;
  Status& operator=(const Status&) = delete;

  TF_Status* get() const { return status_; }
  bool ok() const { return tf().TF_GetCode(status_) == TF_OK; }
  Failure failure(const std::string& context = "") const;

 private:
  TF_Status* status_;
};

}  // namespace tfslice
