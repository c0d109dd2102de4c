// Glue between XNNPACK's status codes and Serenity's Status.
#ifndef SERENITY_KERNELS_XNNPACK_UTIL_H_
#define SERENITY_KERNELS_XNNPACK_UTIL_H_

#include <xnnpack.h>

#include <string>

#include "serenity/status.h"

namespace serenity::kernels {

// "xnn_status_invalid_parameter", ...
const char* XnnStatusName(xnn_status status);

// OK for xnn_status_success; else kBackendError (kResourceExhausted for
// out-of-memory) whose message is "<what>: <xnn status name>".
Status XnnToStatus(xnn_status status, const std::string& what);

// Initialises XNNPACK once per process (thread-safe, idempotent). `allocator`
// is used only by the first call that succeeds; pass nullptr for malloc.
Status InitializeXnnpack(const xnn_allocator* allocator = nullptr);

}  // namespace serenity::kernels

#endif  // SERENITY_KERNELS_XNNPACK_UTIL_H_
