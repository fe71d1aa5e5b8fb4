#include "converter/converter.h"

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "converter/xml_util.h"

namespace tiervm::libvirt {
namespace {

using xml::Children;
using xml::FirstChild;
using xml::Prop;
using xml::X;

absl::Status Bad(absl::string_view element, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(element, ": ", why));
}

std::string MiB(uint64_t bytes) {
  if (bytes % kMiB == 0) return absl::StrCat(bytes / kMiB, " MiB");
  return absl::StrCat(bytes, " bytes");
}

// Reads a libvirt size element or attribute value; libvirt's default unit
// for memory sizes is KiB.
absl::StatusOr<uint64_t> LibvirtSize(absl::string_view where, const std::string& value,
                                     const std::optional<std::string>& unit) {
  absl::StatusOr<uint64_t> v = ParseSizeWithUnit(value, unit.value_or(""), "KiB");
  if (!v.ok()) return Bad(where, v.status().message());
  return *v;
}

// At most one child named `name`; error naming it otherwise.
absl::StatusOr<xmlNode*> Unique(const xmlNode* parent, absl::string_view name,
                                absl::string_view where, absl::string_view ns = "") {
  std::vector<xmlNode*> c = Children(parent, name, ns);
  if (c.size() > 1) return Bad(where, "appears more than once");
  return c.empty() ? nullptr : c[0];
}

void SetProp(xmlNode* n, const char* name, const std::string& v) {
  xmlSetProp(n, X(name), X(v.c_str()));
}

// Inserts `child` into `parent` after the last child named one of
// `after` (or first when none is there).
void InsertAfterAny(xmlNode* parent, xmlNode* child,
                    std::initializer_list<absl::string_view> after) {
  xmlNode* last = nullptr;
  for (xmlNode* c : Children(parent)) {
    for (absl::string_view n : after) {
      if (xml::Is(c, n)) last = c;
    }
  }
  if (last != nullptr) {
    xmlAddNextSibling(last, child);
  } else if (parent->children != nullptr) {
    xmlAddPrevSibling(parent->children, child);
  } else {
    xmlAddChild(parent, child);
  }
}

// Inserts a top-level element before <devices> (libvirt's own order puts
// <devices> late), or at the end.
void InsertBeforeDevices(xmlNode* domain, xmlNode* child) {
  if (xmlNode* dev = FirstChild(domain, "devices")) {
    xmlAddPrevSibling(dev, child);
  } else {
    xmlAddChild(domain, child);
  }
}

std::vector<int> Range(int n) {
  std::vector<int> v(n);
  for (int i = 0; i < n; ++i) v[i] = i;
  return v;
}

struct Cell {
  xmlNode* node;
  int id;
  uint64_t bytes;
  std::vector<int> cpus;  // empty: CPU-less
  std::string where;
};

class Converter {
 public:
  Converter(xmlDoc* doc, const TieringOverrides& o, const HostTopology* host,
            bool check_host)
      : doc_(doc), root_(xmlDocGetRootElement(doc)), o_(o), host_(host),
        check_host_(check_host) {}

  absl::StatusOr<ConvertResult> Run() {
    if (!xml::Is(root_, "domain")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "root element is <", xml::Name(root_), ">, expected <domain>"));
    }
    if (auto s = ReadExisting(); !s.ok()) return s;
    if (auto s = DeriveConfig(); !s.ok()) return s;
    if (check_host_) {
      if (host_ == nullptr) {
        return absl::FailedPreconditionError("host topology unavailable for --check-host");
      }
      if (auto s = CheckConfigAgainstHost(c_, *host_); !s.ok()) return s;
    }
    for (auto step : {&Converter::Cells, &Converter::Memory, &Converter::Interconnects,
                      &Converter::Numatune, &Converter::Backing, &Converter::Acpi,
                      &Converter::Device, &Converter::Metadata}) {
      if (auto s = (this->*step)(); !s.ok()) return s;
    }
    ConvertResult r;
    absl::StatusOr<std::string> text = xml::Serialize(doc_);
    if (!text.ok()) return text.status();
    r.xml = *std::move(text);
    r.config = c_;
    r.changes = std::move(changes_);
    return r;
  }

 private:
  // Collects what the domain already says.
  absl::Status ReadExisting() {
    absl::StatusOr<xmlNode*> meta = Unique(root_, "metadata", "<metadata>");
    if (!meta.ok()) return meta.status();
    metadata_ = *meta;
    if (metadata_ != nullptr) {
      std::vector<xmlNode*> ours = Children(metadata_, "tiering", kTieringNsUri);
      if (ours.size() > 1) return Bad("<metadata>", "holds more than one <tiervm:tiering>");
      if (!ours.empty()) {
        tiering_el_ = ours[0];
        absl::StatusOr<TieringConfig> c = ParseTieringElement(tiering_el_);
        if (!c.ok()) return Bad("<metadata>", c.status().message());
        existing_ = *c;
      }
    }
    for (auto [name, out] : {std::pair<const char*, std::optional<uint64_t>*>{"memory", &memory_bytes_},
                             {"currentMemory", &current_bytes_}}) {
      const std::string where = absl::StrCat("<", name, ">");
      absl::StatusOr<xmlNode*> el = Unique(root_, name, where);
      if (!el.ok()) return el.status();
      if (*el == nullptr) continue;
      absl::StatusOr<uint64_t> b = LibvirtSize(where, xml::Text(*el), Prop(*el, "unit"));
      if (!b.ok()) return b.status();
      *out = *b;
    }
    absl::StatusOr<xmlNode*> vcpu = Unique(root_, "vcpu", "<vcpu>");
    if (!vcpu.ok()) return vcpu.status();
    if (*vcpu != nullptr) {
      const std::string t(absl::StripAsciiWhitespace(xml::Text(*vcpu)));
      if (!absl::SimpleAtoi(t, &vcpus_) || vcpus_ < 1 || vcpus_ > kMaxHostNode + 1) {
        return Bad("<vcpu>", absl::StrCat("'", t, "' is not a vCPU count in [1, ",
                                          kMaxHostNode + 1, "]"));
      }
    }
    // Memory devices add RAM to guest nodes behind the balloon's back (its
    // per-node sizes come from the NUMA backends) and need <maxMemory>
    // slots; tiering and memory hotplug are exclusive.
    if (xmlNode* devices = FirstChild(root_, "devices")) {
      for (xmlNode* m : Children(devices, "memory")) {
        return Bad(absl::StrCat("<devices><memory model='", Prop(m, "model").value_or("?"), "'>"),
                   "memory devices (virtio-mem, dimm, nvdimm, virtio-pmem) conflict with "
                   "tiering: virtio-hballoon sizes each guest node from its NUMA cell; "
                   "remove the device and put its memory into the tiers");
      }
    }
    // Existing NUMA cells.
    absl::StatusOr<xmlNode*> cpu = Unique(root_, "cpu", "<cpu>");
    if (!cpu.ok()) return cpu.status();
    cpu_ = *cpu;
    if (cpu_ != nullptr) {
      absl::StatusOr<xmlNode*> numa = Unique(cpu_, "numa", "<cpu><numa>");
      if (!numa.ok()) return numa.status();
      numa_ = *numa;
    }
    if (numa_ != nullptr) {
      std::vector<xmlNode*> cells = Children(numa_, "cell");
      for (size_t i = 0; i < cells.size(); ++i) {
        Cell cell;
        cell.node = cells[i];
        cell.id = static_cast<int>(i);
        if (auto id = Prop(cells[i], "id")) {
          if (!absl::SimpleAtoi(*id, &cell.id) || cell.id < 0) {
            return Bad("<cpu><numa><cell>", absl::StrCat("bad id '", *id, "'"));
          }
        }
        cell.where = absl::StrCat("<cpu><numa><cell id='", cell.id, "'>");
        auto mem = Prop(cells[i], "memory");
        if (!mem) return Bad(cell.where, "missing memory");
        absl::StatusOr<uint64_t> b = LibvirtSize(cell.where, *mem, Prop(cells[i], "unit"));
        if (!b.ok()) return b.status();
        cell.bytes = *b;
        if (auto cpus = Prop(cells[i], "cpus"); cpus && !absl::StripAsciiWhitespace(*cpus).empty()) {
          absl::StatusOr<std::vector<int>> set = ParseNodeSet(*cpus);
          if (!set.ok()) return Bad(cell.where, absl::StrCat("cpus: ", set.status().message()));
          cell.cpus = *set;
        }
        cells_.push_back(cell);
      }
      std::sort(cells_.begin(), cells_.end(),
                [](const Cell& a, const Cell& b) { return a.id < b.id; });
      if (!cells_.empty() && (cells_.size() != 2 || cells_[0].id != 0 || cells_[1].id != 1)) {
        std::vector<int> ids;
        for (const Cell& c : cells_) ids.push_back(c.id);
        return Bad("<cpu><numa>",
                   absl::StrCat("has cells ", absl::StrJoin(ids, ","),
                                "; a tiered domain has exactly cell 0 (FMEM, all vCPUs) and "
                                "cell 1 (SMEM, no vCPUs): remove <numa> to let tiervm "
                                "write it"));
      }
    }
    // Existing per-cell host binding.
    absl::StatusOr<xmlNode*> nt = Unique(root_, "numatune", "<numatune>");
    if (!nt.ok()) return nt.status();
    numatune_ = *nt;
    if (numatune_ != nullptr) {
      for (xmlNode* mn : Children(numatune_, "memnode")) {
        int cell = -1;
        auto id = Prop(mn, "cellid");
        const std::string where =
            absl::StrCat("<numatune><memnode cellid='", id.value_or("?"), "'>");
        if (!id || !absl::SimpleAtoi(*id, &cell) || (cell != 0 && cell != 1)) {
          return Bad(where, "a tiered domain has only cells 0 (FMEM) and 1 (SMEM)");
        }
        if (memnodes_[cell] != nullptr) return Bad(where, "appears more than once");
        auto set = Prop(mn, "nodeset");
        if (!set) return Bad(where, "missing nodeset");
        absl::StatusOr<std::vector<int>> nodes = ParseNodeSet(*set);
        if (!nodes.ok()) return Bad(where, nodes.status().message());
        memnodes_[cell] = mn;
        memnode_sets_[cell] = *nodes;
      }
    }
    return absl::OkStatus();
  }

  // The effective config: existing metadata, then command-line overrides,
  // then what the domain itself implies for what is still unknown.
  absl::Status DeriveConfig() {
    std::optional<uint64_t> fmin, fmax, smem;
    if (existing_) {
      c_ = *existing_;
      fmin = c_.fmem_min_bytes;
      fmax = c_.fmem_max_bytes;
      smem = c_.smem_bytes;
    }
    if (o_.fmem_min_bytes) fmin = o_.fmem_min_bytes;
    if (o_.fmem_max_bytes) fmax = o_.fmem_max_bytes;
    if (o_.smem_bytes) smem = o_.smem_bytes;
    if (o_.fmem_initial_bytes) c_.fmem_initial_bytes = o_.fmem_initial_bytes;
    if (o_.weight) c_.weight = *o_.weight;
    if (o_.fmem_host_nodes) c_.fmem_host_nodes = *o_.fmem_host_nodes;
    if (o_.smem_host_nodes) c_.smem_host_nodes = *o_.smem_host_nodes;
    if (o_.dedup) c_.dedup = *o_.dedup;
    if (o_.psi_some_target_pct) c_.psi_some_target_pct = o_.psi_some_target_pct;
    if (o_.smem_stall_target_pct) c_.smem_stall_target_pct = o_.smem_stall_target_pct;
    if (o_.sample_budget_ppm) c_.sample_budget_ppm = o_.sample_budget_ppm;
    // An already tiered layout (two cells) tells the sizes.
    if (cells_.size() == 2) {
      if (!fmax) fmax = cells_[0].bytes;
      if (!smem) smem = cells_[1].bytes;
    }
    // Otherwise <memory> is the total to split.
    if (memory_bytes_ && (fmax.has_value() != smem.has_value())) {
      const uint64_t known = fmax ? *fmax : *smem;
      if (*memory_bytes_ <= known) {
        return Bad("<memory>", absl::StrCat(MiB(*memory_bytes_), " leaves nothing for ",
                                            fmax ? "SMEM beyond FMEM max " : "FMEM beyond SMEM ",
                                            MiB(known), "; give both --fmem-max and --smem"));
      }
      (fmax ? smem : fmax) = *memory_bytes_ - known;
    }
    if (!fmax || !smem) {
      return absl::InvalidArgumentError(
          "sizes unknown: give --fmem-max and --smem (or one of them and <memory>), "
          "or <tiervm:tiering> metadata");
    }
    if (!fmin) {
      return absl::InvalidArgumentError(
          "FMEM minimum unknown: give --fmem-min (or <tiervm:fmem min=..>)");
    }
    c_.fmem_min_bytes = *fmin;
    c_.fmem_max_bytes = *fmax;
    c_.smem_bytes = *smem;
    // Host binding already in <numatune> is adopted where not configured.
    for (int cell : {0, 1}) {
      std::vector<int>& nodes = cell == 0 ? c_.fmem_host_nodes : c_.smem_host_nodes;
      if (memnodes_[cell] != nullptr && nodes.empty()) nodes = memnode_sets_[cell];
    }
    if (absl::Status s = ValidateConfig(c_); !s.ok()) return s;
    return absl::OkStatus();
  }

  absl::Status Memory() {
    const uint64_t total = c_.fmem_max_bytes + c_.smem_bytes;
    for (auto [name, have] : {std::pair<const char*, std::optional<uint64_t>>{"memory", memory_bytes_},
                              {"currentMemory", current_bytes_}}) {
      if (have && *have != total) {
        return Bad(absl::StrCat("<", name, ">"),
                   absl::StrCat(MiB(*have), " disagrees with FMEM max ", MiB(c_.fmem_max_bytes),
                                " + SMEM ", MiB(c_.smem_bytes), " = ", MiB(total)));
      }
    }
    if (!memory_bytes_) {
      xmlNode* m = xmlNewDocNode(doc_, nullptr, X("memory"),
                                 X(absl::StrCat(total >> 10).c_str()));
      SetProp(m, "unit", "KiB");
      InsertAfterAny(root_, m, {"name", "uuid", "genid", "title", "description", "metadata",
                                "maxMemory"});
      changes_.push_back("added <memory>");
    }
    return absl::OkStatus();
  }

  absl::Status Cells() {
    const std::vector<int> all = Range(vcpus_);
    if (cells_.size() == 2) {
      const Cell& f = cells_[0];
      const Cell& s = cells_[1];
      if (f.bytes != c_.fmem_max_bytes) {
        return Bad(f.where, absl::StrCat("memory ", MiB(f.bytes), " disagrees with FMEM max ",
                                         MiB(c_.fmem_max_bytes)));
      }
      if (s.bytes != c_.smem_bytes) {
        return Bad(s.where, absl::StrCat("memory ", MiB(s.bytes), " disagrees with SMEM size ",
                                         MiB(c_.smem_bytes)));
      }
      if (f.cpus != all) {
        return Bad(f.where, absl::StrCat("cpus '", FormatNodeSet(f.cpus),
                                         "' must be all vCPUs (", FormatNodeSet(all), ")"));
      }
      if (!s.cpus.empty()) {
        return Bad(s.where, "the SMEM cell must have no vCPUs (a CPU-less node is what "
                            "guests treat as a lower memory tier)");
      }
      return absl::OkStatus();
    }
    if (cpu_ == nullptr) {
      cpu_ = xmlNewDocNode(doc_, nullptr, X("cpu"), nullptr);
      InsertBeforeDevices(root_, cpu_);
    }
    if (numa_ == nullptr) numa_ = xmlNewChild(cpu_, nullptr, X("numa"), nullptr);
    const std::pair<uint64_t, bool> cells[] = {{c_.fmem_max_bytes, true}, {c_.smem_bytes, false}};
    for (int id : {0, 1}) {
      xmlNode* cell = xmlNewDocNode(doc_, nullptr, X("cell"), nullptr);
      SetProp(cell, "id", absl::StrCat(id));
      if (cells[id].second) SetProp(cell, "cpus", FormatNodeSet(all));
      SetProp(cell, "memory", absl::StrCat(cells[id].first >> 10));
      SetProp(cell, "unit", "KiB");
      // Cells first, <interconnects> after them.
      if (xmlNode* ic = FirstChild(numa_, "interconnects")) {
        xmlAddPrevSibling(ic, cell);
      } else {
        xmlAddChild(numa_, cell);
      }
    }
    changes_.push_back("added NUMA cells 0 (FMEM) and 1 (SMEM)");
    return absl::OkStatus();
  }

  absl::Status Interconnects() {
    absl::StatusOr<xmlNode*> ic = Unique(numa_, "interconnects", "<cpu><numa><interconnects>");
    if (!ic.ok()) return ic.status();
    xmlNode* inter = *ic;
    const TierPerformance perf[2] = {
        PerformanceOf(host_, c_.fmem_host_nodes, kDefaultFmemPerf),
        PerformanceOf(host_, c_.smem_host_nodes, kDefaultSmemPerf)};
    bool added = false;
    for (const char* kind : {"latency", "bandwidth"}) {
      for (int target : {0, 1}) {
        bool found = false;
        if (inter != nullptr) {
          for (xmlNode* e : Children(inter, kind)) {
            if (Prop(e, "initiator") == "0" && Prop(e, "target") == absl::StrCat(target) &&
                Prop(e, "type") == "access" && !Prop(e, "cache")) {
              found = true;
            }
          }
        }
        if (found) continue;  // the operator's (or an earlier host's) figures win
        if (inter == nullptr) inter = xmlNewChild(numa_, nullptr, X("interconnects"), nullptr);
        xmlNode* e = xmlNewDocNode(doc_, nullptr, X(kind), nullptr);
        SetProp(e, "initiator", "0");
        SetProp(e, "target", absl::StrCat(target));
        SetProp(e, "type", "access");
        if (absl::string_view(kind) == "latency") {
          SetProp(e, "value", absl::StrCat(perf[target].latency_ns));
        } else {
          SetProp(e, "value", absl::StrCat(perf[target].bandwidth_mibps));
          SetProp(e, "unit", "MiB");
        }
        // libvirt's schema lists latencies before bandwidths.
        xmlNode* first_bw = FirstChild(inter, "bandwidth");
        if (absl::string_view(kind) == "latency" && first_bw != nullptr) {
          xmlAddPrevSibling(first_bw, e);
        } else {
          xmlAddChild(inter, e);
        }
        added = true;
      }
    }
    if (added) {
      changes_.push_back(absl::StrCat(
          "added HMAT <interconnects> (FMEM ", perf[0].latency_ns, " ns ",
          perf[0].bandwidth_mibps, " MiB/s", perf[0].from_host ? " from host" : " default",
          "; SMEM ", perf[1].latency_ns, " ns ", perf[1].bandwidth_mibps, " MiB/s",
          perf[1].from_host ? " from host" : " default", ")"));
    }
    return absl::OkStatus();
  }

  absl::Status Numatune() {
    const std::vector<int>* want[2] = {&c_.fmem_host_nodes, &c_.smem_host_nodes};
    for (int cell : {0, 1}) {
      if (memnodes_[cell] != nullptr && memnode_sets_[cell] != *want[cell]) {
        return Bad(absl::StrCat("<numatune><memnode cellid='", cell, "'>"),
                   absl::StrCat("nodeset '", FormatNodeSet(memnode_sets_[cell]),
                                "' disagrees with <tiervm:host-nodes ",
                                cell == 0 ? "fmem" : "smem", "='",
                                want[cell]->empty() ? "" : FormatNodeSet(*want[cell]), "'>"));
      }
    }
    if (want[0]->empty() && want[1]->empty()) return absl::OkStatus();
    if (numatune_ != nullptr) {
      if (xmlNode* m = FirstChild(numatune_, "memory"); m && Prop(m, "placement") == "auto") {
        return Bad("<numatune><memory placement='auto'>",
                   "automatic placement cannot be combined with per-tier host nodes; "
                   "remove it or drop --fmem-host-nodes/--smem-host-nodes");
      }
    }
    for (int cell : {0, 1}) {
      if (want[cell]->empty() || memnodes_[cell] != nullptr) continue;
      if (numatune_ == nullptr) {
        numatune_ = xmlNewDocNode(doc_, nullptr, X("numatune"), nullptr);
        InsertBeforeDevices(root_, numatune_);
      }
      xmlNode* mn = xmlNewChild(numatune_, nullptr, X("memnode"), nullptr);
      SetProp(mn, "cellid", absl::StrCat(cell));
      SetProp(mn, "mode", "strict");
      SetProp(mn, "nodeset", FormatNodeSet(*want[cell]));
      changes_.push_back(absl::StrCat("added <numatune><memnode cellid='", cell, "'>"));
    }
    return absl::OkStatus();
  }

  // libvirt has no per-cell KSM switch: QEMU's backends are mergeable
  // unless <nosharepages/> turns merging off for the whole VM
  // (README.md, "Dedup").
  absl::Status Backing() {
    absl::StatusOr<xmlNode*> mb = Unique(root_, "memoryBacking", "<memoryBacking>");
    if (!mb.ok()) return mb.status();
    xmlNode* backing = *mb;
    xmlNode* nosharepages = backing ? FirstChild(backing, "nosharepages") : nullptr;
    if (c_.dedup) {
      if (nosharepages != nullptr) {
        return Bad("<memoryBacking><nosharepages/>",
                   "disables KSM but <tiervm:smem dedup='on'> asks for it; remove one");
      }
      if (xmlNode* hp = backing ? FirstChild(backing, "hugepages") : nullptr) {
        std::vector<xmlNode*> pages = Children(hp, "page");
        bool covers_smem = pages.empty();
        for (xmlNode* p : pages) {
          auto ns = Prop(p, "nodeset");
          if (!ns) {
            covers_smem = true;
            continue;
          }
          absl::StatusOr<std::vector<int>> cells = ParseNodeSet(*ns);
          if (!cells.ok()) return Bad("<memoryBacking><hugepages><page>", cells.status().message());
          if (std::count(cells->begin(), cells->end(), 1)) covers_smem = true;
        }
        if (covers_smem) {
          return Bad("<memoryBacking><hugepages>",
                     "backs the SMEM cell with huge pages, which KSM cannot merge, but "
                     "<tiervm:smem dedup='on'>; restrict huge pages to cell 0 "
                     "(<page nodeset='0' .../>) or turn dedup off");
        }
      }
      return absl::OkStatus();
    }
    if (nosharepages == nullptr) {
      if (backing == nullptr) {
        backing = xmlNewDocNode(doc_, nullptr, X("memoryBacking"), nullptr);
        InsertBeforeDevices(root_, backing);
      }
      xmlNode* n = xmlNewDocNode(doc_, nullptr, X("nosharepages"), nullptr);
      if (backing->children != nullptr) {
        xmlAddPrevSibling(backing->children, n);
      } else {
        xmlAddChild(backing, n);
      }
      changes_.push_back("added <memoryBacking><nosharepages/> (dedup off)");
    }
    return absl::OkStatus();
  }

  // Guest NUMA (SRAT) and HMAT are ACPI tables.
  absl::Status Acpi() {
    absl::StatusOr<xmlNode*> f = Unique(root_, "features", "<features>");
    if (!f.ok()) return f.status();
    xmlNode* features = *f;
    if (features != nullptr && FirstChild(features, "acpi") != nullptr) return absl::OkStatus();
    if (features == nullptr) {
      features = xmlNewDocNode(doc_, nullptr, X("features"), nullptr);
      InsertBeforeDevices(root_, features);
    }
    xmlNode* acpi = xmlNewDocNode(doc_, nullptr, X("acpi"), nullptr);
    if (features->children != nullptr) {
      xmlAddPrevSibling(features->children, acpi);
    } else {
      xmlAddChild(features, acpi);
    }
    changes_.push_back("added <features><acpi/>");
    return absl::OkStatus();
  }

  absl::Status Device() {
    absl::StatusOr<xmlNode*> cl = Unique(root_, "commandline", "<qemu:commandline>", kQemuNsUri);
    if (!cl.ok()) return cl.status();
    xmlNode* cmdline = *cl;
    xmlNode* last_arg = nullptr;
    if (cmdline != nullptr) {
      std::vector<xmlNode*> args = Children(cmdline, "arg", kQemuNsUri);
      bool found = false;
      for (size_t i = 0; i < args.size(); ++i) {
        const std::string v = Prop(args[i], "value").value_or("");
        last_arg = args[i];
        if (v.find("virtio-hballoon") == std::string::npos) continue;
        const std::string where = absl::StrCat("<qemu:commandline><qemu:arg value='", v, "'>");
        if (found) return Bad(where, "a second virtio-hballoon device (QEMU allows one)");
        if (i == 0 || Prop(args[i - 1], "value") != "-device") {
          return Bad(where, "must follow <qemu:arg value='-device'/>");
        }
        std::string compact = v;
        compact.erase(std::remove(compact.begin(), compact.end(), ' '), compact.end());
        bool id_ok = false;
        if (!compact.empty() && compact[0] == '{') {
          id_ok = compact.find(absl::StrCat("\"id\":\"", kHballoonDeviceId, "\"")) != std::string::npos;
        } else {
          for (absl::string_view kv : absl::StrSplit(compact, ',')) {
            if (kv == absl::StrCat("id=", kHballoonDeviceId)) id_ok = true;
          }
        }
        if (!id_ok) {
          return Bad(where, absl::StrCat("the hballoon device must have id=", kHballoonDeviceId,
                                         " (the agent and the hook address it by that id)"));
        }
        found = true;
      }
      if (found) return absl::OkStatus();
    }
    xmlNs* ns = xmlSearchNsByHref(doc_, root_, X(kQemuNsUri));
    if (ns == nullptr) {
      if (xmlSearchNs(doc_, root_, X("qemu")) != nullptr) {
        return Bad("<domain>", "prefix 'qemu' is bound to another namespace");
      }
      ns = xmlNewNs(root_, X(kQemuNsUri), X("qemu"));
    }
    if (cmdline == nullptr) {
      cmdline = xmlNewDocNode(doc_, ns, X("commandline"), nullptr);
      xmlAddChild(root_, cmdline);
    }
    xmlNode* a1 = xmlNewDocNode(doc_, ns, X("arg"), nullptr);
    SetProp(a1, "value", "-device");
    xmlNode* a2 = xmlNewDocNode(doc_, ns, X("arg"), nullptr);
    SetProp(a2, "value", absl::StrCat("virtio-hballoon-pci,id=", kHballoonDeviceId));
    // <qemu:arg>s precede <qemu:env>s in libvirt's schema.
    if (last_arg != nullptr) {
      xmlAddNextSibling(last_arg, a1);
    } else if (cmdline->children != nullptr) {
      xmlAddPrevSibling(cmdline->children, a1);
    } else {
      xmlAddChild(cmdline, a1);
    }
    xmlAddNextSibling(a1, a2);
    changes_.push_back(absl::StrCat("added -device virtio-hballoon-pci,id=", kHballoonDeviceId,
                                    " to <qemu:commandline>"));
    return absl::OkStatus();
  }

  // The element is always rewritten canonically (prefix tiervm, MiB,
  // fixed order) so that readers such as the agent see one spelling; only a
  // different configuration counts as a change.
  absl::Status Metadata() {
    if (metadata_ == nullptr) {
      metadata_ = xmlNewDocNode(doc_, nullptr, X("metadata"), nullptr);
      InsertAfterAny(root_, metadata_, {"name", "uuid", "genid", "title", "description"});
    }
    xmlNode* el = BuildTieringElement(doc_, c_);
    if (tiering_el_ != nullptr) {
      xmlNode* old = xmlReplaceNode(tiering_el_, el);
      xmlFreeNode(old);
    } else {
      xmlAddChild(metadata_, el);
    }
    if (!existing_) {
      changes_.push_back("added <tiervm:tiering>");
    } else if (!(*existing_ == c_)) {
      changes_.push_back("rewrote <tiervm:tiering>");
    }
    return absl::OkStatus();
  }

  xmlDoc* doc_;
  xmlNode* root_;
  const TieringOverrides& o_;
  const HostTopology* host_;
  bool check_host_;

  TieringConfig c_;
  std::optional<TieringConfig> existing_;
  xmlNode* metadata_ = nullptr;
  xmlNode* tiering_el_ = nullptr;
  std::optional<uint64_t> memory_bytes_, current_bytes_;
  int vcpus_ = 1;
  xmlNode* cpu_ = nullptr;
  xmlNode* numa_ = nullptr;
  std::vector<Cell> cells_;
  xmlNode* numatune_ = nullptr;
  xmlNode* memnodes_[2] = {nullptr, nullptr};
  std::vector<int> memnode_sets_[2];
  std::vector<std::string> changes_;
};

}  // namespace

absl::StatusOr<ConvertResult> ConvertDomain(absl::string_view domain_xml,
                                            const TieringOverrides& overrides,
                                            const HostTopology* host, bool check_host) {
  absl::StatusOr<xml::DocPtr> doc = xml::Parse(domain_xml);
  if (!doc.ok()) return doc.status();
  Converter c(doc->get(), overrides, host, check_host);
  return c.Run();
}

}  // namespace tiervm::libvirt
