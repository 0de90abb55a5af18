#include "errors.h"

namespace tfslice {

const char* CodeName(TF_Code code) {
  switch (code) {
    case TF_OK: return "OK";
    case TF_CANCELLED: return "CANCELLED";
    case TF_UNKNOWN: return "UNKNOWN";
    case TF_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case TF_DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case TF_NOT_FOUND: return "NOT_FOUND";
    case TF_ALREADY_EXISTS: return "ALREADY_EXISTS";
    case TF_PERMISSION_DENIED: return "PERMISSION_DENIED";
    case TF_RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case TF_FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case TF_ABORTED: return "ABORTED";
    case TF_OUT_OF_RANGE: return "OUT_OF_RANGE";
    case TF_UNIMPLEMENTED: return "UNIMPLEMENTED";
    case TF_INTERNAL: return "INTERNAL";
    case TF_UNAVAILABLE: return "UNAVAILABLE";
    case TF_DATA_LOSS: return "DATA_LOSS";
    case TF_UNAUTHENTICATED: return "UNAUTHENTICATED";
  }
  return "UNKNOWN";
}

Napi::Error MakeError(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  return error;
}

Napi::TypeError MakeTypeError(Napi::Env env, const std::string& message) {
  Napi::TypeError error = Napi::TypeError::New(env, message);
  error.Set("code", Napi::String::New(env, "ERR_INVALID_ARG_TYPE"));
  return error;
}

Failure Status::failure(const std::string& context) const {
  TF_Code code = tf().TF_GetCode(status_);
  if (code == TF_OK) return {};
  std::string message = tf().TF_Message(status_);
  return {CodeName(code), context.empty() ? message : context + ": " + message};
}

}  // namespace tfslice
