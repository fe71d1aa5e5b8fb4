// One request/reply exchange with the tiervm host agent over its unix
// control socket (line-delimited JSON).  Every step (connect, write, read
// the reply line) shares one deadline, so a missing, stuck or slow agent
// costs the caller at most `timeout_ms`.  Thread-compatible (no state).
#ifndef TIERVM_LIBVIRT_HOOKS_HOOK_AGENT_CLIENT_H_
#define TIERVM_LIBVIRT_HOOKS_HOOK_AGENT_CLIENT_H_

#include <string>

#include "absl/status/statusor.h"

namespace tiervm::libvirt {

inline constexpr char kDefaultAgentSocket[] = "/run/tiervm/agent.sock";

// Sends `line` (a JSON object; a newline is appended) and returns the
// first reply line (without newline, at most 64 KiB).  Errors:
// Unavailable (no socket / refused), DeadlineExceeded, Internal (I/O).
absl::StatusOr<std::string> AgentExchange(const std::string& socket_path,
                                          const std::string& line,
                                          int timeout_ms);

}  // namespace tiervm::libvirt

#endif  // TIERVM_LIBVIRT_HOOKS_HOOK_AGENT_CLIENT_H_
