// Integer sysctl files (/proc/sys/...): read one, write one.
//
// A sysctl file holds one decimal integer and a newline.  Reads are
// bounded; anything else in the file is InvalidArgument naming the file.
// Writes replace the value with one write(2).  Errors name the file (see
// file_util.h for the mapping of errno).  Reentrant; no state.
#ifndef TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_SYSCTL_H_
#define TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_SYSCTL_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tiervm::adapters {

absl::StatusOr<int64_t> ReadSysctlInt(const std::string& path);
absl::Status WriteSysctlInt(const std::string& path, int64_t value);

}  // namespace tiervm::adapters

#endif  // TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_SYSCTL_H_
