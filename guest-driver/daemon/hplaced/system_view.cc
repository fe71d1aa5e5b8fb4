#include "daemon/hplaced/system_view.h"

#include <sys/sysinfo.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"

namespace tiervm::hplaced {

absl::StatusOr<adapters::ProcessListing> ProcfsSystemView::ListProcesses(
    const adapters::ProcessFilter& filter) {
  return adapters::ListProcesses(root_, filter);
}

absl::StatusOr<std::vector<Vma>> ProcfsSystemView::PlaceableVmas(
    Pid pid, const adapters::PlaceOptions& options) {
  absl::StatusOr<std::vector<adapters::MapsEntry>> maps = adapters::ReadMaps(root_, pid);
  if (!maps.ok()) return maps.status();
  return adapters::PlaceableVmas(*maps, options);
}

absl::StatusOr<adapters::NodeMeminfo> ProcfsSystemView::NodeMeminfo(int node,
                                                                  MeminfoDetail detail) {
  absl::StatusOr<adapters::NodeMeminfo> m = adapters::ReadNodeMeminfo(root_, node);
  if (!m.ok() || detail == MeminfoDetail::kBasic) return m;
  // The zone watermarks and lowmem reserves say how much of MemFree a
  // movable allocation can actually take.  Without a readable zoneinfo the
  // field stays unset and the caller falls back to MemFree.
  absl::StatusOr<std::vector<adapters::ZoneInfo>> zones = adapters::ReadZoneinfo(root_);
  if (zones.ok()) {
    m->usable_free_bytes = std::min(adapters::UsableFreeBytes(*zones, node), m->free_bytes);
  }
  return m;
}

absl::StatusOr<adapters::MemoryPressure> ProcfsSystemView::Pressure() {
  return adapters::ReadMemoryPressure(root_);
}

absl::StatusOr<uint64_t> ProcfsSystemView::FreeMemoryBytes() {
  struct sysinfo si {};
  if (sysinfo(&si) != 0) {
    return absl::InternalError(absl::StrCat("sysinfo: ", std::strerror(errno)));
  }
  return static_cast<uint64_t>(si.freeram) * std::max<uint64_t>(si.mem_unit, 1);
}

}  // namespace tiervm::hplaced
