#include "converter/host_topology.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tiervm::libvirt {
namespace {

namespace fs = std::filesystem;

std::optional<std::string> ReadSmallFile(const fs::path& p) {
  std::ifstream in(p);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  std::string out = s.str();
  if (out.size() > (1 << 20)) out.resize(1 << 20);
  return out;
}

std::optional<uint32_t> ReadU32(const fs::path& p) {
  std::optional<std::string> s = ReadSmallFile(p);
  uint32_t v = 0;
  if (!s || !absl::SimpleAtoi(absl::StripAsciiWhitespace(*s), &v) || v == 0) {
    return std::nullopt;
  }
  return v;
}

}  // namespace

absl::StatusOr<uint64_t> ParseNodeMemTotal(const std::string& meminfo) {
  for (absl::string_view line : absl::StrSplit(meminfo, '\n')) {
    const size_t at = line.find("MemTotal:");
    if (at == absl::string_view::npos) continue;
    absl::string_view rest = absl::StripAsciiWhitespace(line.substr(at + 9));
    if (!absl::ConsumeSuffix(&rest, "kB")) break;
    uint64_t kib = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(rest), &kib) ||
        kib > (kMaxSizeBytes >> 10)) {
      break;
    }
    return kib << 10;
  }
  return absl::InvalidArgumentError("no 'MemTotal: N kB' line");
}

absl::StatusOr<HostTopology> ReadHostTopology(const std::string& sysfs_root) {
  const fs::path dir = fs::path(sysfs_root) / "devices/system/node";
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    return absl::NotFoundError(absl::StrCat("cannot list ", dir.string(), ": ",
                                            ec.message()));
  }
  HostTopology topo;
  for (const fs::directory_entry& e : it) {
    const std::string name = e.path().filename().string();
    int id = 0;
    if (name.rfind("node", 0) != 0 ||
        !absl::SimpleAtoi(absl::string_view(name).substr(4), &id) || id < 0 ||
        id > kMaxHostNode || absl::StrCat("node", id) != name) {
      continue;
    }
    std::optional<std::string> meminfo = ReadSmallFile(e.path() / "meminfo");
    if (!meminfo) {
      return absl::NotFoundError(
          absl::StrCat("cannot read ", (e.path() / "meminfo").string()));
    }
    absl::StatusOr<uint64_t> total = ParseNodeMemTotal(*meminfo);
    if (!total.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          (e.path() / "meminfo").string(), ": ", total.status().message()));
    }
    HostNode node;
    node.mem_total_bytes = *total;
    const fs::path perf = e.path() / "access0/initiators";
    node.read_latency_ns = ReadU32(perf / "read_latency");
    node.write_latency_ns = ReadU32(perf / "write_latency");
    node.read_bandwidth_mibps = ReadU32(perf / "read_bandwidth");
    node.write_bandwidth_mibps = ReadU32(perf / "write_bandwidth");
    topo.nodes[id] = node;
  }
  if (topo.nodes.empty()) {
    return absl::NotFoundError(absl::StrCat("no node* entries in ", dir.string()));
  }
  return topo;
}

absl::Status CheckConfigAgainstHost(const TieringConfig& c, const HostTopology& host) {
  for (auto [attr, nodes] : {std::pair<const char*, const std::vector<int>*>{"fmem", &c.fmem_host_nodes},
                             {"smem", &c.smem_host_nodes}}) {
    for (int n : *nodes) {
      if (!host.nodes.count(n)) {
        std::string have;
        for (const auto& [id, _] : host.nodes) absl::StrAppend(&have, have.empty() ? "" : ",", id);
        return absl::FailedPreconditionError(absl::StrCat(
            "<tiervm:host-nodes ", attr, "=...>: host NUMA node ", n,
            " does not exist (host nodes: ", have, ")"));
      }
    }
  }
  auto capacity = [&](const std::vector<int>& nodes) {
    uint64_t sum = 0;
    if (nodes.empty()) {
      for (const auto& [_, n] : host.nodes) sum += n.mem_total_bytes;
    } else {
      for (int id : nodes) sum += host.nodes.at(id).mem_total_bytes;
    }
    return sum;
  };
  auto fail = [](absl::string_view what, uint64_t want, absl::string_view nodes, uint64_t have) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, ": ", want / kMiB, " MiB does not fit host nodes ", nodes,
        " (MemTotal ", have / kMiB, " MiB)"));
  };
  const auto label = [](const std::vector<int>& v) {
    return v.empty() ? std::string("(all)") : FormatNodeSet(v);
  };
  const uint64_t fcap = capacity(c.fmem_host_nodes);
  const uint64_t scap = capacity(c.smem_host_nodes);
  if (c.fmem_max_bytes > fcap) {
    return fail("<tiervm:fmem max>", c.fmem_max_bytes, label(c.fmem_host_nodes), fcap);
  }
  if (c.smem_bytes > scap) {
    return fail("<tiervm:smem size>", c.smem_bytes, label(c.smem_host_nodes), scap);
  }
  // Tiers sharing host memory (an unbound tier shares with everything)
  // must fit together.
  std::vector<int> both;
  std::set_intersection(c.fmem_host_nodes.begin(), c.fmem_host_nodes.end(),
                        c.smem_host_nodes.begin(), c.smem_host_nodes.end(),
                        std::back_inserter(both));
  if (c.fmem_host_nodes.empty() || c.smem_host_nodes.empty() || !both.empty()) {
    std::vector<int> uni;
    if (!c.fmem_host_nodes.empty() && !c.smem_host_nodes.empty()) {
      std::set_union(c.fmem_host_nodes.begin(), c.fmem_host_nodes.end(),
                     c.smem_host_nodes.begin(), c.smem_host_nodes.end(),
                     std::back_inserter(uni));
    }
    const uint64_t cap = capacity(uni);
    if (c.fmem_max_bytes + c.smem_bytes > cap) {
      return fail("<tiervm:fmem max> + <tiervm:smem size>",
                  c.fmem_max_bytes + c.smem_bytes, label(uni), cap);
    }
  }
  return absl::OkStatus();
}

TierPerformance PerformanceOf(const HostTopology* host, const std::vector<int>& nodes,
                              TierPerformance fallback) {
  if (host == nullptr || nodes.empty()) return fallback;
  TierPerformance p{0, UINT32_MAX, true};
  for (int id : nodes) {
    auto it = host->nodes.find(id);
    if (it == host->nodes.end()) return fallback;
    const HostNode& n = it->second;
    if (!n.read_latency_ns && !n.write_latency_ns) return fallback;
    if (!n.read_bandwidth_mibps && !n.write_bandwidth_mibps) return fallback;
    p.latency_ns = std::max({p.latency_ns, n.read_latency_ns.value_or(0),
                             n.write_latency_ns.value_or(0)});
    p.bandwidth_mibps = std::min({p.bandwidth_mibps,
                                  n.read_bandwidth_mibps.value_or(UINT32_MAX),
                                  n.write_bandwidth_mibps.value_or(UINT32_MAX)});
  }
  return p;
}

}  // namespace tiervm::libvirt
