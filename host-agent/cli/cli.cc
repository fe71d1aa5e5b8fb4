#include "cli/cli.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "daemon/units.h"

namespace tiervm::cli {

using json = nlohmann::json;
using tiervm::agent::FormatBytes;
using tiervm::agent::ParseByteSize;

namespace {

constexpr char kUsage[] =
    "usage: tiervm [--socket PATH] status [--json]\n"
    "       tiervm [--socket PATH] set VM [--min SIZE] [--max SIZE] [--weight N]\n"
    "       tiervm xml ARGS...\n"
    "SIZE: bytes or with a unit, e.g. 512MiB, 2GiB.  Default socket: "
    "/run/tiervm/agent.sock\n";

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

absl::StatusOr<json> Request(const std::string& path, const json& request) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError("socket path too long");
  }
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return absl::InternalError(std::strerror(errno));
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int e = errno;
    if (e == ENOENT || e == ECONNREFUSED) {
      return absl::UnavailableError(absl::StrCat(
          "tiervm-agent is not running (no listener on ", path,
          "; start it with `systemctl start tiervm-agent` or pass --socket)"));
    }
    if (e == EACCES) {
      return absl::PermissionDeniedError(
          absl::StrCat(path, ": permission denied (the control socket is root-only)"));
    }
    return absl::UnavailableError(absl::StrCat("connect ", path, ": ", std::strerror(e)));
  }
  const std::string line = request.dump() + "\n";
  size_t sent = 0;
  while (sent < line.size()) {
    const ssize_t n = ::send(fd.get(), line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n < 0) return absl::UnavailableError(absl::StrCat("send: ", std::strerror(errno)));
    sent += static_cast<size_t>(n);
  }
  std::string reply;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (reply.find('\n') == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) return absl::DeadlineExceededError("the agent did not answer within 10 s");
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    char buf[65536];
    const ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
    if (n <= 0) return absl::UnavailableError("the agent closed the connection");
    reply.append(buf, static_cast<size_t>(n));
    if (reply.size() > (size_t{64} << 20)) return absl::DataLossError("reply too large");
  }
  json j = json::parse(reply.substr(0, reply.find('\n')), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return absl::DataLossError("reply is not JSON");
  return j;
}

namespace {

uint64_t U(const json& j, const char* k) {
  auto it = j.find(k);
  return it != j.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}
std::string S(const json& j, const char* k) {
  auto it = j.find(k);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}
std::string Pct(uint64_t ppm) { return absl::StrFormat("%.1f%%", ppm / 10000.0); }
std::string Mib(uint64_t b) { return absl::StrFormat("%.0f", b / 1048576.0); }

}  // namespace

std::string FormatStatusTable(const json& s) {
  std::string o = absl::StrFormat(
      "policy %s  budget %s  FMEM targets %s  host free FMEM %s  pressure %s\n",
      S(s, "policy"), FormatBytes(U(s, "budget_bytes")),
      FormatBytes(U(s, "sum_fmem_target_bytes")), FormatBytes(U(s, "host_free_fmem_bytes")),
      S(s, "host_pressure"));
  if (s.contains("ksm") && s["ksm"].is_object()) {
    absl::StrAppend(&o, "KSM merged (host-wide): ", FormatBytes(U(s["ksm"], "merged_bytes")), "\n");
  }
  if (!S(s, "last_error").empty()) absl::StrAppend(&o, "last error: ", S(s, "last_error"), "\n");
  absl::StrAppend(&o, absl::StrFormat(
      "%-16s %-11s %9s %9s %9s %9s %6s %6s %9s %9s %4s\n", "VM", "STATE",
      "FMEM_TGT", "FMEM_ACT", "SMEM", "HOT", "SMEM%", "PSI", "MIN", "MAX", "W"));
  const json vms = s.contains("vms") && s["vms"].is_array() ? s["vms"] : json::array();
  for (const json& v : vms) {
    absl::StrAppend(&o, absl::StrFormat(
        "%-16s %-11s %9s %9s %9s %9s %6s %6s %9s %9s %4d\n", S(v, "vm"), S(v, "state"),
        Mib(U(v, "fmem_target_bytes")), Mib(U(v, "fmem_actual_bytes")),
        Mib(U(v, "smem_bytes")), Mib(U(v, "hot_bytes")),
        Pct(U(v, "smem_share_ppm")), Pct(U(v, "psi_some_ppm")),
        Mib(U(v, "min_fmem_bytes")), Mib(U(v, "max_fmem_bytes")), U(v, "weight")));
    if (!S(v, "error").empty()) absl::StrAppend(&o, "  error: ", S(v, "error"), "\n");
    // A line of its own, so that the table keeps its columns for agents
    // that do not measure residency.
    if (v.contains("fmem_resident_bytes") && v["fmem_resident_bytes"].is_number_unsigned()) {
      const bool over = v.value("fmem_over_target", false);
      absl::StrAppend(&o, "  FMEM resident: ", Mib(U(v, "fmem_resident_bytes")),
                      over ? "  OVER TARGET (the balloon does not hold it; charged to the budget)"
                           : "",
                      "\n");
    }
    if (!S(v, "residency_error").empty()) {
      absl::StrAppend(&o, "  FMEM residency: ", S(v, "residency_error"), "\n");
    }
  }
  absl::StrAppend(&o, "(sizes in MiB)\n");
  return o;
}

int RunCli(const std::vector<std::string>& args, std::ostream& out,
           std::ostream& err, const XmlCommand& xml) {
  std::string socket = kDefaultSocket;
  size_t i = 0;
  while (i < args.size() && args[i].rfind("--", 0) == 0) {
    if (args[i] == "--socket" && i + 1 < args.size()) {
      socket = args[i + 1];
      i += 2;
    } else if (args[i] == "--help" || args[i] == "-h") {
      out << kUsage;
      return 0;
    } else {
      err << "tiervm: unknown option " << args[i] << "\n" << kUsage;
      return 2;
    }
  }
  if (i >= args.size()) {
    err << kUsage;
    return 2;
  }
  const std::string cmd = args[i++];
  if (cmd == "xml") {
    if (!xml) {
      err << "tiervm xml: not built (the libvirt XML converter, "
             "libvirt-hooks/, is not linked into this tiervm)\n";
      return 2;
    }
    return xml(std::vector<std::string>(args.begin() + static_cast<ptrdiff_t>(i), args.end()),
               out, err);
  }
  json req;
  bool as_json = false;
  if (cmd == "status") {
    for (; i < args.size(); ++i) {
      if (args[i] == "--json") as_json = true;
      else if (args[i] == "--socket" && i + 1 < args.size()) socket = args[++i];
      else {
        err << "tiervm status: unknown argument " << args[i] << "\n" << kUsage;
        return 2;
      }
    }
    req = {{"cmd", "status"}};
  } else if (cmd == "set") {
    if (i >= args.size() || args[i].rfind("--", 0) == 0) {
      err << "tiervm set: missing VM name\n" << kUsage;
      return 2;
    }
    req = {{"cmd", "set"}, {"vm", args[i++]}};
    for (; i < args.size(); ++i) {
      const std::string& a = args[i];
      if (i + 1 >= args.size()) {
        err << "tiervm set: " << a << " needs a value\n";
        return 2;
      }
      const std::string& v = args[++i];
      if (a == "--min" || a == "--max") {
        absl::StatusOr<uint64_t> b = ParseByteSize(v);
        if (!b.ok()) {
          err << "tiervm set: " << a << ": " << b.status().message() << "\n";
          return 2;
        }
        req[a == "--min" ? "min_fmem_bytes" : "max_fmem_bytes"] = *b;
      } else if (a == "--weight") {
        uint32_t w = 0;
        if (!absl::SimpleAtoi(v, &w) || w < 1 || w > 1000) {
          err << "tiervm set: --weight: expected an integer in 1..1000\n";
          return 2;
        }
        req["weight"] = w;
      } else if (a == "--socket") {
        socket = v;
      } else {
        err << "tiervm set: unknown argument " << a << "\n" << kUsage;
        return 2;
      }
    }
    if (!req.contains("min_fmem_bytes") && !req.contains("max_fmem_bytes") &&
        !req.contains("weight")) {
      err << "tiervm set: give at least one of --min, --max, --weight\n";
      return 2;
    }
  } else {
    err << "tiervm: unknown command '" << cmd << "'\n" << kUsage;
    return 2;
  }
  absl::StatusOr<json> reply = Request(socket, req);
  if (!reply.ok()) {
    err << "tiervm: " << reply.status().message() << "\n";
    return 1;
  }
  if (!reply->value("ok", false)) {
    err << "tiervm: agent: " << S(*reply, "error") << "\n";
    return 1;
  }
  if (cmd == "status") {
    out << (as_json ? reply->dump(2) + "\n" : FormatStatusTable(*reply));
  } else {
    out << "ok\n";
  }
  return 0;
}

}  // namespace tiervm::cli
