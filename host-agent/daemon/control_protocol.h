// The control socket's request language: one JSON object per line.
//
//   {"cmd":"status"}
//   {"cmd":"set","vm":NAME,"min_fmem_bytes"?:N,"max_fmem_bytes"?:N,"weight"?:N}
//   {"cmd":"vm-event","vm":NAME,"event":"started"|"stopped"|"release",
//    "qmp_socket"?:PATH,"min_fmem_bytes"?:N,"max_fmem_bytes"?:N,"weight"?:N}
//
// Replies are one line: {"ok":true,...} or {"ok":false,"error":"..."}.
// ParseControlRequest is strict (unknown members, wrong types, bad names,
// weights outside 1..1000, min > max are errors) and pure, so it is fuzzed
// on its own.  Thread-safe.
#ifndef TIERVM_HOST_AGENT_DAEMON_CONTROL_PROTOCOL_H_
#define TIERVM_HOST_AGENT_DAEMON_CONTROL_PROTOCOL_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "adapters/vm_source.h"

namespace tiervm::agent {

inline constexpr size_t kMaxControlRequestBytes = 64 * 1024;

struct ControlRequest {
  enum class Kind { kStatus, kSet, kVmEvent };
  enum class Event { kNone, kStarted, kStopped, kRelease };
  Kind kind = Kind::kStatus;
  std::string vm;
  VmSettings settings;
  Event event = Event::kNone;
  std::string qmp_socket;
};

// InvalidArgument with a message fit to send back to the client.
absl::StatusOr<ControlRequest> ParseControlRequest(std::string_view line);

// {"ok":false,"error":message} as one line (no newline).
std::string ControlError(std::string_view message);

}  // namespace tiervm::agent

#endif  // TIERVM_HOST_AGENT_DAEMON_CONTROL_PROTOCOL_H_
