#include "serenity/kernels/xnnpack_util.h"

#include <mutex>

namespace serenity::kernels {

const char* XnnStatusName(xnn_status status) {
  switch (status) {
    case xnn_status_success:
      return "xnn_status_success";
    case xnn_status_uninitialized:
      return "xnn_status_uninitialized";
    case xnn_status_invalid_parameter:
      return "xnn_status_invalid_parameter";
    case xnn_status_invalid_state:
      return "xnn_status_invalid_state";
    case xnn_status_unsupported_parameter:
      return "xnn_status_unsupported_parameter";
    case xnn_status_unsupported_hardware:
      return "xnn_status_unsupported_hardware";
    case xnn_status_out_of_memory:
      return "xnn_status_out_of_memory";
  }
  return "xnn_status_unknown";
}

Status XnnToStatus(xnn_status status, const std::string& what) {
  if (status == xnn_status_success) return Status::Ok();
  if (status == xnn_status_out_of_memory) {
    return ResourceExhaustedError(what, ": ", XnnStatusName(status));
  }
  return BackendError(what, ": ", XnnStatusName(status));
}

Status InitializeXnnpack(const xnn_allocator* allocator) {
  static std::mutex mutex;
  static bool initialized = false;
  std::lock_guard<std::mutex> lock(mutex);
  if (initialized) return Status::Ok();
  SERENITY_RETURN_IF_ERROR(XnnToStatus(xnn_initialize(allocator), "xnn_initialize"));
  initialized = true;
  return Status::Ok();
}

}  // namespace serenity::kernels
