// Byte sizes as operators write them: "1073741824", "512MiB", "1.5GiB",
// "2G".  Shared by the config file and the CLI.  Pure; thread-safe.
#ifndef TIERVM_HOST_AGENT_DAEMON_UNITS_H_
#define TIERVM_HOST_AGENT_DAEMON_UNITS_H_

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace tiervm::agent {

// A non-negative integer or decimal followed by an optional unit: B, KiB/K,
// MiB/M, GiB/G, TiB/T (binary; case-insensitive; spaces allowed between).
// InvalidArgument with the reason; fractions are rounded down to a byte.
absl::StatusOr<uint64_t> ParseByteSize(absl::string_view text);

// "1.5 GiB", "512 MiB", "4096 B": for humans (tables, logs).
std::string FormatBytes(uint64_t bytes);

}  // namespace tiervm::agent

#endif  // TIERVM_HOST_AGENT_DAEMON_UNITS_H_
