// Bounded whole-file reads for the procfs/sysfs readers and the trace front
// end, and an atomic whole-file replace for hplaced's state file.  procfs
// files report st_size 0, so the file is read until EOF, never sized up
// front; `max_bytes` bounds the memory any one file can take.
//
// Errors name the file: NotFound (ENOENT/ESRCH: the process or node went
// away), PermissionDenied, ResourceExhausted (larger than max_bytes),
// Internal (any other errno).  Reentrant.
#ifndef TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_FILE_UTIL_H_
#define TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_FILE_UTIL_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tiervm::adapters {

absl::StatusOr<std::string> ReadFileBounded(const std::string& path, size_t max_bytes);

// Replaces `path` with `text`: written to `path`.tmp, then renamed over
// it, so a reader (or a process started after a SIGKILL of the writer)
// sees the old file or the whole new one.  No fsync: the callers' files
// live in /run, which does not survive a power loss anyway.  The
// temporary is removed on failure.
absl::Status WriteFileAtomically(const std::string& path, std::string_view text);

// absl::Status for an errno from an operation on `path`.
absl::Status ErrnoStatus(int err, const std::string& what, const std::string& path);

}  // namespace tiervm::adapters

#endif  // TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_FILE_UTIL_H_
