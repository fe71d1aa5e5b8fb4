#include "hook/hook.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "converter/converter.h"
#include "converter/host_topology.h"
#include "converter/metadata.h"

namespace tiervm::libvirt {

std::string VmEventLine(const std::string& vm, const std::string& event,
                        std::optional<uint64_t> min_fmem_bytes,
                        std::optional<uint64_t> max_fmem_bytes,
                        std::optional<uint32_t> weight) {
  nlohmann::json j = {{"cmd", "vm-event"}, {"vm", vm}, {"event", event}};
  if (min_fmem_bytes) j["min_fmem_bytes"] = *min_fmem_bytes;
  if (max_fmem_bytes) j["max_fmem_bytes"] = *max_fmem_bytes;
  if (weight) j["weight"] = *weight;
  // Invalid UTF-8 in a domain name must not throw.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

absl::Status ReadHookConfig(const std::string& path, HookOptions* o) {
  std::ifstream in(path);
  if (!in) return absl::OkStatus();
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    absl::string_view l = absl::StripAsciiWhitespace(line);
    if (l.empty() || l[0] == '#') continue;
    std::vector<absl::string_view> kv = absl::StrSplit(l, absl::MaxSplits('=', 1));
    if (kv.size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", n, ": expected key = value"));
    }
    const absl::string_view key = absl::StripAsciiWhitespace(kv[0]);
    absl::string_view value = absl::StripAsciiWhitespace(kv[1]);
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    if (key == "agent_socket") {
      o->agent_socket = std::string(value);
    } else if (key == "sysfs_root") {
      o->sysfs_root = std::string(value);
    } else if (key == "agent_timeout_ms") {
      int ms = 0;
      if (!absl::SimpleAtoi(value, &ms) || ms < 1 || ms > 60000) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ":", n, ": agent_timeout_ms must be 1..60000"));
      }
      o->agent_timeout_ms = ms;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", n, ": unknown key '", key, "'"));
    }
  }
  return absl::OkStatus();
}

namespace {

int Prepare(const std::string& vm, absl::string_view xml, const HookOptions& o,
            std::ostream& err) {
  absl::StatusOr<HostTopology> host = ReadHostTopology(o.sysfs_root);
  if (!host.ok()) {
    err << "tiervm: domain '" << vm << "': cannot read the host's NUMA nodes: "
        << host.status().message() << "\n";
    return 1;
  }
  absl::StatusOr<ConvertResult> r = ConvertDomain(xml, TieringOverrides{}, &*host, true);
  if (!r.ok()) {
    err << "tiervm: domain '" << vm << "' refused: " << r.status().message() << "\n";
    return 1;
  }
  if (!r->changes.empty()) {
    err << "tiervm: domain '" << vm << "' refused: its XML is not a complete tiered domain ("
        << absl::StrJoin(r->changes, "; ")
        << " would be needed); convert it with `tiervm xml` and define it again\n";
    return 1;
  }
  return 0;
}

void Notify(const std::string& vm, const std::string& event, const TieringConfig& c,
            const HookOptions& o, std::ostream& err) {
  const bool started = event == "started";
  const std::string line =
      VmEventLine(vm, event, started ? std::optional<uint64_t>(c.fmem_min_bytes) : std::nullopt,
                  started ? std::optional<uint64_t>(c.fmem_max_bytes) : std::nullopt,
                  started ? std::optional<uint32_t>(c.weight) : std::nullopt);
  absl::StatusOr<std::string> reply = AgentExchange(o.agent_socket, line, o.agent_timeout_ms);
  if (!reply.ok()) {
    err << "tiervm: warning: domain '" << vm << "' " << event
        << ": agent not notified: " << reply.status().message() << "\n";
    return;
  }
  const nlohmann::json j = nlohmann::json::parse(*reply, nullptr, false);
  if (j.is_object() && j.value("ok", false) == true) return;
  std::string why = "unreadable reply";
  if (j.is_object() && j.contains("error") && j["error"].is_string()) {
    why = j["error"].get<std::string>();
  }
  err << "tiervm: warning: domain '" << vm << "' " << event << ": agent refused: " << why
      << "\n";
}

}  // namespace

HookInput ReadBoundedInput(int fd, size_t max_bytes, int timeout_ms) {
  HookInput in;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char buf[64 * 1024];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      in.timed_out = true;
      break;
    }
    pollfd p{fd, POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      in.timed_out = true;
      break;
    }
    if (ready < 0) break;  // not a pollable fd: treat as end of input
    // One byte past the bound tells "exactly at the bound" from "over".
    const size_t want = std::min(sizeof buf, max_bytes + 1 - in.xml.size());
    const ssize_t n = read(fd, buf, want);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    in.xml.append(buf, static_cast<size_t>(n));
    if (in.xml.size() > max_bytes) {
      in.xml.resize(max_bytes);
      in.truncated = true;
      break;
    }
  }
  return in;
}

int RunHook(const std::vector<std::string>& args, absl::string_view xml, const HookOptions& o,
            std::ostream& err) {
  HookInput in;
  in.xml = std::string(xml);
  return RunHook(args, in, o, err);
}

int RunHook(const std::vector<std::string>& args, const HookInput& input, const HookOptions& o,
            std::ostream& err) {
  if (args.size() < 2) {
    err << "tiervm hook: usage: tiervm <domain> <operation> <sub-operation> <extra>"
           " (run by libvirt, domain XML on stdin)\n";
    return 2;
  }
  const std::string& vm = args[0];
  const std::string& op = args[1];
  const bool wanted = op == "prepare" || op == "started" || op == "stopped" || op == "release";
  if (!wanted) return 0;
  const absl::string_view xml = input.xml;
  // Whether the text claims to be ours decides what an unreadable domain
  // means.  libvirt writes the namespace URI literally in the metadata it
  // stores, so a tiered domain from libvirt always matches.
  const bool names_tiervm = absl::StrContains(xml, kTieringNsUri);
  absl::Status unreadable;
  if (input.truncated) {
    unreadable = absl::InvalidArgumentError(absl::StrCat(
        "domain XML larger than ", kMaxDomainXmlBytes, " bytes; not read"));
  } else if (input.timed_out) {
    unreadable = absl::DeadlineExceededError(
        "domain XML did not arrive on stdin in time; not read");
  }
  using Meta = absl::StatusOr<std::optional<TieringConfig>>;
  const Meta meta = unreadable.ok() ? ParseTieringMetadata(xml) : Meta(unreadable);
  if (!meta.ok()) {
    // A tiered domain whose metadata is broken or cannot be read must not
    // start unchecked.  Anything else starts: failing here would block
    // every domain, tiered or not, on XML libvirt itself accepted.  On the
    // stop side the VM is gone anyway and failing would only add noise.
    if (op == "prepare" && names_tiervm) {
      err << "tiervm: domain '" << vm << "' refused: " << meta.status().message() << "\n";
      return 1;
    }
    err << "tiervm: warning: domain '" << vm << "' " << op << ": " << meta.status().message()
        << (names_tiervm ? "" : " (no TierVM metadata seen; ignored)") << "\n";
    return 0;
  }
  if (!meta->has_value()) return 0;  // not a tiered domain
  if (op == "prepare") return Prepare(vm, xml, o, err);
  Notify(vm, op, **meta, o, err);
  return 0;
}

}  // namespace tiervm::libvirt
