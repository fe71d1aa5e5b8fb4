// The `tiervm` command line: talks to tiervm-agent's control socket.
//
//   tiervm [--socket PATH] status [--json]
//   tiervm [--socket PATH] set VM [--min SIZE] [--max SIZE] [--weight N]
//   tiervm xml ...            (the libvirt XML converter, when built in)
//
// RunCli is main() without the process: tests call it with streams.
// Exit codes: 0 ok, 1 the agent answered an error / not reachable,
// 2 bad usage.  Thread-compatible.
#ifndef TIERVM_HOST_AGENT_CLI_CLI_H_
#define TIERVM_HOST_AGENT_CLI_CLI_H_

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace tiervm::cli {

inline constexpr char kDefaultSocket[] = "/run/tiervm/agent.sock";

// Sends one request line and reads one reply line (timeout 10 s).
// Unavailable with a hint when the agent is not running.
absl::StatusOr<nlohmann::json> Request(const std::string& socket_path,
                                       const nlohmann::json& request);

// The `tiervm xml` subcommand; null when the converter is not linked in.
using XmlCommand = std::function<int(const std::vector<std::string>& args,
                                     std::ostream& out, std::ostream& err)>;

int RunCli(const std::vector<std::string>& args, std::ostream& out,
           std::ostream& err, const XmlCommand& xml = nullptr);

// The human table of a status reply.
std::string FormatStatusTable(const nlohmann::json& status);

}  // namespace tiervm::cli

#endif  // TIERVM_HOST_AGENT_CLI_CLI_H_
