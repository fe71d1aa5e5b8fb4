// Opening the sample source hplaced's config names, and the SourceControl
// adapters that let the loop steer it: targets and scan rate for the
// accessed-bit source, the sample period for PEBS.  The choice itself is
// adapters::MakeSampleSource's ("auto": PEBS if the PMU works, else the
// accessed-bit scanner of hballoon.ko); "none" samples nothing (hplaced then
// only keeps the FMEM headroom free and reports telemetry).
//
// OpenedSource owns the source and everything it borrows (perf ops,
// libpfm encoder).  One thread.
#ifndef TIERVM_GUEST_DRIVER_DAEMON_HPLACED_SOURCES_H_
#define TIERVM_GUEST_DRIVER_DAEMON_HPLACED_SOURCES_H_

#include <memory>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "daemon/adapters/abit_source.h"
#include "daemon/adapters/hballoon_dev.h"
#include "daemon/adapters/perf_source.h"
#include "daemon/hplaced/config.h"
#include "daemon/hplaced/system_view.h"
#include "placement/clock.h"
#include "placement/sample_source.h"

namespace tiervm::hplaced {

// SourceControl over AbitSampleSource.
class AbitControl final : public SourceControl {
 public:
  explicit AbitControl(adapters::AbitSampleSource* source) : source_(source) {}
  void SetTargets(const ScanTargets& targets) override;
  void SetRates(uint64_t sample_period, double scan_pages_per_s) override;
  uint64_t TakePagesScanned() override;
  bool ScansInPasses() const override { return true; }
  uint64_t Passes() const override { return source_->stats().passes; }
  uint64_t FloorReads() const override { return source_->stats().floor_reads; }

 private:
  adapters::AbitSampleSource* source_;
  absl::flat_hash_set<Pid> pids_;
  uint64_t scanned_seen_ = 0;
};

// SourceControl over PerfSampleSource (no targets: PEBS samples every
// process; the loop drops samples of untracked ones).
class PerfControl final : public SourceControl {
 public:
  explicit PerfControl(adapters::PerfSampleSource* source) : source_(source) {}
  void SetTargets(const ScanTargets&) override {}
  void SetRates(uint64_t sample_period, double scan_pages_per_s) override;
  uint64_t TakePagesScanned() override { return 0; }

 private:
  adapters::PerfSampleSource* source_;
};

struct OpenedSource {
  std::string name;    // what runs: "abit", "pebs", "replay" or "none"
  std::string detail;  // for the log
  std::unique_ptr<placement::SampleSource> source;  // null for "none"
  SourceControl* control = nullptr;                 // into `owned_control`
  std::unique_ptr<SourceControl> owned_control;
  std::unique_ptr<adapters::PerfEventOps> perf_ops;
  std::unique_ptr<adapters::PerfEventEncoder> perf_encoder;
};

// `hballoon` may be null (no device): then "abit" fails and "auto" can
// only pick PEBS.  `clock` is borrowed by the source.
absl::StatusOr<std::unique_ptr<OpenedSource>> OpenSource(const HplacedConfig& config,
                                                         adapters::HballoonDev* hballoon,
                                                         const placement::Clock* clock);

}  // namespace tiervm::hplaced

#endif  // TIERVM_GUEST_DRIVER_DAEMON_HPLACED_SOURCES_H_
