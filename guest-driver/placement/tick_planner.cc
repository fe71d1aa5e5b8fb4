#include "placement/tick_planner.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <map>
#include <optional>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "placement/check.h"

namespace tiervm::placement {
namespace {

constexpr double kMiB = 1 << 20;

// The planner's view of page locations for one tick, bounding what it
// costs: lookups are the daemon's largest CPU cost (tens of us per page
// under TCG when move_pages(2) answers).
//  * Locate() results are kept across ticks (`cache`) and re-queried only
//    when older than `refresh_ticks` or when pages of the range were planned
//    to move (Plan erases those entries).  A split or merge makes new
//    boundaries: a new key is a miss.
//  * ForEachPage() over a range longer than `window_pages` walks only a
//    window of that many pages, so planning on a 400 MiB cold range does
//    not list all its pages every tick.  The exchange planner plans only
//    pages it is shown, so a window can only make it move less; the window
//    is therefore at least what the tick's rate can move
//    (SetMinWindowPages), or one hot range could come up no faster than a
//    window per tick whatever the rate.  Which window: the range's cursor
//    (`cursors`); a walk passes over windows without a page of the tier
//    the planner wants from the range, and Plan advances the cursor once
//    its window has nothing left to move -- a hot range whose SMEM pages
//    sit in one window of eight is promoted from the first tick on, tick
//    after tick, not one tick in eight.  Walks() tells Plan what each
//    windowed walk saw.
class CachingLocator final : public PageLocator {
 public:
  // One tick's walk of a windowed range: what it listed of the wanted
  // tier, and (filled in by Plan) what the plan moves of the range.
  struct WindowWalk {
    bool walked = false;  // this tick, windowed
    uint64_t wanted_bytes = 0;
    uint64_t planned_bytes = 0;
  };
  using WindowWalks = std::array<WindowWalk, kCursorsPerRange>;

  // `idle`: ranges located again only after idle_refresh_ticks (borrowed,
  // must outlive the locator).
  CachingLocator(const PageLocator& inner, ResidencyCache& cache, WindowCursors& cursors,
                 PageLookupCache& page_lookups, uint64_t tick, uint64_t refresh_ticks,
                 const absl::flat_hash_set<RangeKey>& idle, uint64_t idle_refresh_ticks,
                 uint64_t window_pages, uint64_t tick_pages)
      : inner_(inner), cache_(cache), cursors_(cursors), page_lookups_(page_lookups), tick_(tick),
        refresh_(refresh_ticks), idle_(idle), idle_refresh_(idle_refresh_ticks),
        window_pages_(window_pages), pages_left_(tick_pages == 0 ? ~uint64_t{0} : tick_pages) {}

  absl::StatusOr<Residency> Locate(Pid pid, Vaddr start, Vaddr end) const override {
    auto key = std::make_tuple(pid, start, end);
    auto it = cache_.find(key);
    const uint64_t refresh = idle_.contains(key) ? idle_refresh_ : refresh_;
    if (it != cache_.end() && tick_ - it->second.tick < refresh) return it->second.res;
    absl::StatusOr<Residency> r = inner_.Locate(pid, start, end);
    cache_[key] = ResidencyEntry{r, tick_};
    return r;
  }

  absl::Status ForEachPage(Pid pid, Vaddr start, Vaddr end,
                           absl::FunctionRef<bool(const PageInfo&)> fn) const override {
    return Walk(pid, start, end, kAnyTier, fn);
  }
  absl::Status ForEachPageOn(Pid pid, Vaddr start, Vaddr end, Tier tier,
                             absl::FunctionRef<bool(const PageInfo&)> fn) const override {
    return Walk(pid, start, end, static_cast<size_t>(tier), fn);
  }

  void SetMinWindowPages(uint64_t pages) { min_window_pages_ = pages; }
  // Per range, per wanted tier (index: Tier, or kAnyTier).
  std::map<RangeKey, WindowWalks>& Walks() { return walks_; }

 private:
  // One page, as the planner looks up the hot pages of a page-resolved
  // range: answered from page_lookups_ while younger than refresh_ ticks
  // (Plan forgets the pages it moves), so a hot set that is already on
  // FMEM is not looked up page by page every tick.
  absl::Status LookUpPage(Pid pid, Vaddr addr, absl::FunctionRef<bool(const PageInfo&)> fn) const {
    const auto key = std::make_pair(pid, addr);
    auto it = page_lookups_.find(key);
    if (it == page_lookups_.end() || tick_ - it->second.tick >= refresh_) {
      --pages_left_;
      PageLookup found;
      found.tick = tick_;
      absl::Status st = inner_.ForEachPage(pid, addr, addr + kBasePageBytes, [&](const PageInfo& p) {
        found.found = true;
        found.page = p;
        return false;
      });
      if (!st.ok()) return st;
      it = page_lookups_.insert_or_assign(key, found).first;
    }
    if (it->second.found) fn(it->second.page);
    return absl::OkStatus();
  }

  absl::Status Walk(Pid pid, Vaddr start, Vaddr end, size_t want,
                    absl::FunctionRef<bool(const PageInfo&)> fn) const {
    // Past the tick's page budget the planner is shown nothing more (it
    // then plans fewer moves this tick, never unsafe ones).
    if (pages_left_ == 0) return absl::OkStatus();
    const uint64_t npages = (end - start) / kBasePageBytes;
    if (npages == 1) return LookUpPage(pid, start, fn);
    const uint64_t window = std::min(
        window_pages_ == 0 ? npages : std::max(window_pages_, min_window_pages_), pages_left_);
    if (npages <= window) {
      pages_left_ -= npages;
      return inner_.ForEachPage(pid, start, end, fn);
    }
    // Windows of `window` pages from the range start (the last one may be
    // shorter).  A range seen for the first time starts at the window the
    // tick points to.  When the planner wants one tier of this range,
    // windows holding none of it are passed over in the same tick, up to
    // the tick's page budget: a cold range whose FMEM pages fill one
    // window of fourteen would otherwise offer its pages for demotion one
    // tick in fourteen.  Each wanted tier has its own cursor: a
    // page-resolved range is walked for its hot SMEM pages and for its
    // cold FMEM pages, which first touch may have put in other windows.
    const RangeKey key{pid, start, end};
    const uint64_t windows = (npages + window - 1) / window;
    auto [cit, fresh] = cursors_.try_emplace(key);
    if (fresh) cit->second.fill(tick_);
    uint64_t& cursor = cit->second[want];
    WindowWalk& walk = walks_[key][want];
    walk = WindowWalk();
    walk.walked = true;
    bool more = true;
    for (uint64_t k = 0; k < windows && more && pages_left_ > 0; ++k) {
      if (k > 0) ++cursor;
      const uint64_t w = cursor % windows;
      const Vaddr lo = start + w * window * kBasePageBytes;
      const Vaddr hi = std::min<Vaddr>(end, lo + std::min(window, pages_left_) * kBasePageBytes);
      pages_left_ -= (hi - lo) / kBasePageBytes;
      absl::Status st = inner_.ForEachPage(pid, lo, hi, [&](const PageInfo& p) {
        if (want != kAnyTier && static_cast<size_t>(p.tier) == want) walk.wanted_bytes += p.bytes;
        more = fn(p);
        return more;
      });
      if (!st.ok()) return st;
      if (want == kAnyTier || walk.wanted_bytes > 0) break;
    }
    return absl::OkStatus();
  }

  const PageLocator& inner_;
  ResidencyCache& cache_;
  WindowCursors& cursors_;
  PageLookupCache& page_lookups_;
  mutable std::map<RangeKey, WindowWalks> walks_;
  uint64_t tick_, refresh_;
  const absl::flat_hash_set<RangeKey>& idle_;
  uint64_t idle_refresh_, window_pages_;
  uint64_t min_window_pages_ = 0;
  mutable uint64_t pages_left_;
};

}  // namespace

absl::Status TickPlannerConfig::Validate() const {
  if (fmem_node < 0 || smem_node < 0 || fmem_node == smem_node) {
    return absl::InvalidArgumentError("fmem and smem nodes must be distinct and >= 0");
  }
  if (!(rate_limit_mib_per_s > 0) || !(min_rate_mib_per_s >= 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "need rate_limit_mib_per_s > 0 and min_rate_mib_per_s >= 0, got ",
        rate_limit_mib_per_s, " and ", min_rate_mib_per_s));
  }
  if (round_bytes == 0 || !(thp_max_unevenness >= 1)) {
    return absl::InvalidArgumentError("need round_bytes > 0 and thp_max_unevenness >= 1");
  }
  if (!ValidExchangeGain(min_exchange_gain) || !ValidExchangeGain(page_exchange_gain)) {
    return absl::InvalidArgumentError(
        absl::StrCat("min_exchange_gain and page_exchange_gain must be 0 (off) or finite >= 1, got ",
                     min_exchange_gain, " and ", page_exchange_gain));
  }
  if (!(initial_move_cost_us_per_mib > 0) || !(min_hot_weight_per_mib >= 0)) {
    return absl::InvalidArgumentError(
        "need initial_move_cost_us_per_mib > 0 and min_hot_weight_per_mib >= 0");
  }
  if (locate_refresh_ticks < 1 ||
      (locate_idle_refresh_ticks != 0 && locate_idle_refresh_ticks < locate_refresh_ticks) ||
      restore_after_ticks < 0 || promote_hold_epochs < 0) {
    return absl::InvalidArgumentError(
        "need locate_refresh_ticks >= 1, locate_idle_refresh_ticks 0 or >= locate_refresh_ticks, "
        "restore_after_ticks >= 0 and promote_hold_epochs >= 0");
  }
  return absl::OkStatus();
}

TickPlanner::TickPlanner(const TickPlannerConfig& config)
    : config_(config), move_cost_ns_per_mib_(config.initial_move_cost_us_per_mib * 1e3) {
  PLACEMENT_CHECK(config_.Validate().ok());
}

namespace {

// The entry of `m` (keyed by RangeKey) whose range holds (pid, addr).
template <typename Map>
auto FindRange(Map& m, Pid pid, Vaddr addr) -> decltype(m.begin()) {
  auto it = m.upper_bound(std::make_tuple(pid, addr, ~Vaddr{0}));
  if (it == m.begin()) return m.end();
  --it;
  const auto& [p, start, end] = it->first;
  return p == pid && start <= addr && addr < end ? it : m.end();
}

template <typename Map>
void EraseIf(Map& m, absl::FunctionRef<bool(const RangeKey&)> pred) {
  for (auto it = m.begin(); it != m.end();) it = pred(it->first) ? m.erase(it) : std::next(it);
}

}  // namespace

void TickPlanner::Forget(Pid pid) {
  auto of_pid = [pid](const RangeKey& k) { return std::get<0>(k) == pid; };
  EraseIf(cache_, of_pid);
  EraseIf(cursors_, of_pid);
  page_lookups_.erase(page_lookups_.lower_bound({pid, 0}),
                      page_lookups_.upper_bound({pid, ~Vaddr{0}}));
  hold_.Forget(pid);
}

absl::StatusOr<TickPlan> TickPlanner::Plan(const TrackerSnapshot& snapshot,
                                           const PageLocator& locator, const TickInputs& in,
                                           const Clock& clock) {
  if (in.interval_ns <= 0) return absl::InvalidArgumentError("interval_ns must be > 0");
  const int64_t cpu0 = clock.OwnCpuNs();
  TickPlan out;
  // The snapshot as given, or without the processes whose lookup failed.
  std::optional<TrackerSnapshot> filtered;
  const TrackerSnapshot* snap = &snapshot;

  // Forget ranges that no longer exist (split, merged, unmapped, exited).
  {
    absl::flat_hash_set<RangeKey> live;
    for (const RangeStats& r : snapshot.ranges()) live.insert({r.pid, r.start, r.end});
    auto dead = [&live](const RangeKey& k) { return !live.contains(k); };
    EraseIf(cache_, dead);
    EraseIf(cursors_, dead);
  }
  // One-page lookups older than the refresh are of no use any more.
  for (auto it = page_lookups_.begin(); it != page_lookups_.end();) {
    const bool old = in.tick - it->second.tick >= static_cast<uint64_t>(config_.locate_refresh_ticks);
    it = old ? page_lookups_.erase(it) : std::next(it);
  }
  // Idle ranges: sampled weight per resident MiB (as last located) below
  // the faint threshold, or none at all.  Their residency changes only by
  // moves this planner makes (which forget the entry) or by the kernel
  // (reclaim, a rare fallback): a page they gain is touched, hence sampled,
  // and the range stops being idle.  Under TCG locating was hplaced's
  // largest budgeted cost, mostly spent re-reading cold data.
  absl::flat_hash_set<RangeKey> idle;
  for (const RangeStats& r : snapshot.ranges()) {
    if (config_.locate_idle_refresh_ticks == 0) break;  // no such rule
    const RangeKey key{r.pid, r.start, r.end};
    auto it = cache_.find(key);
    if (it == cache_.end() || !it->second.res.ok()) continue;
    const double resident_mib = static_cast<double>(it->second.res->resident_bytes()) / (1 << 20);
    if (r.weight <= 0 ||
        (resident_mib > 0 && r.weight / resident_mib < config_.min_hot_weight_per_mib)) {
      idle.insert(key);
    }
  }
  CachingLocator cached(locator, cache_, cursors_, page_lookups_, in.tick,
                        static_cast<uint64_t>(config_.locate_refresh_ticks), idle,
                        static_cast<uint64_t>(config_.locate_idle_refresh_ticks),
                        config_.locate_window_pages, config_.locate_tick_pages);

  // Locate every range; a process whose lookup fails is left out of this
  // tick (the caller decides whether it is gone).
  absl::flat_hash_set<Pid> excluded;
  for (const RangeStats& r : snapshot.ranges()) {
    if (excluded.contains(r.pid)) continue;
    absl::StatusOr<Residency> res = cached.Locate(r.pid, r.start, r.end);
    if (!res.ok()) {
      excluded.insert(r.pid);
      if (absl::IsNotFound(res.status())) {
        out.gone_pids.push_back(r.pid);
      } else {
        out.locate_errors.push_back({r.pid, res.status()});
      }
      continue;
    }
    out.tracked_fmem_bytes += res->fmem_bytes;
    out.tracked_smem_bytes += res->smem_bytes;
  }
  if (!excluded.empty()) {
    std::vector<RangeStats> keep;
    for (const RangeStats& r : snapshot.ranges()) {
      if (!excluded.contains(r.pid)) keep.push_back(r);
    }
    filtered.emplace(snapshot.epoch(), std::move(keep), snapshot.page_heat());
    snap = &*filtered;
    for (Pid pid : excluded) Forget(pid);
  }

  // What placement may fill: what tracked pages hold on FMEM now plus what
  // is free and not promised to the balloon.  Kernel and page-cache use is
  // thereby left out without estimating it.
  const uint64_t free_bytes = in.fmem_free_bytes;
  const uint64_t pending = in.balloon_pending_bytes;
  const uint64_t avail = out.tracked_fmem_bytes + free_bytes;
  out.fmem_capacity_bytes = avail > pending ? avail - pending : 0;
  out.headroom_bytes = config_.headroom_bytes + extra_headroom_bytes_;

  ClassifierConfig ccfg;
  ccfg.fmem_capacity_bytes = out.fmem_capacity_bytes;
  ccfg.headroom_bytes = std::min(out.headroom_bytes, out.fmem_capacity_bytes);
  ccfg.min_hot_weight_per_mib = config_.min_hot_weight_per_mib;
  absl::StatusOr<Classification> classes = Classify(*snap, cached, ccfg);
  if (!classes.ok()) return classes.status();
  out.classes = std::move(*classes);
  // The planner demotes until free FMEM reaches the headroom.  Free memory
  // promised to the balloon does not count; when the promise exceeds what
  // is free, the shortfall is added to the headroom instead (free bytes
  // cannot go negative), so the coldest pages are demoted until the
  // balloon's growth and the headroom both fit.
  FmemState fstate;
  if (free_bytes >= pending) {
    fstate = {free_bytes - pending, ccfg.headroom_bytes};
  } else {
    fstate = {0, ccfg.headroom_bytes + (pending - free_bytes)};
  }
  dip_ticks_ = fstate.InDip() ? dip_ticks_ + 1 : 0;
  fstate.restore_held = pending == 0 && (config_.restore_after_ticks == 0 ||
                                         dip_ticks_ < config_.restore_after_ticks);
  out.restore_held = fstate.restore_held && fstate.InDip();

  // The rate: what is left of the allowance after locating and
  // classifying buys affordable_mib at the learnt cost; the floor holds
  // whenever there is placement work (something hotter on SMEM, or the
  // watermark to restore).
  const double interval_s = static_cast<double>(in.interval_ns) / 1e9;
  const int64_t left_ns = in.allowance_ns - (clock.OwnCpuNs() - cpu0);
  out.affordable_mib = left_ns > 0 ? static_cast<double>(left_ns) / move_cost_ns_per_mib_ : 0;
  double rate = config_.rate_limit_mib_per_s;
  if (out.affordable_mib < rate * interval_s) {
    rate = out.affordable_mib / interval_s;
    out.budget_limited = true;
  }
  bool work = fstate.NeedsRestore();
  for (size_t idx : out.classes.promote) work |= out.classes.ranges[idx].promote_bytes() > 0;
  // The ceiling caps the floor too.
  const double floor = std::min(config_.min_rate_mib_per_s, config_.rate_limit_mib_per_s);
  if (work && rate < floor) {
    rate = floor;
    out.floor_applied = true;
  }
  out.rate_mib_per_s = rate;
  const double planned_mib = rate * interval_s;
  // Executing may take what the allowance holds, or what the floor's bytes
  // cost with a margin for a cost estimate that is too low.
  out.cpu_limit_ns = std::max<int64_t>(
      std::max<int64_t>(left_ns, 0),
      out.floor_applied ? static_cast<int64_t>(planned_mib * move_cost_ns_per_mib_ * 1.5) : 0);
  out.max_batch_bytes = std::clamp<uint64_t>(static_cast<uint64_t>(planned_mib / 8 * kMiB),
                                             kHugePageBytes, 64ull << 20);

  cached.SetMinWindowPages(static_cast<uint64_t>(planned_mib * kMiB) / kBasePageBytes);

  PlannerConfig pcfg;
  pcfg.fmem_node = config_.fmem_node;
  pcfg.smem_node = config_.smem_node;
  pcfg.rate_limit_mib_per_s = rate;
  pcfg.interval_ns = in.interval_ns;
  pcfg.round_bytes = config_.round_bytes;
  pcfg.thp_max_unevenness = config_.thp_max_unevenness;
  pcfg.min_exchange_gain = config_.min_exchange_gain;
  pcfg.page_exchange_gain = config_.page_exchange_gain;
  // Pages promoted within promote_hold_epochs epochs are not demoted.
  const bool hold = config_.promote_hold_epochs > 0;
  hold_.Expire(snapshot.epoch());
  absl::StatusOr<ExchangePlan> plan =
      PlanExchange(*snap, out.classes, cached, fstate, pcfg, hold ? &hold_ : nullptr);
  if (!plan.ok()) return plan.status();
  out.exchange = std::move(*plan);
  if (hold) {
    const uint64_t until = snapshot.epoch() + static_cast<uint64_t>(config_.promote_hold_epochs);
    for (const ExchangeRound& round : out.exchange.rounds) hold_.Add(round.promotions, until);
  }

  // Ranges that had pages planned are located afresh next tick.  A
  // windowed range keeps its window while the window holds more of what
  // the range needs (SMEM pages of a range to promote, FMEM pages of one
  // to demote) than was planned this tick; a window the planner took
  // nothing from (emptied, or its pages skipped as too uneven or not
  // worth the exchange) gives way to the next one.
  auto& walks = cached.Walks();
  for (const ExchangeRound& round : out.exchange.rounds) {
    for (const auto* moves : {&round.demotions, &round.promotions}) {
      for (const PageMove& m : *moves) {
        if (auto it = FindRange(cache_, m.pid, m.addr); it != cache_.end()) cache_.erase(it);
        // ... and so are the pages planned to move.
        page_lookups_.erase(page_lookups_.lower_bound({m.pid, m.addr}),
                            page_lookups_.lower_bound({m.pid, m.addr + m.bytes}));
        if (auto it = FindRange(walks, m.pid, m.addr); it != walks.end()) {
          // A promotion came from the walk for SMEM pages, a demotion
          // from the one for FMEM pages.
          const Tier from = m.dest_tier == Tier::kFmem ? Tier::kSmem : Tier::kFmem;
          it->second[static_cast<size_t>(from)].planned_bytes += m.bytes;
        }
      }
    }
  }
  for (const auto& [key, per_tier] : walks) {
    auto cit = cursors_.find(key);
    if (cit == cursors_.end()) continue;
    for (size_t t = 0; t < kCursorsPerRange; ++t) {
      const CachingLocator::WindowWalk& walk = per_tier[t];
      if (!walk.walked) continue;
      if (walk.planned_bytes == 0 || walk.planned_bytes >= walk.wanted_bytes) ++cit->second[t];
    }
  }
  out.plan_cpu_ns = clock.OwnCpuNs() - cpu0;
  return out;
}

void TickPlanner::Learn(const TickOutcome& outcome) {
  hold_.Release(outcome.unapplied_promotions);
  // Failed moves cost too, so per applied byte is the conservative figure;
  // below 64 KiB the measurement is mostly the syscall's fixed cost.
  if (outcome.applied_bytes >= (64u << 10) && outcome.move_cpu_ns >= 0) {
    const double mib = static_cast<double>(outcome.applied_bytes) / kMiB;
    const double sample = static_cast<double>(outcome.move_cpu_ns) / mib;
    move_cost_ns_per_mib_ = 0.5 * move_cost_ns_per_mib_ + 0.5 * std::max(sample, 1.0);
  }
  if (outcome.no_mem) {
    extra_headroom_bytes_ = std::min(config_.enomem_max_extra_bytes,
                                     extra_headroom_bytes_ + config_.enomem_step_bytes);
  } else {
    const uint64_t down = config_.enomem_step_bytes / 4;
    extra_headroom_bytes_ = extra_headroom_bytes_ > down ? extra_headroom_bytes_ - down : 0;
  }
}

}  // namespace tiervm::placement
