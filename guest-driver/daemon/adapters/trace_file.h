// File front end of the replay trace: reads a trace file (with a size
// bound, so a wrong path cannot make the daemon read gigabytes) into the
// placement library's parser.  Errors: those of ReadFileBounded (NotFound,
// PermissionDenied, ResourceExhausted over the bound, Internal), then those
// of DecodeTrace, prefixed with the file name.  Reentrant.
#ifndef TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_TRACE_FILE_H_
#define TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_TRACE_FILE_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "placement/replay_trace.h"

namespace tiervm::adapters {

// 1 GiB = 32 Mi records.
inline constexpr size_t kDefaultMaxTraceBytes = 1ull << 30;

absl::StatusOr<std::vector<placement::Sample>> ReadTraceFile(
    const std::string& path, size_t max_bytes = kDefaultMaxTraceBytes);

absl::StatusOr<placement::ReplaySource> OpenReplayFile(
    const std::string& path, size_t max_bytes = kDefaultMaxTraceBytes);

}  // namespace tiervm::adapters

#endif  // TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_TRACE_FILE_H_
