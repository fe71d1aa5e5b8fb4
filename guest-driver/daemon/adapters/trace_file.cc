#include "daemon/adapters/trace_file.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "daemon/adapters/file_util.h"

namespace tiervm::adapters {

absl::StatusOr<std::vector<placement::Sample>> ReadTraceFile(const std::string& path,
                                                             size_t max_bytes) {
  absl::StatusOr<std::string> bytes = ReadFileBounded(path, max_bytes);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<std::vector<placement::Sample>> samples = placement::DecodeTrace(*bytes);
  if (!samples.ok()) {
    return absl::Status(samples.status().code(),
                        absl::StrCat(path, ": ", samples.status().message()));
  }
  return samples;
}

absl::StatusOr<placement::ReplaySource> OpenReplayFile(const std::string& path,
                                                       size_t max_bytes) {
  absl::StatusOr<std::vector<placement::Sample>> samples = ReadTraceFile(path, max_bytes);
  if (!samples.ok()) return samples.status();
  return placement::ReplaySource(std::move(*samples));
}

}  // namespace tiervm::adapters
