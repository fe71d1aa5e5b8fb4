// TierVM's tiering options inside a libvirt domain's <metadata>: the value
// type, its parser and its canonical writer (libxml2).
//
//   <tiervm:tiering xmlns:tiervm="http://tiervm.org/xmlns/libvirt/1.0">
//     <tiervm:fmem min="1024" max="4096" unit="MiB"/>
//     <tiervm:weight>100</tiervm:weight>
//     <tiervm:fmem-initial size="2048" unit="MiB"/>
//     <tiervm:smem size="4096" unit="MiB" dedup="on"/>
//     <tiervm:host-nodes fmem="0" smem="1"/>
//     <tiervm:targets psi-some-pct="10" smem-stall-pct="5"/>
//     <tiervm:guest sample-budget-ppm="20000"/>
//   </tiervm:tiering>
//
// The schema is libvirt-hooks/schema/tiervm-tiering.rng; README.md has the
// meaning of every field.  Sizes are whole MiB (the converter writes MiB;
// the parser accepts B/KiB/MiB/GiB/TiB and their libvirt aliases; no unit
// means KiB, as in libvirt's memory elements).
// Everything here is pure (no I/O) and thread-compatible.
#ifndef TIERVM_LIBVIRT_HOOKS_CONVERTER_METADATA_H_
#define TIERVM_LIBVIRT_HOOKS_CONVERTER_METADATA_H_

#include <libxml/tree.h>

#include <cstdint>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tiervm::libvirt {

inline constexpr char kTieringNsUri[] = "http://tiervm.org/xmlns/libvirt/1.0";
inline constexpr char kTieringNsPrefix[] = "tiervm";
inline constexpr char kQemuNsUri[] = "http://libvirt.org/schemas/domain/qemu/1.0";
// QMP id of the virtio-hballoon-pci device the converter adds.
inline constexpr char kHballoonDeviceId[] = "hb0";

inline constexpr uint64_t kMiB = uint64_t{1} << 20;
// Upper bound of any size we accept (1 PiB): keeps byte arithmetic far from
// overflow and rejects typos.
inline constexpr uint64_t kMaxSizeBytes = uint64_t{1} << 50;
inline constexpr uint32_t kDefaultWeight = 100;
// Same bound as the agent's (host-agent/core/vm_model.h kMaxVmWeight).
inline constexpr uint32_t kMaxWeight = 1000;
inline constexpr int kMaxHostNode = 1023;

struct TieringConfig {
  uint64_t fmem_min_bytes = 0;
  uint64_t fmem_max_bytes = 0;  // size of guest NUMA node 0
  // FMEM the VM should be given at start (the agent's first target);
  // nullopt means fmem_max_bytes.
  std::optional<uint64_t> fmem_initial_bytes;
  uint64_t smem_bytes = 0;  // size of guest NUMA node 1
  uint32_t weight = kDefaultWeight;
  // Host NUMA nodes backing each tier (sorted, unique); empty: not bound.
  std::vector<int> fmem_host_nodes;
  std::vector<int> smem_host_nodes;
  bool dedup = false;  // KSM merging of guest memory (see README.md)
  std::optional<uint32_t> psi_some_target_pct;    // 0..100
  std::optional<uint32_t> smem_stall_target_pct;  // 0..100
  std::optional<uint32_t> sample_budget_ppm;      // 0..1000000

  bool operator==(const TieringConfig&) const = default;
};

// Consistency of one config on its own: min <= initial <= max, sizes whole
// MiB and within bounds, weight 1..kMaxWeight, percentages and ppm in range.
absl::Status ValidateConfig(const TieringConfig& config);

// Parses a <tiervm:tiering> element (namespace kTieringNsUri); unknown
// elements or attributes in our namespace are errors (typos must not be
// silently ignored), as are missing required parts.  Validates the result.
absl::StatusOr<TieringConfig> ParseTieringElement(const xmlNode* element);

// Finds and parses our metadata in a whole document: either a <domain>
// (looks in /domain/metadata) or a bare <tiervm:tiering> element.
// Returns nullopt when the document has none.  Malformed XML is an error.
absl::StatusOr<std::optional<TieringConfig>> ParseTieringMetadata(
    absl::string_view xml);

// Builds the canonical <tiervm:tiering> element (declares its namespace on
// itself) owned by `doc`, unlinked.
xmlNode* BuildTieringElement(xmlDoc* doc, const TieringConfig& config);

// Size helpers.  ParseSizeWithUnit: libvirt's unit names (b, bytes, k, KiB,
// KB, M, MiB, MB, G, GiB, GB, T, TiB, TB; empty = `default_unit`).
// ParseSizeArg: command-line sizes such as "4G", "4096MiB", "512M"; a bare
// number is MiB.
absl::StatusOr<uint64_t> ParseSizeWithUnit(absl::string_view value,
                                           absl::string_view unit,
                                           absl::string_view default_unit);
absl::StatusOr<uint64_t> ParseSizeArg(absl::string_view arg);

// libvirt node sets: "0-3,^2,5".  Sorted, unique, each <= kMaxHostNode.
absl::StatusOr<std::vector<int>> ParseNodeSet(absl::string_view set);
std::string FormatNodeSet(const std::vector<int>& nodes);

}  // namespace tiervm::libvirt

#endif  // TIERVM_LIBVIRT_HOOKS_CONVERTER_METADATA_H_
