// SystemView: what the hplaced loop reads about the guest (processes, their
// placeable VMAs, per-node meminfo, memory PSI), behind one interface so
// the loop runs against a fake in unit tests.  ProcfsSystemView is the real
// one over the procfs adapters, with a `root` for fixture trees.
//
// SourceControl: the knobs the loop turns on a sample source that needs
// them (the accessed-bit scanner needs to know which areas to scan; the
// budget controller sets its rate).  Sources without knobs need no
// SourceControl.
//
// Neither keeps state shared between threads; one thread (the loop) uses
// them.
#ifndef TIERVM_GUEST_DRIVER_DAEMON_HPLACED_SYSTEM_VIEW_H_
#define TIERVM_GUEST_DRIVER_DAEMON_HPLACED_SYSTEM_VIEW_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "daemon/adapters/procfs.h"
#include "placement/types.h"

namespace tiervm::hplaced {

using placement::Pid;
using placement::Vma;

// What NodeMeminfo reads: the node's meminfo only, or also /proc/zoneinfo
// for usable_free_bytes (what placement needs; telemetry reports MemFree,
// and zoneinfo is the largest file hplaced reads).
enum class MeminfoDetail : uint8_t { kBasic, kWithUsableFree };

class SystemView {
 public:
  virtual ~SystemView() = default;
  virtual absl::StatusOr<adapters::ProcessListing> ListProcesses(
      const adapters::ProcessFilter& filter) = 0;
  // NotFound when the process exited.
  virtual absl::StatusOr<std::vector<Vma>> PlaceableVmas(Pid pid,
                                                         const adapters::PlaceOptions& options) = 0;
  virtual absl::StatusOr<adapters::NodeMeminfo> NodeMeminfo(int node, MeminfoDetail detail) = 0;
  virtual absl::StatusOr<adapters::MemoryPressure> Pressure() = 0;
  // Free memory over all nodes, bytes (sysinfo(2): one system call, no
  // file to format and parse; read every tick).
  virtual absl::StatusOr<uint64_t> FreeMemoryBytes() = 0;
};

class ProcfsSystemView final : public SystemView {
 public:
  explicit ProcfsSystemView(std::string root = "") : root_(std::move(root)) {}
  absl::StatusOr<adapters::ProcessListing> ListProcesses(
      const adapters::ProcessFilter& filter) override;
  absl::StatusOr<std::vector<Vma>> PlaceableVmas(Pid pid,
                                                 const adapters::PlaceOptions& options) override;
  absl::StatusOr<adapters::NodeMeminfo> NodeMeminfo(int node, MeminfoDetail detail) override;
  absl::StatusOr<adapters::MemoryPressure> Pressure() override;
  // The running kernel's, whatever the root.
  absl::StatusOr<uint64_t> FreeMemoryBytes() override;

 private:
  std::string root_;
};

// Per-process areas a scanning source should look at.
using ScanTargets = absl::flat_hash_map<Pid, std::vector<Vma>>;

class SourceControl {
 public:
  virtual ~SourceControl() = default;
  // The areas to sample from now on (replaces the previous set).
  virtual void SetTargets(const ScanTargets& targets) = 0;
  // From the budget controller: the PEBS sample period and the A-bit scan
  // rate to apply (a source uses the one that concerns it).
  virtual void SetRates(uint64_t sample_period, double scan_pages_per_s) = 0;
  // Pages of address space scanned since the previous call (0 for a
  // source that does not scan): the budget controller's scan cost.
  virtual uint64_t TakePagesScanned() = 0;
  // Scanning sources: true when the source sees each page once per pass
  // over all targets, Passes() counting the passes completed.  The loop
  // then (a) drops a new process's samples until Passes() has advanced by
  // two, because the first visit of a page reports history (accessed bits
  // set since it was mapped) rather than recent use, and (b) ends a
  // tracker epoch only once a pass has completed since the last one.
  virtual bool ScansInPasses() const { return false; }
  virtual uint64_t Passes() const { return 0; }
  // Scanning sources: Reads whose scan the pass floor (max_scan_pass_s)
  // made larger than the budget's scan rate allowed, since start.
  virtual uint64_t FloorReads() const { return 0; }
};

}  // namespace tiervm::hplaced

#endif  // TIERVM_GUEST_DRIVER_DAEMON_HPLACED_SYSTEM_VIEW_H_
