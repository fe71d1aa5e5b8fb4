#include "converter/xml_command.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "converter/converter.h"
#include "converter/host_topology.h"

namespace tiervm::libvirt {
namespace {

constexpr char kUsage[] =
    "usage: tiervm xml [options] INPUT|-\n"
    "Converts a libvirt domain XML into a tiered one (FMEM = guest node 0,\n"
    "SMEM = guest node 1, virtio-hballoon-pci id=hb0).  Options override the\n"
    "domain's existing <tiervm:tiering> metadata.\n"
    "  --fmem-min SIZE          FMEM the VM always keeps\n"
    "  --fmem-max SIZE          FMEM node size (guest node 0)\n"
    "  --fmem-initial SIZE      FMEM given at start (default: max)\n"
    "  --smem SIZE              SMEM node size (guest node 1)\n"
    "  --fmem-host-nodes SET    host NUMA nodes backing FMEM (e.g. 0 or 0-1)\n"
    "  --smem-host-nodes SET    host NUMA nodes backing SMEM\n"
    "  --dedup on|off           KSM merging of guest memory (default off)\n"
    "  --weight N               share weight, 1..1000 (default 100)\n"
    "  --psi-target-pct N       guest memory PSI 'some' target, 0..100\n"
    "  --smem-stall-target-pct N  SMEM stall target, 0..100\n"
    "  --sample-budget-ppm N    guest sampling budget, 0..1000000\n"
    "  --check-host             check host nodes exist and sizes fit\n"
    "  --sysfs-root DIR         sysfs to read the host from (default /sys)\n"
    "  --changes                list what was changed on stderr\n"
    "  -o FILE                  write to FILE instead of stdout\n"
    "SIZE: a number with an optional unit (K, M, G, T, KiB, MiB, GiB, TiB;\n"
    "default MiB), e.g. 4G or 4096.\n";

bool ParseU32(const std::string& s, uint32_t* out) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos &&
         absl::SimpleAtoi(s, out);
}

}  // namespace

int RunXmlCommand(const std::vector<std::string>& args, std::ostream& out,
                  std::ostream& err) {
  TieringOverrides o;
  std::string input, output, sysfs_root = "/sys";
  bool check_host = false, list_changes = false;
  auto usage = [&](const std::string& why) {
    err << "tiervm xml: " << why << "\n" << kUsage;
    return 2;
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") {
      out << kUsage;
      return 0;
    }
    if (a == "--check-host") {
      check_host = true;
      continue;
    }
    if (a == "--changes") {
      list_changes = true;
      continue;
    }
    if (a.size() > 1 && a[0] == '-') {
      if (i + 1 >= args.size()) return usage(absl::StrCat(a, " needs a value"));
      const std::string& v = args[++i];
      auto size = [&](std::optional<uint64_t>* dst) {
        absl::StatusOr<uint64_t> b = ParseSizeArg(v);
        if (!b.ok()) return usage(absl::StrCat(a, ": ", b.status().message()));
        *dst = *b;
        return 0;
      };
      auto nodes = [&](std::optional<std::vector<int>>* dst) {
        absl::StatusOr<std::vector<int>> n = ParseNodeSet(v);
        if (!n.ok()) return usage(absl::StrCat(a, ": ", n.status().message()));
        *dst = *n;
        return 0;
      };
      auto number = [&](std::optional<uint32_t>* dst) {
        uint32_t n = 0;
        if (!ParseU32(v, &n)) return usage(absl::StrCat(a, ": '", v, "' is not a number"));
        *dst = n;
        return 0;
      };
      int rc = 0;
      if (a == "--fmem-min") rc = size(&o.fmem_min_bytes);
      else if (a == "--fmem-max") rc = size(&o.fmem_max_bytes);
      else if (a == "--fmem-initial") rc = size(&o.fmem_initial_bytes);
      else if (a == "--smem") rc = size(&o.smem_bytes);
      else if (a == "--fmem-host-nodes") rc = nodes(&o.fmem_host_nodes);
      else if (a == "--smem-host-nodes") rc = nodes(&o.smem_host_nodes);
      else if (a == "--weight") rc = number(&o.weight);
      else if (a == "--psi-target-pct") rc = number(&o.psi_some_target_pct);
      else if (a == "--smem-stall-target-pct") rc = number(&o.smem_stall_target_pct);
      else if (a == "--sample-budget-ppm") rc = number(&o.sample_budget_ppm);
      else if (a == "--sysfs-root") sysfs_root = v;
      else if (a == "-o") output = v;
      else if (a == "--dedup") {
        if (v == "on") o.dedup = true;
        else if (v == "off") o.dedup = false;
        else return usage("--dedup takes on or off");
      } else {
        return usage(absl::StrCat("unknown option ", a));
      }
      if (rc != 0) return rc;
      continue;
    }
    if (!input.empty()) return usage("more than one INPUT");
    input = a;
  }
  if (input.empty()) return usage("missing INPUT (a file, or - for stdin)");

  std::string text;
  if (input == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    std::ifstream in(input, std::ios::binary);
    if (!in) {
      err << "tiervm xml: cannot read " << input << "\n";
      return 1;
    }
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  // The host's HMAT tables feed the guest's; without a readable sysfs the
  // documented defaults are used (unless --check-host asked for checks).
  absl::StatusOr<HostTopology> host = ReadHostTopology(sysfs_root);
  if (!host.ok() && check_host) {
    err << "tiervm xml: --check-host: " << host.status().message() << "\n";
    return 1;
  }
  absl::StatusOr<ConvertResult> r =
      ConvertDomain(text, o, host.ok() ? &*host : nullptr, check_host);
  if (!r.ok()) {
    err << "tiervm xml: " << (input == "-" ? "stdin" : input) << ": "
        << r.status().message() << "\n";
    return 1;
  }
  if (list_changes) {
    if (r->changes.empty()) err << "tiervm xml: already tiered, nothing changed\n";
    for (const std::string& c : r->changes) err << "tiervm xml: " << c << "\n";
  }
  if (output.empty()) {
    out << r->xml;
    out.flush();
    return out ? 0 : 1;
  }
  const std::string tmp = output + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << r->xml;
    f.close();
    if (!f) {
      err << "tiervm xml: cannot write " << tmp << "\n";
      std::remove(tmp.c_str());
      return 1;
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, output, ec);
  if (ec) {
    err << "tiervm xml: cannot rename " << tmp << " to " << output << ": " << ec.message() << "\n";
    std::remove(tmp.c_str());
    return 1;
  }
  return 0;
}

}  // namespace tiervm::libvirt
