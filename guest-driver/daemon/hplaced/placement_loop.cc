#include "daemon/hplaced/placement_loop.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>
#include <utility>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

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

// The loop's view of page locations for one tick, bounding what it costs:
// move_pages queries are the daemon's largest CPU cost (tens of us per page
// under TCG).
//  * Locate() results are kept across ticks (`cache`) and re-queried only
//    when older than `refresh_ticks` or when the range moved pages (the
//    loop erases those entries after executing a plan).  Range boundaries
//    change on split/merge: a new key is a miss.
//  * ForEachPage() over a range longer than `window_pages` walks only a
//    window of that many pages at an offset that rotates with the tick, so
//    planning on a 400 MiB cold range does not query all its pages every
//    tick; successive ticks see other windows.  The planner plans only
//    pages it is shown, so a window can only make it move less.
class TickLocator final : public placement::PageLocator {
 public:
  using Cache = ResidencyCache;
  TickLocator(const placement::PageLocator& inner, Cache& cache, uint64_t tick,
              uint64_t refresh_ticks, uint64_t window_pages, uint64_t tick_pages)
      : inner_(inner), cache_(cache), tick_(tick), refresh_(refresh_ticks),
        window_pages_(window_pages),
        pages_left_(tick_pages == 0 ? ~uint64_t{0} : tick_pages) {}
  absl::StatusOr<Residency> Locate(Pid pid, Vaddr start, Vaddr end) const override {
    auto key = std::make_tuple(pid, start, end);
    auto it = cache_.find(key);
    if (it != cache_.end() && tick_ - it->second.tick < refresh_) return it->second.res;
    absl::StatusOr<Residency> r = inner_.Locate(pid, start, end);
    cache_[key] = ResidencyEntry{r, tick_};
    return r;
  }
  absl::Status ForEachPage(Pid pid, Vaddr start, Vaddr end,
                           absl::FunctionRef<bool(const PageInfo&)> fn) const override {
    // Past the tick's page budget the planner is shown nothing more (it
    // then plans fewer moves this tick, never unsafe ones).
    if (pages_left_ == 0) return absl::OkStatus();
    const uint64_t npages = (end - start) / placement::kBasePageBytes;
    const uint64_t window =
        std::min(window_pages_ == 0 ? npages : window_pages_, pages_left_);
    if (npages <= window) {
      pages_left_ -= npages;
      return inner_.ForEachPage(pid, start, end, fn);
    }
    // Whole windows, the last one ending at the range end.
    const uint64_t windows = (npages + window - 1) / window;
    const uint64_t w = tick_ % windows;
    Vaddr lo = start + w * window * placement::kBasePageBytes;
    Vaddr hi = std::min<Vaddr>(end, lo + window * placement::kBasePageBytes);
    pages_left_ -= (hi - lo) / placement::kBasePageBytes;
    return inner_.ForEachPage(pid, lo, hi, fn);
  }

 private:
  const placement::PageLocator& inner_;
  Cache& cache_;
  uint64_t tick_, refresh_, window_pages_;
  mutable uint64_t pages_left_;
};

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
      budget_(config.budget, deps.clock) {
  PLACEMENT_CHECK(config.Validate().ok());
  PLACEMENT_CHECK(deps.system != nullptr && deps.syscall != nullptr && deps.clock != nullptr);
  buffer_.resize(std::min<size_t>(config.max_samples_per_tick, 1 << 16));
  counters_.move_cost_ns_per_mib = config.initial_move_cost_us_per_mib * 1e3;
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
  adapters::ProcessFilter filter;
  for (const std::string& c : config_.deny_comms) filter.deny_comms.insert(c);
  filter.deny_pids.insert(self_pid_);
  absl::StatusOr<adapters::ProcessListing> listing = deps_.system->ListProcesses(filter);
  if (!listing.ok()) {
    Error(listing.status());
    return;
  }
  for (const absl::Status& e : listing->errors) spdlog::debug("process list: {}", e.ToString());
  const adapters::PlaceOptions place{config_.place_file_backed, config_.place_shared};
  ScanTargets targets;
  absl::flat_hash_set<Pid> seen;
  for (const adapters::ProcessInfo& p : listing->processes) {
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
    if (!tracked_.contains(p.pid) && deps_.source_control != nullptr &&
        deps_.source_control->NeedsBaselinePass()) {
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

// `snap` with the weight of ranges below `min_weight_per_mib` set to zero
// (the classifier never makes a range without weight hot).
static placement::TrackerSnapshot WithoutFaintRanges(const placement::TrackerSnapshot& snap,
                                              double min_weight_per_mib) {
  if (min_weight_per_mib <= 0) return snap;
  std::vector<placement::RangeStats> ranges = snap.ranges();
  for (placement::RangeStats& r : ranges) {
    if (r.density() < min_weight_per_mib) {
      r.weight = 0;
      r.store_weight = 0;
      r.sub_weight.fill(0);
    }
  }
  return placement::TrackerSnapshot(snap.epoch(), std::move(ranges));
}

absl::Status PlacementLoop::PlanAndMove(int64_t interval_ns, int64_t allowance_ns) {
  const int64_t cpu_plan0 = deps_.clock->OwnCpuNs();
  placement::TrackerSnapshot snap =
      WithoutFaintRanges(tracker_.Snapshot(), config_.min_hot_weight_per_mib);
  adapters::LocatorConfig lcfg;
  lcfg.fmem_node = config_.fmem_node;
  lcfg.smem_node = config_.smem_node;
  lcfg.max_exact_pages = config_.locate_exact_pages;
  lcfg.sample_pages = config_.locate_sample_pages;
  adapters::MovePagesLocator mp_locator(*deps_.syscall, lcfg);
  const placement::PageLocator& real_locator =
      hb_locator_ != nullptr ? static_cast<const placement::PageLocator&>(*hb_locator_)
                             : mp_locator;
  // Forget ranges that no longer exist (split, merged, unmapped, exited).
  {
    absl::flat_hash_set<std::tuple<Pid, Vaddr, Vaddr>> live;
    for (const placement::RangeStats& r : snap.ranges()) live.insert({r.pid, r.start, r.end});
    for (auto it = residency_cache_.begin(); it != residency_cache_.end();) {
      it = live.contains(it->first) ? std::next(it) : residency_cache_.erase(it);
    }
  }
  TickLocator locator(real_locator, residency_cache_, counters_.ticks,
                      static_cast<uint64_t>(config_.locate_refresh_ticks),
                      config_.locate_window_pages, config_.locate_tick_pages);

  uint64_t tracked_fmem = 0, tracked_smem = 0;
  absl::flat_hash_set<Pid> gone;
  for (const placement::RangeStats& r : snap.ranges()) {
    if (gone.contains(r.pid)) continue;
    absl::StatusOr<Residency> res = locator.Locate(r.pid, r.start, r.end);
    if (!res.ok()) {
      // A process that is exiting has no mm any more: move_pages says
      // EINVAL (not ESRCH) until it is reaped.  Gone either way.
      if (absl::IsNotFound(res.status()) || ProcessGone(r.pid)) {
        gone.insert(r.pid);
      } else {
        Error(res.status());
      }
      continue;
    }
    tracked_fmem += res->fmem_bytes;
    tracked_smem += res->smem_bytes;
  }
  if (!gone.empty()) {
    std::vector<placement::RangeStats> keep;
    for (const placement::RangeStats& r : snap.ranges()) {
      if (!gone.contains(r.pid)) keep.push_back(r);
    }
    snap = placement::TrackerSnapshot(snap.epoch(), std::move(keep));
    for (Pid pid : gone) {
      (void)tracker_.RemoveProcess(pid);
      tracked_.erase(pid);
      baseline_until_pass_.erase(pid);
    }
    counters_.processes = tracked_.size();
    for (auto it = residency_cache_.begin(); it != residency_cache_.end();) {
      it = gone.contains(std::get<0>(it->first)) ? residency_cache_.erase(it) : std::next(it);
    }
  }
  counters_.tracked_fmem_bytes = tracked_fmem;
  counters_.tracked_smem_bytes = tracked_smem;

  absl::StatusOr<adapters::NodeMeminfo> fm = deps_.system->NodeMeminfo(config_.fmem_node);
  if (!fm.ok()) {
    // Without the free FMEM figure no plan is safe: skip this tick.
    Error(fm.status());
    return absl::OkStatus();
  }
  uint64_t pending = 0;
  if (deps_.hballoon != nullptr) {
    absl::StatusOr<hballoon_info> info = deps_.hballoon->GetInfo();
    if (info.ok()) {
      const auto n = static_cast<uint32_t>(config_.fmem_node);
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
  const uint64_t free_bytes = fm->usable_free_bytes.value_or(fm->free_bytes);
  counters_.fmem_free_bytes = free_bytes;
  counters_.fmem_memfree_bytes = fm->free_bytes;
  counters_.balloon_pending_bytes = pending;
  // What placement may fill: what tracked pages hold on FMEM now plus what
  // is free and not promised to the balloon.  Kernel and page-cache use is
  // thereby left out without estimating it.
  const uint64_t avail = tracked_fmem + free_bytes;
  const uint64_t capacity = avail > pending ? avail - pending : 0;
  counters_.fmem_capacity_bytes = capacity;

  placement::ClassifierConfig ccfg;
  ccfg.fmem_capacity_bytes = capacity;
  counters_.headroom_bytes = config_.headroom_bytes + extra_headroom_bytes_;
  ccfg.headroom_bytes = std::min(counters_.headroom_bytes, capacity);
  absl::StatusOr<placement::Classification> classes = placement::Classify(snap, locator, ccfg);
  if (!classes.ok()) {
    Error(classes.status());
    return absl::OkStatus();
  }
  counters_.hot_bytes = classes->hot_bytes;
  counters_.smem_share =
      classes->total_weight > 0 ? 1.0 - classes->fmem_weight_fraction : 0.0;

  // The planner demotes until free FMEM reaches the headroom.  Free memory
  // promised to the balloon does not count; when the promise exceeds what
  // is free, the shortfall is added to the headroom instead (free bytes
  // cannot go negative), so the planner demotes the coldest pages until the
  // balloon's growth and the headroom both fit.
  placement::FmemState fstate;
  if (free_bytes >= pending) {
    fstate = {free_bytes - pending, ccfg.headroom_bytes};
  } else {
    fstate = {0, ccfg.headroom_bytes + (pending - free_bytes)};
  }
  placement::PlannerConfig pcfg;
  pcfg.fmem_node = config_.fmem_node;
  pcfg.smem_node = config_.smem_node;
  pcfg.rate_limit_mib_per_s = config_.rate_limit_mib_per_s;
  pcfg.interval_ns = std::max<int64_t>(interval_ns, 1);
  // What is left of the CPU allowance after locating and classifying buys
  // this many bytes of migration at the learnt cost.
  const int64_t left_ns = allowance_ns - (deps_.clock->OwnCpuNs() - cpu_plan0);
  const double affordable_mib =
      left_ns > 0 ? static_cast<double>(left_ns) / counters_.move_cost_ns_per_mib : 0;
  const double interval_s = static_cast<double>(pcfg.interval_ns) / 1e9;
  if (affordable_mib < pcfg.rate_limit_mib_per_s * interval_s) {
    pcfg.rate_limit_mib_per_s = affordable_mib / interval_s;
    ++counters_.budget_limited_ticks;
  }
  pcfg.round_bytes = config_.round_bytes;
  pcfg.thp_max_unevenness = config_.thp_max_unevenness;
  absl::StatusOr<placement::ExchangePlan> plan =
      placement::PlanExchange(snap, *classes, locator, fstate, pcfg);
  if (!plan.ok()) {
    Error(plan.status());
    return absl::OkStatus();
  }
  last_classes_ = std::move(*classes);
  have_classes_ = true;
  if (plan->rounds.empty()) {
    counters_.cpu_locate_ns += deps_.clock->OwnCpuNs() - cpu_plan0;
    AdjustHeadroom(/*no_mem=*/false);
    return absl::OkStatus();
  }

  // Ranges that had pages planned are located afresh next tick.
  for (const placement::PageMove& m : plan->Flatten()) {
    auto it = residency_cache_.upper_bound(std::make_tuple(m.pid, m.addr, ~Vaddr{0}));
    if (it == residency_cache_.begin()) continue;
    --it;
    const auto& [pid, start, end] = it->first;
    if (pid == m.pid && start <= m.addr && m.addr < end) residency_cache_.erase(it);
  }
  const int64_t cpu_moves0 = deps_.clock->OwnCpuNs();
  counters_.cpu_locate_ns += cpu_moves0 - cpu_plan0;
  adapters::MoverConfig mcfg;
  mcfg.max_batch_pages = config_.max_batch_pages;
  // The plan was sized to the allowance; a cost estimate that was too low
  // cannot overspend it by more than one batch.
  mcfg.out_of_budget = [&] { return deps_.clock->OwnCpuNs() - cpu_plan0 >= allowance_ns; };
  // Check the allowance at least every eighth of what it buys, and at
  // least every 64 MiB: a batch can overshoot the allowance by what it
  // costs beyond the estimate (under a loaded TCG host, 13 ms per MiB
  // against the 4 ms first guess).
  mcfg.max_batch_bytes = std::clamp<uint64_t>(
      static_cast<uint64_t>(affordable_mib / 8 * (1 << 20)), placement::kHugePageBytes,
      64ull << 20);
  adapters::MovePagesExecutor executor(*deps_.syscall, mcfg);
  const adapters::MoverResult r = executor.Execute(*plan);
  const int64_t move_ns = deps_.clock->OwnCpuNs() - cpu_moves0;
  counters_.cpu_move_ns += move_ns;
  // Learn the migration cost from what was applied (failed moves cost
  // too, so per applied byte is the conservative figure).
  if (r.report.applied_bytes >= (64u << 10)) {
    const double mib = static_cast<double>(r.report.applied_bytes) / (1 << 20);
    const double sample = static_cast<double>(move_ns) / mib;
    counters_.move_cost_ns_per_mib = 0.5 * counters_.move_cost_ns_per_mib + 0.5 * sample;
  }
  if (r.stop == adapters::MoverStop::kBudget) ++counters_.budget_limited_ticks;
  AdjustHeadroom(r.report.no_mem > 0);
  // In 4 KiB pages, whether pages moved as THPs or base pages.
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
      "plan: promote {} KiB demote {} KiB ({} moves); applied {} moves, {} KiB to FMEM, "
      "{} KiB to SMEM; enomem {} busy {} skipped {} not tried {} stop {}; free FMEM {} KiB, "
      "headroom {} KiB, allowance {} ms, move cost {:.0f} us/MiB",
      plan->promote_bytes >> 10, plan->demote_bytes >> 10, r.report.planned_moves,
      r.report.applied_moves, r.report.applied_to_fmem_bytes >> 10,
      r.report.applied_to_smem_bytes >> 10,
      r.report.no_mem, r.report.busy, r.report.skipped, r.not_attempted,
      static_cast<int>(r.stop), free_bytes >> 10, counters_.headroom_bytes >> 10,
      allowance_ns / 1'000'000, counters_.move_cost_ns_per_mib / 1e3);
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
  hcfg.fmem_node = config_.fmem_node;
  hcfg.smem_node = config_.smem_node;
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

void PlacementLoop::AdjustHeadroom(bool no_mem) {
  if (no_mem) {
    extra_headroom_bytes_ =
        std::min(config_.enomem_max_extra_bytes, extra_headroom_bytes_ + config_.enomem_step_bytes);
  } else {
    const uint64_t down = config_.enomem_step_bytes / 4;
    extra_headroom_bytes_ = extra_headroom_bytes_ > down ? extra_headroom_bytes_ - down : 0;
  }
}

void PlacementLoop::SendTelemetry() {
  if (deps_.hballoon == nullptr) return;
  TelemetryInputs in;
  for (int node : {config_.fmem_node, config_.smem_node}) {
    absl::StatusOr<adapters::NodeMeminfo> m = deps_.system->NodeMeminfo(node);
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
    last_tick_ns_ = now - tick_ns;
    last_telemetry_ns_ = now - config_.telemetry_interval_ms * 1'000'000;
    RefreshProcesses(now);
  } else if (now - last_maps_ns_ >= config_.maps_refresh_ms * 1'000'000) {
    RefreshProcesses(now);
  }
  uint64_t n = 0;
  const int64_t cpu_s0 = deps_.clock->OwnCpuNs();
  // In debt (spent more than budget * T + the bucket), sampling pauses too:
  // at the slowest scan rate the scan ioctls alone can cost more than a
  // small budget (under TCG each one waits for a TLB-flush IPI to every
  // vCPU).  The fixed overhead still runs; the debt is paid back by it
  // staying below the budget.
  absl::Status read_status = absl::OkStatus();
  if (budget_.in_debt()) {
    ++counters_.budget_paused_ticks;
  } else {
    read_status = ReadSamples(&n);
  }
  const int64_t sample_ns = deps_.clock->OwnCpuNs() - cpu_s0;
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
  absl::Status moved = absl::OkStatus();
  if (!locator_chosen_) {
    if (absl::Status st = ChooseLocator(); !st.ok()) return st;
  }
  if (counters_.ticks == 0) {
    // The first budget window starts here: start-up work (every process's
    // maps, the first samples) is not what the controller should throttle
    // sampling for, but the first tick's placement work is charged.
    budget_.Update(0, 0);
    window_samples_ = 0;
    window_sampling_cpu_ns_ = 0;
    window_cpu0_ns_ = deps_.clock->OwnCpuNs();
    if (deps_.source_control != nullptr) (void)deps_.source_control->TakePagesScanned();
  }
  const int64_t allowance = budget_.placement_allowance_ns();
  if (allowance > 0) {
    moved = PlanAndMove(interval, allowance);
    if (hb_locator_ != nullptr) counters_.locate_pages = hb_locator_->pages_walked();
  } else {
    // Out of CPU credit: sampling goes on, placement waits for the bucket.
    ++counters_.budget_skipped_ticks;
  }
  const int64_t cpu_o0 = deps_.clock->OwnCpuNs();

  ++counters_.ticks;
  if (counters_.ticks % static_cast<uint64_t>(config_.epoch_ticks) == 0) {
    tracker_.EndEpoch();
    ++counters_.epochs;
  }
  counters_.ranges = tracker_.range_count();

  const uint64_t scanned =
      deps_.source_control != nullptr ? deps_.source_control->TakePagesScanned() : 0;
  // Everything but sampling (placement, refresh, telemetry, the status
  // file) is paid from the bucket; the sampling loop governs its own part.
  const int64_t cpu_now = deps_.clock->OwnCpuNs();
  const int64_t other_cpu = (cpu_now - window_cpu0_ns_) - window_sampling_cpu_ns_;
  counters_.budget = budget_.Update(window_samples_, scanned, other_cpu);
  window_cpu0_ns_ = cpu_now;
  window_samples_ = 0;
  window_sampling_cpu_ns_ = 0;
  if (deps_.source_control != nullptr) {
    deps_.source_control->SetRates(budget_.sample_period(), budget_.scan_pages_per_s());
  }
  if (config_.telemetry_interval_ms > 0 &&
      now - last_telemetry_ns_ >= config_.telemetry_interval_ms * 1'000'000) {
    last_telemetry_ns_ = now;
    SendTelemetry();
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
  j["wall_ns"] = started_ ? deps_.clock->MonotonicNs() - start_ns_ : 0;
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
