#include "daemon/hplaced/sources.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "daemon/adapters/sample_source_factory.h"

namespace tiervm::hplaced {

void AbitControl::SetTargets(const ScanTargets& targets) {
  for (Pid pid : pids_) {
    if (!targets.contains(pid)) source_->RemoveTarget(pid);
  }
  pids_.clear();
  for (const auto& [pid, vmas] : targets) {
    if (absl::Status s = source_->SetTargets(pid, vmas); !s.ok()) {
      spdlog::warn("abit targets of pid {}: {}", pid, s.ToString());
      continue;
    }
    pids_.insert(pid);
  }
}

void AbitControl::SetRates(uint64_t, double scan_pages_per_s) {
  source_->SetScanRate(scan_pages_per_s);
}

uint64_t AbitControl::TakePagesScanned() {
  const uint64_t now = source_->stats().scanned_pages;
  const uint64_t d = now - scanned_seen_;
  scanned_seen_ = now;
  return d;
}

void PerfControl::SetRates(uint64_t sample_period, double) {
  if (sample_period == source_->sample_period()) return;
  if (absl::Status s = source_->SetSamplePeriod(sample_period); !s.ok()) {
    spdlog::warn("PEBS sample period {}: {}", sample_period, s.ToString());
  }
}

absl::StatusOr<std::unique_ptr<OpenedSource>> OpenSource(const HplacedConfig& config,
                                                         adapters::HballoonDev* hballoon,
                                                         const placement::Clock* clock) {
  auto out = std::make_unique<OpenedSource>();
  if (config.source == "none") {
    out->name = "none";
    out->detail = "no sampling: headroom and telemetry only";
    return out;
  }
  adapters::SampleSourceOptions opts;
  opts.replay_path = config.trace_file;
  opts.abit.scan_rate_pages_per_s = config.budget.initial_scan_pages_per_s;
  opts.abit.max_pass_s = config.max_scan_pass_s;
  // Young pages are reported per 256 KiB block, finer only where the
  // tracker is configured to cut ranges finer (its page counts are off
  // with this source: PlacementLoop).
  opts.abit.coalesce_bytes = std::clamp<uint64_t>(
      config.tracker.min_range_bytes, placement::kBasePageBytes, opts.abit.coalesce_bytes);
  opts.perf.sample_period = config.budget.initial_sample_period | 1;
  out->perf_ops = std::make_unique<adapters::LinuxPerfEventOps>();
  out->perf_encoder = std::make_unique<adapters::LibpfmEncoder>();
  adapters::SampleSourceDeps deps;
  deps.clock = clock;
  deps.hballoon = hballoon;
  deps.perf_ops = out->perf_ops.get();
  deps.perf_encoder = out->perf_encoder.get();
  deps.log = [&out](const std::string& line) {
    spdlog::info("{}", line);
    out->detail = line;
  };
  absl::StatusOr<adapters::MadeSampleSource> made =
      adapters::MakeSampleSource(config.source, opts, deps);
  if (!made.ok()) return made.status();
  out->name = made->kind;
  if (out->detail.empty()) out->detail = config.source;
  out->source = std::move(made->source);
  if (made->abit != nullptr) {
    out->owned_control = std::make_unique<AbitControl>(made->abit);
  } else if (made->perf != nullptr) {
    out->owned_control = std::make_unique<PerfControl>(made->perf);
  }
  out->control = out->owned_control.get();
  return out;
}

}  // namespace tiervm::hplaced
