// Turns a plain libvirt domain XML into a tiered one (DESIGN.md §6): guest
// NUMA cell 0 = FMEM (all vCPUs), cell 1 = SMEM (CPU-less), <numatune>
// binding each cell to its host nodes, HMAT <interconnects>, the
// virtio-hballoon-pci device (id hb0) through <qemu:commandline>, KSM
// (dedup) through <memoryBacking>, ACPI, and our <metadata>.
//
// Idempotent: the output of a conversion converts to itself byte for byte,
// and every step checks what is already there semantically (sizes in
// bytes, node sets as sets) so that a domain re-formatted by libvirt is
// still recognised as converted.  Contradictions (NUMA cells, memory
// totals, numatune, memory devices, hugepages vs dedup, a differently named
// hballoon device...) are refused with a message naming the element.
// Pure: no I/O (host facts come in as a HostTopology).  Thread-compatible.
#ifndef TIERVM_LIBVIRT_HOOKS_CONVERTER_CONVERTER_H_
#define TIERVM_LIBVIRT_HOOKS_CONVERTER_CONVERTER_H_

#include <cstdint>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "converter/host_topology.h"
#include "converter/metadata.h"

namespace tiervm::libvirt {

// Options from the command line; each set one overrides the domain's
// existing metadata.
struct TieringOverrides {
  std::optional<uint64_t> fmem_min_bytes, fmem_max_bytes, fmem_initial_bytes,
      smem_bytes;
  std::optional<uint32_t> weight;
  std::optional<std::vector<int>> fmem_host_nodes, smem_host_nodes;
  std::optional<bool> dedup;
  std::optional<uint32_t> psi_some_target_pct, smem_stall_target_pct,
      sample_budget_ppm;
};

struct ConvertResult {
  std::string xml;                   // the converted domain
  TieringConfig config;              // the effective configuration
  std::vector<std::string> changes;  // what was added or rewritten
};

// `host` (may be null) provides HMAT figures; with `check_host` the config
// is also checked against it (CheckConfigAgainstHost), which then needs a
// non-null host.
absl::StatusOr<ConvertResult> ConvertDomain(absl::string_view domain_xml,
                                            const TieringOverrides& overrides,
                                            const HostTopology* host,
                                            bool check_host);

}  // namespace tiervm::libvirt

#endif  // TIERVM_LIBVIRT_HOOKS_CONVERTER_CONVERTER_H_
