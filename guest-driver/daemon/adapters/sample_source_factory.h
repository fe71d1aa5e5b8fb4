// MakeSampleSource: the daemon's choice of sample source by name.
//
//   "pebs"    PerfSampleSource (fails if the PMU cannot be used)
//   "abit"    AbitSampleSource over /dev/hballoon
//   "replay"  ReplaySource over options.replay_path (a trace file)
//   "auto"    PEBS if it opens, else abit; logs one line saying which and
//             why (e.g. "sample source: abit (PEBS unavailable: no usable
//             PMU: ...)")
//
// The result keeps typed pointers to the concrete source so the daemon can
// drive the controls it needs (SetTargets/SetScanRate for abit,
// SetSamplePeriod for PEBS); exactly one of `abit`, `perf`, `replay` is set
// and points into `source`.  Dependencies are injected through
// SampleSourceDeps (tests pass fakes); the factory never opens anything the
// chosen source does not need.
#ifndef TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_SAMPLE_SOURCE_FACTORY_H_
#define TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_SAMPLE_SOURCE_FACTORY_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "daemon/adapters/abit_source.h"
#include "daemon/adapters/hballoon_dev.h"
#include "daemon/adapters/perf_source.h"
#include "placement/clock.h"
#include "placement/replay_trace.h"
#include "placement/sample_source.h"

namespace tiervm::adapters {

struct SampleSourceOptions {
  AbitSourceOptions abit;
  PerfSourceOptions perf;
  std::string replay_path;  // "replay" only
};

// What the factory may use; all borrowed and must outlive the source.
struct SampleSourceDeps {
  const placement::Clock* clock = nullptr;  // required for "abit"/"auto"
  HballoonDev* hballoon = nullptr;          // required for "abit"/"auto"
  PerfEventOps* perf_ops = nullptr;         // required for "pebs"/"auto"
  PerfEventEncoder* perf_encoder = nullptr; // required for "pebs"/"auto"
  // Receives the one log line of the choice (default: stderr).
  std::function<void(const std::string&)> log;
};

struct MadeSampleSource {
  std::unique_ptr<placement::SampleSource> source;
  AbitSampleSource* abit = nullptr;
  PerfSampleSource* perf = nullptr;
  placement::ReplaySource* replay = nullptr;
  std::string kind;  // "pebs", "abit" or "replay"
};

// InvalidArgument for an unknown name or a missing dependency; the chosen
// source's own error otherwise ("auto": the abit error, which names the
// PEBS error too).
absl::StatusOr<MadeSampleSource> MakeSampleSource(const std::string& name,
                                                  const SampleSourceOptions& options,
                                                  const SampleSourceDeps& deps);

}  // namespace tiervm::adapters

#endif  // TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_SAMPLE_SOURCE_FACTORY_H_
