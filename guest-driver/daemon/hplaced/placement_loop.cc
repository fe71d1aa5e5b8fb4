#include "daemon/hplaced/placement_loop.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>
#include <utility>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "placement/check.h"
#include "placement/exchange_planner.h"

namespace tiervm::hplaced {
namespace {

using placement::PageInfo;
using placement::Residency;
using placement::Vaddr;

virtio_hballoon_stat Stat(uint16_t tag, uint16_t node, uint64_t value) {
  virtio_hballoon_stat s{};
  // x86-64 guest: little-endian already, as the wire wants.
  s.tag = tag;
  s.node = node;
  s.val = value;
  return s;
}

uint64_t Ppm(double fraction) {
  if (!(fraction > 0)) return 0;
  return static_cast<uint64_t>(std::llround(std::min(fraction, 1.0) * 1e6));
}

}  // namespace

std::vector<virtio_hballoon_stat> BuildTelemetry(const TelemetryInputs& in) {
  std::vector<virtio_hballoon_stat> out;
  for (const adapters::NodeMeminfo& n : in.nodes) {
    out.push_back(Stat(VIRTIO_HBALLOON_STAT_FREE_BYTES, static_cast<uint16_t>(n.node),
                       n.free_bytes));
    out.push_back(Stat(VIRTIO_HBALLOON_STAT_TOTAL_BYTES, static_cast<uint16_t>(n.node),
                       n.total_bytes));
  }
  if (in.has_psi) {
    out.push_back(Stat(VIRTIO_HBALLOON_STAT_PSI_SOME_US, VIRTIO_HBALLOON_STAT_NODE_ANY,
                       in.psi.some.total_us));
    if (in.psi.has_full) {
      out.push_back(Stat(VIRTIO_HBALLOON_STAT_PSI_FULL_US, VIRTIO_HBALLOON_STAT_NODE_ANY,
                         in.psi.full.total_us));
    }
  }
  if (in.classes != nullptr && in.classes->total_weight > 0 &&
      in.classes->resident_bytes > 0) {
    // Evenly spaced in bytes, so the host sees the whole curve whatever
    // its number of vertices; non-decreasing because the curve is.
    const uint64_t total = in.classes->resident_bytes;
    for (size_t i = 0; i < kMaxCurvePoints; ++i) {
      const uint64_t x = static_cast<uint64_t>(
          static_cast<double>(total) * static_cast<double>(i + 1) / kMaxCurvePoints);
      out.push_back(Stat(VIRTIO_HBALLOON_STAT_HOT_BYTES, static_cast<uint16_t>(i), x));
      out.push_back(Stat(VIRTIO_HBALLOON_STAT_HOT_SHARE_PPM, static_cast<uint16_t>(i),
                         Ppm(in.classes->CoveredFraction(x))));
    }
  }
  if (in.smem_share >= 0) {
    out.push_back(
        Stat(VIRTIO_HBALLOON_STAT_SMEM_SHARE_PPM, VIRTIO_HBALLOON_STAT_NODE_ANY,
             Ppm(in.smem_share)));
  }
  out.push_back(Stat(VIRTIO_HBALLOON_STAT_PROMOTED_PAGES, VIRTIO_HBALLOON_STAT_NODE_ANY,
                     in.promoted_pages));
  out.push_back(Stat(VIRTIO_HBALLOON_STAT_DEMOTED_PAGES, VIRTIO_HBALLOON_STAT_NODE_ANY,
                     in.demoted_pages));
  // Not clamped at 1: an over-budget daemon should say by how much.
  const double b = std::max(0.0, in.budget_use_fraction);
  out.push_back(Stat(VIRTIO_HBALLOON_STAT_BUDGET_PPM, VIRTIO_HBALLOON_STAT_NODE_ANY,
                     static_cast<uint64_t>(std::llround(std::min(b, 1e6) * 1e6))));
  return out;
}

PlacementLoop::PlacementLoop(const HplacedConfig& config, LoopDeps deps, Pid self_pid)
    : config_(config),
      deps_(deps),
      self_pid_(self_pid),
      tracker_(config.tracker),
      budget_(config.budget, deps.clock),
      planner_(config.planner) {
  PLACEMENT_CHECK(config.Validate().ok());
  PLACEMENT_CHECK(deps.system != nullptr && deps.syscall != nullptr && deps.clock != nullptr);
  buffer_.resize(std::min<size_t>(config.max_samples_per_tick, 1 << 16));
  counters_.move_cost_ns_per_mib = planner_.move_cost_ns_per_mib();
}

void PlacementLoop::Error(const absl::Status& s) {
  ++counters_.errors;
  counters_.last_error = std::string(s.ToString());
  spdlog::warn("{}", counters_.last_error);
}

void PlacementLoop::RefreshProcesses(int64_t now_ns) {
  const int64_t cpu0 = deps_.clock->OwnCpuNs();
  RefreshProcessesInner(now_ns);
  counters_.cpu_refresh_ns += deps_.clock->OwnCpuNs() - cpu0;
}

void PlacementLoop::RefreshProcessesInner(int64_t now_ns) {
  last_maps_ns_ = now_ns;
  ++counters_.maps_refreshes;
  in_use_baseline_bytes_.reset();  // read afresh at the next meminfo
  // Incremental: the listing skips known kernel threads, and a process
  // whose vsize and start time did not move keeps the maps read before.
  // A full listing now and then catches the rest (full_refresh_ms).
  const bool full = counters_.maps_refreshes == 1 ||
                    now_ns - last_full_refresh_ns_ >= config_.full_refresh_ms * 1'000'000;
  if (full) {
    last_full_refresh_ns_ = now_ns;
    known_kthreads_.clear();
    known_processes_.clear();
  }
  adapters::ProcessFilter filter;
  for (const std::string& c : config_.deny_comms) filter.deny_comms.insert(c);
  filter.deny_pids.insert(self_pid_);
  filter.known_kernel_threads = known_kthreads_;
  absl::StatusOr<adapters::ProcessListing> listing = deps_.system->ListProcesses(filter);
  if (!listing.ok()) {
    Error(listing.status());
    return;
  }
  known_kthreads_ = absl::flat_hash_set<Pid>(listing->kernel_thread_pids.begin(),
                                             listing->kernel_thread_pids.end());
  for (const absl::Status& e : listing->errors) spdlog::debug("process list: {}", e.ToString());
  const adapters::PlaceOptions place{config_.place_file_backed, config_.place_shared};
  ScanTargets targets;
  absl::flat_hash_set<Pid> seen;
  absl::flat_hash_map<Pid, KnownProcess> known;
  for (const adapters::ProcessInfo& p : listing->processes) {
    if (auto it = known_processes_.find(p.pid);
        it != known_processes_.end() && tracked_.contains(p.pid) &&
        it->second.start_time_ticks == p.start_time_ticks &&
        it->second.vsize_bytes == p.vsize_bytes) {
      // The same process, the same size: its maps are what the tracker has.
      ++counters_.maps_unchanged;
      seen.insert(p.pid);
      targets.emplace(p.pid, it->second.vmas);
      known.emplace(p.pid, std::move(it->second));
      continue;
    }
    ++counters_.maps_reads;
    absl::StatusOr<std::vector<Vma>> vmas = deps_.system->PlaceableVmas(p.pid, place);
    if (!vmas.ok()) {
      // NotFound: it exited between listing and reading; nothing to say.
      // PermissionDenied: not ours to place (a container's root without
      // CAP_SYS_PTRACE); counted, logged at debug level only.
      if (absl::IsPermissionDenied(vmas.status())) {
        ++counters_.unreadable_processes;
        spdlog::debug("{}", vmas.status().ToString());
      } else if (!absl::IsNotFound(vmas.status())) {
        Error(vmas.status());
      }
      continue;
    }
    if (vmas->empty()) continue;
    if (absl::Status s = tracker_.SetVmas(p.pid, *vmas); !s.ok()) {
      Error(absl::Status(s.code(), absl::StrCat("pid ", p.pid, ": ", s.message())));
      continue;
    }
    seen.insert(p.pid);
    known.emplace(p.pid, KnownProcess{p.start_time_ticks, p.vsize_bytes, *vmas});
    if (!tracked_.contains(p.pid) && deps_.source_control != nullptr &&
        deps_.source_control->ScansInPasses()) {
      // Accessed bits found on the first visit of a page only say it was
      // touched at some time since it was mapped: the pass under way may
      // or may not have visited this process, the one after it surely
      // does.  Until both are done its samples carry no recency.
      baseline_until_pass_[p.pid] = deps_.source_control->Passes() + 2;
    }
    targets.emplace(p.pid, std::move(*vmas));
  }
  for (Pid pid : tracked_) {
    if (!seen.contains(pid)) {
      (void)tracker_.RemoveProcess(pid);
      baseline_until_pass_.erase(pid);
    }
  }
  tracked_ = std::move(seen);
  known_processes_ = std::move(known);
  counters_.processes = tracked_.size();
  if (deps_.source_control != nullptr) deps_.source_control->SetTargets(targets);
}

absl::Status PlacementLoop::ReadSamples(uint64_t* read) {
  *read = 0;
  if (deps_.source == nullptr) return absl::OkStatus();
  const uint64_t unmapped0 =
      tracker_.stats().samples_unknown_pid + tracker_.stats().samples_unmapped;
  while (*read < config_.max_samples_per_tick && !deps_.source->Exhausted()) {
    const size_t want = std::min<size_t>(buffer_.size(), config_.max_samples_per_tick - *read);
    absl::StatusOr<size_t> n = deps_.source->Read(absl::MakeSpan(buffer_.data(), want));
    if (!n.ok()) return n.status();
    if (*n == 0) break;
    *read += *n;
    size_t keep = *n;
    if (!baseline_until_pass_.empty()) {
      const uint64_t passes = deps_.source_control->Passes();
      for (auto it = baseline_until_pass_.begin(); it != baseline_until_pass_.end();) {
        if (passes >= it->second) {
          baseline_until_pass_.erase(it++);
        } else {
          ++it;
        }
      }
      keep = 0;
      for (size_t i = 0; i < *n; ++i) {
        if (baseline_until_pass_.contains(buffer_[i].pid)) continue;
        buffer_[keep++] = buffer_[i];
      }
      counters_.samples_baseline += *n - keep;
    }
    tracker_.Ingest(absl::MakeConstSpan(buffer_.data(), keep));
  }
  counters_.samples += *read;
  counters_.samples_unmapped += tracker_.stats().samples_unknown_pid +
                                tracker_.stats().samples_unmapped - unmapped0;
  return absl::OkStatus();
}

void PlacementLoop::RefreshOnMemoryGrowth(const adapters::NodeMeminfo& fmem, int64_t now_ns) {
  if (config_.refresh_growth_mib <= 0) return;
  // All of it is the listing's cost (cpu_refresh_ns).
  const int64_t cpu0 = deps_.clock->OwnCpuNs();
  absl::Cleanup charge = [&] { counters_.cpu_refresh_ns += deps_.clock->OwnCpuNs() - cpu0; };
  absl::StatusOr<uint64_t> free_all = deps_.system->FreeMemoryBytes();
  if (!free_all.ok()) {
    Error(free_all.status());
    return;
  }
  // New memory lands on FMEM while it has room (its AnonPages grow, page
  // cache there is not placed and does not count) and on the other nodes
  // after (their free memory falls; page cache counts there, which costs
  // at most a listing).  Migration moves pages between the two terms
  // without changing the sum; shrinking lowers the mark, so memory freed
  // and used again counts as new.  A node's free memory as sysinfo and
  // meminfo see it a few microseconds apart: a difference, hence signed.
  const int64_t other_free = static_cast<int64_t>(*free_all) - static_cast<int64_t>(fmem.free_bytes);
  const int64_t in_use = static_cast<int64_t>(fmem.anon_bytes) - other_free;
  const int64_t growth = config_.refresh_growth_mib << 20;
  if (in_use_baseline_bytes_.has_value() && in_use >= *in_use_baseline_bytes_ + growth &&
      now_ns != last_maps_ns_) {
    spdlog::debug("memory in use grew by {} MiB since the last listing: listing again",
                  (in_use - *in_use_baseline_bytes_) >> 20);
    ++counters_.maps_refreshes_growth;
    RefreshProcessesInner(now_ns);
  }
  in_use_baseline_bytes_ = std::min(in_use_baseline_bytes_.value_or(in_use), in_use);
}

absl::Status PlacementLoop::PlanAndMove(int64_t now_ns, int64_t interval_ns,
                                        int64_t allowance_ns, bool* planned_work) {
  *planned_work = false;
  int64_t cpu_plan0 = deps_.clock->OwnCpuNs();
  // The system view for this tick: free FMEM and the balloon's promise.
  absl::StatusOr<adapters::NodeMeminfo> fm = deps_.system->NodeMeminfo(config_.planner.fmem_node, MeminfoDetail::kWithUsableFree);
  if (!fm.ok()) {
    // Without the free FMEM figure no plan is safe: skip this tick.
    Error(fm.status());
    return absl::OkStatus();
  }
  // Before the snapshot, so this tick's plan already sees the new areas.
  // Its CPU is the listing's, not planning's.
  const int64_t refresh0 = counters_.cpu_refresh_ns;
  RefreshOnMemoryGrowth(*fm, now_ns);
  cpu_plan0 += counters_.cpu_refresh_ns - refresh0;
  uint64_t pending = 0;
  if (deps_.hballoon != nullptr) {
    absl::StatusOr<hballoon_info> info = deps_.hballoon->GetInfo();
    if (info.ok()) {
      const auto n = static_cast<uint32_t>(config_.planner.fmem_node);
      if (n < info->num_nodes && n < HBALLOON_MAX_NODES &&
          (info->nodes[n].flags & HBALLOON_NODE_F_ACTIVE) != 0 &&
          info->nodes[n].target_pages > info->nodes[n].actual_pages) {
        pending = static_cast<uint64_t>(info->nodes[n].target_pages - info->nodes[n].actual_pages) *
                  placement::kBasePageBytes;
      }
    } else {
      Error(info.status());
    }
  }
  // Placement counts only free memory a migration can land in (zone
  // watermarks and the lowmem reserve held back); the balloon's pending
  // growth is compared with the same figure.
  placement::TickInputs in;
  in.tick = counters_.ticks;
  in.interval_ns = std::max<int64_t>(interval_ns, 1);
  in.fmem_free_bytes = fm->usable_free_bytes.value_or(fm->free_bytes);
  in.balloon_pending_bytes = pending;
  in.allowance_ns = allowance_ns - (deps_.clock->OwnCpuNs() - cpu_plan0);
  counters_.fmem_free_bytes = in.fmem_free_bytes;
  counters_.fmem_memfree_bytes = fm->free_bytes;
  counters_.balloon_pending_bytes = pending;

  adapters::LocatorConfig lcfg;
  lcfg.fmem_node = config_.planner.fmem_node;
  lcfg.smem_node = config_.planner.smem_node;
  lcfg.max_exact_pages = config_.locate_exact_pages;
  lcfg.sample_pages = config_.locate_sample_pages;
  adapters::MovePagesLocator mp_locator(*deps_.syscall, lcfg);
  const placement::PageLocator& locator =
      hb_locator_ != nullptr ? static_cast<const placement::PageLocator&>(*hb_locator_)
                             : mp_locator;
  absl::StatusOr<placement::TickPlan> tp =
      planner_.Plan(tracker_.Snapshot(), locator, in, *deps_.clock);
  if (!tp.ok()) {
    Error(tp.status());
    counters_.cpu_locate_ns += deps_.clock->OwnCpuNs() - cpu_plan0;
    return absl::OkStatus();
  }
  // A process that is exiting has no mm any more: lookups say EINVAL (not
  // ESRCH) until it is reaped.  Gone either way.
  std::vector<Pid> gone = tp->gone_pids;
  for (const placement::LocateError& e : tp->locate_errors) {
    if (ProcessGone(e.pid)) {
      gone.push_back(e.pid);
    } else {
      Error(e.status);
    }
  }
  for (Pid pid : gone) {
    (void)tracker_.RemoveProcess(pid);
    tracked_.erase(pid);
    baseline_until_pass_.erase(pid);
    known_processes_.erase(pid);
    planner_.Forget(pid);
  }
  if (!gone.empty()) counters_.processes = tracked_.size();

  counters_.tracked_fmem_bytes = tp->tracked_fmem_bytes;
  counters_.tracked_smem_bytes = tp->tracked_smem_bytes;
  counters_.fmem_capacity_bytes = tp->fmem_capacity_bytes;
  counters_.headroom_bytes = tp->headroom_bytes;
  counters_.hot_bytes = tp->classes.hot_bytes;
  counters_.smem_share =
      tp->classes.total_weight > 0 ? 1.0 - tp->classes.fmem_weight_fraction : 0.0;
  counters_.rate_mib_per_s = tp->rate_mib_per_s;
  if (tp->budget_limited) ++counters_.budget_limited_ticks;
  if (tp->floor_applied) ++counters_.floor_ticks;
  counters_.gain_skipped_bytes += tp->exchange.gain_skipped_bytes;
  counters_.held_bytes = planner_.held_bytes();
  const placement::ExchangePlan& plan = tp->exchange;
  last_classes_ = std::move(tp->classes);
  if (spdlog::should_log(spdlog::level::trace)) {
    // The ranking behind this tick's plan: every resident range, hottest
    // first.
    for (const placement::RangeClass& rc : last_classes_.ranges) {
      spdlog::trace("range {} [{:#x}, {:#x}) weight {:.1f} per MiB {:.1f}: FMEM {} KiB SMEM {} "
                    "KiB, hot {} KiB",
                    rc.pid, rc.start, rc.end, rc.weight, rc.density,
                    rc.residency.fmem_bytes >> 10, rc.residency.smem_bytes >> 10,
                    rc.hot_bytes >> 10);
    }
  }
  have_classes_ = true;
  if (plan.rounds.empty()) {
    if (spdlog::should_log(spdlog::level::debug) && !last_classes_.promote.empty()) {
      // Something ranks hotter on SMEM but nothing moves: say why.
      uint64_t promote = 0, demote = 0;
      for (size_t i : last_classes_.promote) promote += last_classes_.ranges[i].promote_bytes();
      for (size_t i : last_classes_.demote) demote += last_classes_.ranges[i].demote_bytes();
      spdlog::debug(
          "no moves: stop {}; hot {} KiB, to promote {} KiB, demotable {} KiB, free FMEM {} KiB, "
          "headroom {} KiB, rate {:.1f} MiB/s, gain-skipped {} KiB",
          static_cast<int>(plan.stop), last_classes_.hot_bytes >> 10, promote >> 10, demote >> 10,
          in.fmem_free_bytes >> 10, counters_.headroom_bytes >> 10, tp->rate_mib_per_s,
          plan.gain_skipped_bytes >> 10);
    }
    counters_.cpu_locate_ns += deps_.clock->OwnCpuNs() - cpu_plan0;
    planner_.Learn({});
    return absl::OkStatus();
  }
  *planned_work = true;

  const int64_t cpu_moves0 = deps_.clock->OwnCpuNs();
  counters_.cpu_locate_ns += cpu_moves0 - cpu_plan0;
  adapters::MoverConfig mcfg;
  mcfg.max_batch_pages = config_.max_batch_pages;
  // The plan was sized to the allowance (or the floor rate); a cost
  // estimate that was too low cannot overspend it by more than one batch.
  const int64_t cpu_limit = tp->cpu_limit_ns;
  mcfg.out_of_budget = [&] { return deps_.clock->OwnCpuNs() - cpu_moves0 >= cpu_limit; };
  mcfg.max_batch_bytes = tp->max_batch_bytes;
  adapters::MovePagesExecutor executor(*deps_.syscall, mcfg);
  adapters::MoverResult r = executor.Execute(plan);
  const int64_t move_ns = deps_.clock->OwnCpuNs() - cpu_moves0;
  counters_.cpu_move_ns += move_ns;
  // Migration beyond what the allowance held ran at the floor rate: it is
  // governed by that rate, not charged to the budget (budget_controller.h).
  const int64_t allowance_left = std::max<int64_t>(0, allowance_ns - (cpu_moves0 - cpu_plan0));
  if (tp->floor_applied && move_ns > allowance_left) {
    window_exempt_cpu_ns_ += move_ns - allowance_left;
    counters_.cpu_floor_move_ns += move_ns - allowance_left;
  }
  planner_.Learn(
      {r.report.applied_bytes, move_ns, r.report.no_mem > 0, std::move(r.unapplied_promotions)});
  counters_.move_cost_ns_per_mib = planner_.move_cost_ns_per_mib();
  if (r.stop == adapters::MoverStop::kBudget) ++counters_.budget_limited_ticks;
  // In 4 KiB pages, whether pages moved as THPs or base pages.
  const int64_t moved_at = deps_.clock->MonotonicNs();
  for (const placement::PageMove& m : r.applied) {
    if (m.dest_tier == placement::Tier::kFmem) {
      bounce_.Promoted(m.pid, m.addr, m.bytes, moved_at);
    } else {
      bounce_.Demoted(m.pid, m.addr, moved_at);
    }
  }
  counters_.bounced_pages = bounce_.stats().bounced_bytes / placement::kBasePageBytes;
  counters_.bounced_share = bounce_.bounced_share();
  counters_.promoted_pages += r.report.applied_to_fmem_bytes / placement::kBasePageBytes;
  counters_.demoted_pages += r.report.applied_to_smem_bytes / placement::kBasePageBytes;
  counters_.planned_moves += r.report.planned_moves;
  counters_.applied_moves += r.report.applied_moves;
  counters_.busy += r.report.busy;
  counters_.gone += r.report.gone;
  counters_.no_mem += r.report.no_mem;
  counters_.skipped += r.report.skipped;
  counters_.other_failed += r.other_failed;
  counters_.move_syscalls += r.syscalls;
  spdlog::debug(
      "plan: promote {} KiB demote {} KiB ({} moves) at {:.1f} MiB/s{}; applied {} moves, {} KiB "
      "to FMEM, {} KiB to SMEM; enomem {} busy {} skipped {} not tried {} stop {}; free FMEM {} "
      "KiB, headroom {} KiB, allowance {} ms, move cost {:.0f} us/MiB; planner stop {}, held "
      "{} KiB passed over",
      plan.promote_bytes >> 10, plan.demote_bytes >> 10, r.report.planned_moves,
      tp->rate_mib_per_s, tp->floor_applied ? " (floor)" : "", r.report.applied_moves,
      r.report.applied_to_fmem_bytes >> 10, r.report.applied_to_smem_bytes >> 10,
      r.report.no_mem, r.report.busy, r.report.skipped, r.not_attempted,
      static_cast<int>(r.stop), in.fmem_free_bytes >> 10, counters_.headroom_bytes >> 10,
      allowance_ns / 1'000'000, counters_.move_cost_ns_per_mib / 1e3, static_cast<int>(plan.stop),
      plan.held_skipped_bytes >> 10);
  if (r.stop == adapters::MoverStop::kFatal) return r.fatal;
  return absl::OkStatus();
}

absl::Status PlacementLoop::ChooseLocator() {
  locator_chosen_ = true;
  counters_.locator = "move_pages";
  if (config_.locator == "move_pages") return absl::OkStatus();
  if (deps_.hballoon == nullptr) {
    if (config_.locator == "hballoon") {
      return absl::FailedPreconditionError("locator \"hballoon\" needs /dev/hballoon");
    }
    return absl::OkStatus();
  }
  adapters::HballoonLocatorConfig hcfg;
  hcfg.fmem_node = config_.planner.fmem_node;
  hcfg.smem_node = config_.planner.smem_node;
  absl::StatusOr<std::unique_ptr<adapters::HballoonPageLocator>> l =
      adapters::HballoonPageLocator::Create(*deps_.hballoon, hcfg);
  if (!l.ok()) return l.status();  // a config bug: nodes were validated
  // Probe with a page of our own: a module without the ioctl says
  // Unimplemented.  NotFound (a pid namespace without us) still shows the
  // ioctl exists.
  static const int probe_target = 0;
  const Vaddr page = reinterpret_cast<uintptr_t>(&probe_target) & ~(placement::kBasePageBytes - 1);
  absl::StatusOr<Residency> probe = (*l)->Locate(self_pid_, page, page + placement::kBasePageBytes);
  if (probe.ok() || absl::IsNotFound(probe.status())) {
    hb_locator_ = std::move(*l);
    counters_.locator = "hballoon";
    spdlog::info("locating pages with hballoon.ko (HBALLOON_IOC_LOCATE)");
    return absl::OkStatus();
  }
  if (config_.locator == "hballoon") {
    return absl::Status(probe.status().code(),
                        absl::StrCat("locator \"hballoon\": ", probe.status().message()));
  }
  spdlog::warn("locating pages with move_pages(2) (slower, 4 KiB only): {}",
               probe.status().ToString());
  return absl::OkStatus();
}

bool PlacementLoop::ProcessGone(Pid pid) {
  absl::StatusOr<std::vector<Vma>> vmas =
      deps_.system->PlaceableVmas(pid, {config_.place_file_backed, config_.place_shared});
  // An exiting process's maps file reads empty.
  return absl::IsNotFound(vmas.status()) || (vmas.ok() && vmas->empty());
}

void PlacementLoop::SendTelemetry() {
  if (deps_.hballoon == nullptr) return;
  TelemetryInputs in;
  for (int node : {config_.planner.fmem_node, config_.planner.smem_node}) {
    absl::StatusOr<adapters::NodeMeminfo> m = deps_.system->NodeMeminfo(node, MeminfoDetail::kBasic);
    if (m.ok()) {
      in.nodes.push_back(*m);
    } else {
      Error(m.status());
    }
  }
  absl::StatusOr<adapters::MemoryPressure> psi = deps_.system->Pressure();
  if (psi.ok()) {
    in.has_psi = true;
    in.psi = *psi;
  } else if (!absl::IsNotFound(psi.status())) {  // NotFound: kernel without PSI
    Error(psi.status());
  }
  in.classes = have_classes_ ? &last_classes_ : nullptr;
  in.smem_share = have_classes_ && last_classes_.total_weight > 0 ? counters_.smem_share : -1;
  in.promoted_pages = counters_.promoted_pages;
  in.demoted_pages = counters_.demoted_pages;
  in.budget_use_fraction = counters_.budget.budget_pct > 0
                               ? counters_.budget.long_pct / counters_.budget.budget_pct
                               : 0;
  std::vector<virtio_hballoon_stat> recs = BuildTelemetry(in);
  absl::StatusOr<uint32_t> seq = deps_.hballoon->SubmitStats(recs);
  if (seq.ok()) {
    ++counters_.telemetry_sent;
  } else {
    ++counters_.telemetry_failed;
    Error(seq.status());
  }
}

absl::Status PlacementLoop::Tick() {
  const int64_t now = deps_.clock->MonotonicNs();
  const int64_t tick_ns = config_.tick_ms * 1'000'000;
  if (!started_) {
    started_ = true;
    start_ns_ = now;
    cpu_start_ns_ = deps_.clock->OwnCpuNs();
    last_tick_ns_ = now - tick_ns;
    last_telemetry_ns_ = now - config_.telemetry_interval_ms * 1'000'000;
    RefreshProcesses(now);
  } else if (now - last_maps_ns_ >= config_.maps_refresh_ms * 1'000'000) {
    RefreshProcesses(now);
  }
  uint64_t n = 0;
  const int64_t cpu_s0 = deps_.clock->OwnCpuNs();
  // In debt (spent more than budget * T + the bucket), sampling pauses:
  // at the slowest scan rate the scan ioctls alone can cost more than a
  // small budget (under TCG each one waits for a TLB-flush IPI to every
  // vCPU).  The debt is bounded and forgiven after an idle tick, so this
  // pause lasts a tick or two, never for good.  The sampling floor bounds
  // both this pause and the duty cycle below: after max_sampling_gap_ticks
  // ticks without a read the next tick reads, so a new hot set is seen
  // within a few ticks on a slow or loaded machine too (its cost is
  // counted like any other sampling).
  absl::Status read_status = absl::OkStatus();
  const bool floor_read = ticks_without_read_ >= config_.max_sampling_gap_ticks;
  const bool paused = !floor_read && budget_.in_debt();
  const bool duty_skip = !floor_read && !paused && sampling_skip_ticks_ > 0;
  if (paused) {
    ++counters_.budget_paused_ticks;
    ++ticks_without_read_;
  } else if (duty_skip) {
    --sampling_skip_ticks_;
    ++counters_.sampling_skipped_ticks;
    ++ticks_without_read_;
  } else {
    if (floor_read && (budget_.in_debt() || sampling_skip_ticks_ > 0)) {
      ++counters_.sampling_floor_reads;
    }
    sampling_skip_ticks_ = 0;
    ticks_without_read_ = 0;
    read_status = ReadSamples(&n);
  }
  const int64_t sample_ns = deps_.clock->OwnCpuNs() - cpu_s0;
  if (!paused && !duty_skip && deps_.source != nullptr) {
    // Sampling on a duty cycle: a read that cost more than the sampling
    // share of one tick's budget (at the slowest scan rate; under TCG on a
    // busy guest one scan ioctl can wait hundreds of ms for TLB-flush IPIs)
    // is followed by enough ticks without reads to bring the average down
    // to that share, at most max_sampling_gap_ticks.  Debt alone cannot do
    // it: it is bounded, and the cost above the bound would be forgotten.
    const double share_ns = config_.budget.budget_pct / 100.0 * config_.budget.sampling_share *
                            static_cast<double>(tick_ns);
    if (share_ns > 0 && static_cast<double>(sample_ns) > share_ns) {
      sampling_skip_ticks_ = std::min<int64_t>(
          config_.max_sampling_gap_ticks,
          static_cast<int64_t>(std::ceil(static_cast<double>(sample_ns) / share_ns)) - 1);
    }
  }
  window_sampling_cpu_ns_ += sample_ns;
  counters_.cpu_sample_ns += sample_ns;
  if (absl::Status s = read_status; !s.ok()) {
    const absl::Status err(s.code(), absl::StrCat("sample source: ", s.message()));
    if (!deps_.source_optional) return err;
    Error(err);
    spdlog::warn("going on without sampling");
    deps_.source = nullptr;
    deps_.source_control = nullptr;
  }
  window_samples_ += n;
  // Samples of processes started since the last refresh: read their maps
  // now, so the next samples of theirs count.
  if (!tracker_.TakeUnknownPids().empty() && now != last_maps_ns_) RefreshProcesses(now);

  // The rate limit is per second of elapsed time, so a late tick may move more.
  const int64_t interval = std::clamp<int64_t>(now - last_tick_ns_, tick_ns / 4, 4 * tick_ns);
  last_tick_ns_ = now;
  if (!locator_chosen_) {
    if (absl::Status st = ChooseLocator(); !st.ok()) return st;
  }
  // Placement runs every tick: the allowance sizes its moves, the
  // planner's floor rate keeps them going when the allowance is spent.
  const int64_t allowance = budget_.placement_allowance_ns();
  if (allowance == 0) ++counters_.budget_skipped_ticks;
  bool planned_work = false;
  absl::Status moved = PlanAndMove(now, interval, allowance, &planned_work);
  if (hb_locator_ != nullptr) counters_.locate_pages = hb_locator_->pages_walked();
  const int64_t cpu_o0 = deps_.clock->OwnCpuNs();

  ++counters_.ticks;
  // An epoch (decay, merge, split) ends every epoch_ticks ticks; with a
  // scanning source also not before the scan has completed a pass since
  // the previous one.  A pass spans several ticks, and each page is seen
  // once in it: decaying every tick would rank a hot range last scanned
  // two ticks ago below data touched once and seen young this tick, and
  // exchange the hot pages for it.
  ++ticks_since_epoch_;
  const bool scanning =
      deps_.source_control != nullptr && deps_.source_control->ScansInPasses();
  const uint64_t passes = scanning ? deps_.source_control->Passes() : 0;
  if (ticks_since_epoch_ >= config_.epoch_ticks && (!scanning || passes != epoch_passes_)) {
    tracker_.EndEpoch();
    ++counters_.epochs;
    ticks_since_epoch_ = 0;
    epoch_passes_ = passes;
  }
  counters_.ranges = tracker_.range_count();

  const uint64_t scanned =
      deps_.source_control != nullptr ? deps_.source_control->TakePagesScanned() : 0;
  if (deps_.source_control != nullptr) {
    counters_.scan_floor_reads = deps_.source_control->FloorReads();
  }
  const int64_t cpu_now = deps_.clock->OwnCpuNs();
  if (counters_.ticks == 1) {
    // Start-up is not debt: the first tick (every process's maps, the
    // first samples, the first lookup of every range and the placement it
    // led to) ran before the budget's first window, which starts here.
    counters_.cpu_startup_ns = cpu_now - cpu_start_ns_;
    budget_.Update(0, 0);
  } else {
    // Everything but sampling (placement, refresh, telemetry, the status
    // file) is paid from the bucket, less migration at the floor rate; the
    // sampling loop governs its own part.
    const int64_t other_cpu = (cpu_now - window_cpu0_ns_) - window_sampling_cpu_ns_;
    counters_.budget = budget_.Update(window_samples_, scanned, other_cpu, window_exempt_cpu_ns_);
    if (paused && !planned_work) counters_.debt_forgiven_ns += budget_.ForgiveDebt();
  }
  window_cpu0_ns_ = cpu_now;
  window_samples_ = 0;
  window_sampling_cpu_ns_ = 0;
  window_exempt_cpu_ns_ = 0;
  if (deps_.source_control != nullptr) {
    deps_.source_control->SetRates(budget_.sample_period(), budget_.scan_pages_per_s());
  }
  spdlog::trace(
      "tick {}: {} samples ({}) in {:.1f} ms, {} pages scanned, passes {}, epochs {}, "
      "scan rate {:.0f} pages/s, debt {}, skip {}",
      counters_.ticks, n, paused ? "paused" : duty_skip ? "duty skip" : floor_read ? "floor" : "read",
      static_cast<double>(sample_ns) / 1e6, scanned, passes, counters_.epochs,
      budget_.scan_pages_per_s(), budget_.in_debt(), sampling_skip_ticks_);
  if (config_.telemetry_interval_ms > 0 &&
      now - last_telemetry_ns_ >= config_.telemetry_interval_ms * 1'000'000) {
    last_telemetry_ns_ = now;
    const int64_t cpu_t0 = deps_.clock->OwnCpuNs();
    SendTelemetry();
    counters_.cpu_telemetry_ns += deps_.clock->OwnCpuNs() - cpu_t0;
  }
  counters_.cpu_other_ns += deps_.clock->OwnCpuNs() - cpu_o0;
  return moved;
}

std::string PlacementLoop::StatusJson() const {
  const LoopCounters& c = counters_;
  nlohmann::json j;
  j["ticks"] = c.ticks;
  j["epochs"] = c.epochs;
  j["samples"] = c.samples;
  j["samples_unmapped"] = c.samples_unmapped;
  j["samples_baseline"] = c.samples_baseline;
  j["maps_refreshes"] = c.maps_refreshes;
  j["maps_refreshes_growth"] = c.maps_refreshes_growth;
  j["bounced_pages"] = c.bounced_pages;
  j["bounced_share"] = c.bounced_share;
  j["maps_reads"] = c.maps_reads;
  j["maps_unchanged"] = c.maps_unchanged;
  j["promoted_pages"] = c.promoted_pages;
  j["demoted_pages"] = c.demoted_pages;
  j["migrations"] = c.promoted_pages + c.demoted_pages;
  j["planned_moves"] = c.planned_moves;
  j["applied_moves"] = c.applied_moves;
  j["busy"] = c.busy;
  j["gone"] = c.gone;
  j["no_mem"] = c.no_mem;
  j["skipped"] = c.skipped;
  j["other_failed"] = c.other_failed;
  j["move_syscalls"] = c.move_syscalls;
  j["locator"] = c.locator;
  j["locate_pages"] = c.locate_pages;
  j["telemetry_sent"] = c.telemetry_sent;
  j["telemetry_failed"] = c.telemetry_failed;
  j["errors"] = c.errors;
  j["unreadable_processes"] = c.unreadable_processes;
  j["last_error"] = c.last_error;
  j["processes"] = c.processes;
  j["ranges"] = c.ranges;
  j["fmem_free_bytes"] = c.fmem_free_bytes;
  j["fmem_memfree_bytes"] = c.fmem_memfree_bytes;
  j["balloon_pending_bytes"] = c.balloon_pending_bytes;
  j["fmem_capacity_bytes"] = c.fmem_capacity_bytes;
  j["headroom_bytes"] = c.headroom_bytes;
  j["hot_bytes"] = c.hot_bytes;
  j["tracked_fmem_bytes"] = c.tracked_fmem_bytes;
  j["tracked_smem_bytes"] = c.tracked_smem_bytes;
  j["smem_share_ppm"] = Ppm(c.smem_share);
  j["cpu_ns"] = deps_.clock->OwnCpuNs();
  j["cpu_refresh_ns"] = c.cpu_refresh_ns;
  j["cpu_sample_ns"] = c.cpu_sample_ns;
  j["cpu_locate_ns"] = c.cpu_locate_ns;
  j["cpu_move_ns"] = c.cpu_move_ns;
  j["cpu_other_ns"] = c.cpu_other_ns;
  j["cpu_telemetry_ns"] = c.cpu_telemetry_ns;
  j["cpu_status_ns"] = c.cpu_status_ns;
  j["cpu_startup_ns"] = c.cpu_startup_ns;
  j["cpu_floor_move_ns"] = c.cpu_floor_move_ns;
  // Fixed overhead: what the daemon spends whether or not anything is hot
  // (process and maps refresh, epochs, budget, telemetry, the status file),
  // as % of one vCPU since start; the goal is <= 20 % of the budget.
  const int64_t fixed_ns = c.cpu_refresh_ns + c.cpu_other_ns + c.cpu_status_ns;
  const int64_t wall_ns = started_ ? deps_.clock->MonotonicNs() - start_ns_ : 0;
  j["cpu_fixed_ns"] = fixed_ns;
  j["fixed_overhead_pct"] =
      wall_ns > 0 ? 100.0 * static_cast<double>(fixed_ns) / static_cast<double>(wall_ns) : 0.0;
  j["wall_ns"] = wall_ns;
  j["budget_pct"] = c.budget.budget_pct;
  j["budget_used_pct"] = c.budget.used_pct;
  j["budget_smoothed_pct"] = c.budget.smoothed_pct;
  j["budget_own_cpu_pct"] = c.budget.own_cpu_pct;
  j["budget_over"] = c.budget.over_budget;
  j["budget_long_pct"] = c.budget.long_pct;
  j["budget_other_pct"] = c.budget.other_pct;
  j["budget_credit_ms"] = static_cast<double>(c.budget.credit_ns) / 1e6;
  j["budget_skipped_ticks"] = c.budget_skipped_ticks;
  j["budget_limited_ticks"] = c.budget_limited_ticks;
  j["budget_paused_ticks"] = c.budget_paused_ticks;
  j["sampling_skipped_ticks"] = c.sampling_skipped_ticks;
  j["sampling_floor_reads"] = c.sampling_floor_reads;
  j["scan_floor_reads"] = c.scan_floor_reads;
  j["budget_exempt_pct"] = c.budget.exempt_pct;
  j["debt_forgiven_ms"] = static_cast<double>(c.debt_forgiven_ns) / 1e6;
  j["floor_ticks"] = c.floor_ticks;
  j["gain_skipped_mib"] = static_cast<double>(c.gain_skipped_bytes) / (1 << 20);
  j["held_mib"] = static_cast<double>(c.held_bytes) / (1 << 20);
  j["rate_mib_per_s"] = c.rate_mib_per_s;
  j["move_cost_us_per_mib"] = c.move_cost_ns_per_mib / 1e3;
  j["sample_period"] = c.budget.sample_period;
  j["scan_pages_per_s"] = c.budget.scan_pages_per_s;
  if (c.numa_balancing_before >= 0) {
    j["numa_balancing_before"] = c.numa_balancing_before;
  } else {
    j["numa_balancing_before"] = nullptr;
  }
  j["numa_balancing_turned_off"] = c.numa_balancing_turned_off;
  return j.dump();
}

}  // namespace tiervm::hplaced
