#include "daemon/hplaced/system_view.h"

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

absl::StatusOr<adapters::NodeMeminfo> ProcfsSystemView::NodeMeminfo(int node) {
  return adapters::ReadNodeMeminfo(root_, node);
}

absl::StatusOr<adapters::MemoryPressure> ProcfsSystemView::Pressure() {
  return adapters::ReadMemoryPressure(root_);
}

}  // namespace tiervm::hplaced
