#include "sim/ours.h"

#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace tiervm::sim {
namespace {

int64_t ThreadCpuNs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Allowance when the budget is off: more CPU than any tick can spend.
constexpr int64_t kUnboundedNs = std::numeric_limits<int64_t>::max() / 4;

}  // namespace

int64_t SimClock::OwnCpuNs() const {
  return cpu_ns_ + (section_start_ns_ >= 0 ? ThreadCpuNs() - section_start_ns_ : 0);
}

void SimClock::BeginMeasured() { section_start_ns_ = ThreadCpuNs(); }

int64_t SimClock::EndMeasured() {
  const int64_t dt = section_start_ns_ >= 0 ? ThreadCpuNs() - section_start_ns_ : 0;
  cpu_ns_ += dt;
  section_start_ns_ = -1;
  return dt;
}

long SimMoveSyscall::MovePages(Pid pid, absl::Span<const Vaddr> pages,
                               absl::Span<const int> nodes, absl::Span<int> status) {
  if (status.size() != pages.size() || (!nodes.empty() && nodes.size() != pages.size())) {
    return -EINVAL;
  }
  for (int n : nodes) {
    if (n != fmem_node_ && n != smem_node_) return -ENODEV;
  }
  const SimTrace& t = sim_->trace();
  bool known = false;
  for (const SimSpan& sp : t.spans) known |= sp.pid == pid;
  if (!known) return -ESRCH;
  const int64_t migrate_ns = std::llround(sim_->config().latency.MigrateNs(t.page_bytes));
  long not_moved = 0;
  for (size_t i = 0; i < pages.size(); ++i) {
    const int64_t p = t.PageOf(pid, pages[i]);
    const PageState s = p < 0 ? PageState::kAbsent : sim_->state(static_cast<uint32_t>(p));
    if (p < 0 || s == PageState::kAbsent) {
      status[i] = p < 0 ? -EFAULT : -ENOENT;
      not_moved += nodes.empty() ? 0 : 1;
      continue;
    }
    const int at = s == PageState::kFmem ? fmem_node_ : smem_node_;
    if (nodes.empty() || nodes[i] == at) {
      status[i] = at;
      continue;
    }
    // Present and elsewhere: Move fails only when FMEM is full.
    if (!sim_->Move(static_cast<uint32_t>(p), nodes[i] == fmem_node_ ? Tier::kFmem : Tier::kSmem)) {
      status[i] = -ENOMEM;
      ++not_moved;
      continue;
    }
    clock_->AddModelledCpu(migrate_ns);
    status[i] = nodes[i];
  }
  return not_moved;
}

absl::Status SimLocator::ForEachPage(Pid pid, Vaddr start, Vaddr end,
                                     absl::FunctionRef<bool(const placement::PageInfo&)> fn) const {
  const SimTrace& t = sim_->trace();
  for (const SimSpan& sp : t.spans) {
    if (sp.pid != pid || sp.end <= start || sp.start >= end) continue;
    // The page holding `start` may begin before it.
    const Vaddr first =
        start <= sp.start ? sp.start : sp.start + (start - sp.start) / t.page_bytes * t.page_bytes;
    for (Vaddr v = first; v < std::min(end, sp.end); v += t.page_bytes) {
      const uint32_t page = sp.first_page + static_cast<uint32_t>((v - sp.start) / t.page_bytes);
      const PageState s = sim_->state(page);
      if (s == PageState::kAbsent) continue;
      placement::PageInfo info{v, t.page_bytes, s == PageState::kFmem ? Tier::kFmem : Tier::kSmem};
      if (!fn(info)) return absl::OkStatus();
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<placement::Residency> SimLocator::Locate(Pid pid, Vaddr start, Vaddr end) const {
  const SimTrace& t = sim_->trace();
  bool known = false;
  for (const SimSpan& sp : t.spans) known |= sp.pid == pid;
  if (!known) return absl::NotFoundError(absl::StrCat("pid ", pid, " has no pages"));
  return placement::SumResidency(*this, pid, start, end);
}

OursPolicy::OursPolicy(const OursConfig& config)
    : c_(config), tracker_(config.tracker), rng_(config.seed) {}

int64_t OursPolicy::NextGap() {
  const double j = c_.jitter_frac * static_cast<double>(period_);
  std::uniform_real_distribution<double> d(-j, j);
  return std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(period_) + d(rng_)));
}

absl::Status OursPolicy::Init(Simulation& sim) {
  if (c_.tick_ns <= 0 || c_.epoch_ticks <= 0 ||
      !(c_.headroom_max_frac >= 0 && c_.headroom_max_frac < 1) || c_.max_batch_pages == 0 ||
      !(c_.jitter_frac >= 0 && c_.jitter_frac < 1)) {
    return absl::InvalidArgumentError("ours: bad tick, epoch, headroom, batch or jitter");
  }
  if (absl::Status st = c_.tracker.Validate(); !st.ok()) return st;
  if (absl::Status st = c_.budget.Validate(); !st.ok()) return st;
  if (absl::Status st = c_.planner.Validate(); !st.ok()) return st;
  if (!c_.budget_on && c_.fixed_sample_period == 0) {
    return absl::InvalidArgumentError("ours: sample period must be > 0");
  }
  const SimTrace& t = sim.trace();
  // The headroom, scaled to the simulated FMEM (OursConfig), whole pages.
  const uint64_t cap_bytes = sim.config().fmem_capacity_pages * t.page_bytes;
  const auto scaled = static_cast<uint64_t>(c_.headroom_max_frac * static_cast<double>(cap_bytes));
  headroom_bytes_ = std::min(c_.planner.headroom_bytes, scaled) / t.page_bytes * t.page_bytes;
  placement::TickPlannerConfig pc = c_.planner;
  pc.headroom_bytes = headroom_bytes_;
  planner_ = std::make_unique<placement::TickPlanner>(pc);
  locator_ = std::make_unique<SimLocator>(&sim);
  // As in hplaced, the first Update comes at the end of the first tick.
  budget_ = std::make_unique<placement::BudgetController>(c_.budget, &clock_);
  period_ = c_.budget_on ? budget_->sample_period() : c_.fixed_sample_period;
  // VMAs per pid: the trace's spans.
  for (size_t i = 0; i < t.spans.size();) {
    std::vector<placement::Vma> vmas;
    size_t j = i;
    for (; j < t.spans.size() && t.spans[j].pid == t.spans[i].pid; ++j) {
      vmas.push_back({t.spans[j].start, t.spans[j].end});
    }
    if (absl::Status st = tracker_.SetVmas(t.spans[i].pid, vmas); !st.ok()) return st;
    i = j;
  }
  countdown_ = NextGap();
  next_tick_ns_ = c_.tick_ns;
  buffer_.reserve(4096);
  return absl::OkStatus();
}

void OursPolicy::Flush() {
  if (buffer_.empty()) return;
  clock_.BeginMeasured();
  tracker_.Ingest(absl::MakeConstSpan(buffer_));
  const int64_t dt = clock_.EndMeasured();
  ingest_cpu_ns_ += dt;
  library_cpu_ns_ += dt;
  window_sampling_cpu_ns_ += dt;
  window_samples_ += buffer_.size();
  buffer_.clear();
}

double OursPolicy::OnAccess(Simulation& sim, uint64_t index, uint32_t page) {
  (void)page;
  const Sample& rec = sim.trace().records[index];
  countdown_ -= rec.weight;
  while (countdown_ <= 0) {
    countdown_ += NextGap();
    ++samples_;
    ++sim.mutable_metrics().samples;
    sim.ChargeSampling(sim.config().latency.pebs_sample_ns);
    // While hplaced pauses sampling the records wait in the PEBS buffer,
    // which holds at most one tick's read (max_samples_per_tick).
    if (paused_ && buffer_.size() >= (1u << 20)) {
      ++samples_dropped_;
      continue;
    }
    Sample s = rec;
    s.weight = 1;
    s.time_ns = sim.now_ns();
    buffer_.push_back(s);
    if (!paused_ && buffer_.size() >= 4096) Flush();
  }
  return 0;
}

absl::Status OursPolicy::PlanAndMove(Simulation& sim, int64_t interval_ns, int64_t allowance_ns,
                                     bool* planned_work) {
  *planned_work = false;
  const int64_t cpu_plan0 = clock_.OwnCpuNs();
  placement::TickInputs in;
  in.tick = ticks_;
  in.interval_ns = std::max<int64_t>(interval_ns, 1);
  in.fmem_free_bytes = sim.fmem_free_pages() * sim.trace().page_bytes;
  in.balloon_pending_bytes = 0;  // no balloon in the simulator
  in.allowance_ns = allowance_ns - (clock_.OwnCpuNs() - cpu_plan0);
  clock_.BeginMeasured();
  absl::StatusOr<placement::TickPlan> tp =
      planner_->Plan(tracker_.Snapshot(), *locator_, in, clock_);
  const int64_t dt = clock_.EndMeasured();
  library_cpu_ns_ += dt;
  sim.ChargeBackground(static_cast<double>(dt));
  if (!tp.ok()) return tp.status();
  // Every pid of the tracker has spans, so SimLocator knows it.
  if (!tp->gone_pids.empty() || !tp->locate_errors.empty()) {
    return absl::InternalError(absl::StrCat(
        "ours: the simulated page table lost a process: ",
        tp->locate_errors.empty() ? "pid gone" : tp->locate_errors[0].status.ToString()));
  }
  plan_cpu_ns_ += tp->plan_cpu_ns;
  rate_sum_mib_per_s_ += tp->rate_mib_per_s;
  rate_max_mib_per_s_ = std::max(rate_max_mib_per_s_, tp->rate_mib_per_s);
  page_resolved_max_ = std::max(page_resolved_max_, tp->classes.page_resolved_ranges);
  if (tp->floor_applied) ++floor_ticks_;
  if (tp->budget_limited) ++budget_limited_ticks_;
  const placement::ExchangePlan& plan = tp->exchange;
  if (plan.rounds.empty()) {
    planner_->Learn({});
    return absl::OkStatus();
  }
  *planned_work = true;

  // hplaced's executor over the simulated page table; the moves' CPU is
  // modelled (SimMoveSyscall), so cpu_limit_ns stops it between batches of
  // at most max_batch_pages / max_batch_bytes as it would stop hplaced.
  const int64_t cpu_moves0 = clock_.OwnCpuNs();
  adapters::MoverConfig mcfg;
  mcfg.max_batch_pages = c_.max_batch_pages;
  mcfg.max_batch_bytes = tp->max_batch_bytes;
  const int64_t cpu_limit = tp->cpu_limit_ns;
  mcfg.out_of_budget = [&] { return clock_.OwnCpuNs() - cpu_moves0 >= cpu_limit; };
  SimMoveSyscall syscall(&sim, &clock_, c_.planner.fmem_node, c_.planner.smem_node);
  adapters::MovePagesExecutor executor(syscall, mcfg);
  adapters::MoverResult r = executor.Execute(plan);
  const int64_t move_ns = clock_.OwnCpuNs() - cpu_moves0;
  move_cpu_ns_ += move_ns;
  // Migration beyond what the allowance held ran at the floor rate: it is
  // governed by that rate, not charged to the budget (as hplaced).
  const int64_t allowance_left = std::max<int64_t>(0, allowance_ns - (cpu_moves0 - cpu_plan0));
  if (tp->floor_applied && move_ns > allowance_left) {
    window_exempt_cpu_ns_ += move_ns - allowance_left;
    floor_move_cpu_ns_ += move_ns - allowance_left;
  }
  planner_->Learn(
      {r.report.applied_bytes, move_ns, r.report.no_mem > 0, std::move(r.unapplied_promotions)});
  if (r.stop == adapters::MoverStop::kBudget) ++budget_stop_ticks_;
  planned_moves_ += r.report.planned_moves;
  applied_moves_ += r.report.applied_moves;
  skipped_moves_ += r.report.skipped + r.report.busy + r.report.gone + r.other_failed;
  not_attempted_moves_ += r.not_attempted;
  no_mem_moves_ += r.report.no_mem;
  if (r.stop == adapters::MoverStop::kFatal) return r.fatal;
  return absl::OkStatus();
}

absl::Status OursPolicy::Wake(Simulation& sim) {
  const int64_t now = sim.now_ns();
  clock_.SetNow(now);
  // In debt, hplaced pauses sampling until the debt is paid or forgiven.
  paused_ = c_.budget_on && budget_->in_debt();
  if (paused_) {
    ++budget_paused_ticks_;
  } else {
    Flush();
  }
  // The rate limit is per second of elapsed time (hplaced's clamp).
  const int64_t interval = std::clamp<int64_t>(now - last_tick_ns_, c_.tick_ns / 4, 4 * c_.tick_ns);
  last_tick_ns_ = now;
  // Placement runs every tick: the allowance sizes its moves, the
  // planner's floor rate keeps them going when the allowance is spent.
  const int64_t allowance = c_.budget_on ? budget_->placement_allowance_ns() : kUnboundedNs;
  if (allowance == 0) ++budget_skipped_ticks_;
  bool planned_work = false;
  if (absl::Status st = PlanAndMove(sim, interval, allowance, &planned_work); !st.ok()) return st;

  ++ticks_;
  if (ticks_ % static_cast<uint64_t>(c_.epoch_ticks) == 0) {
    clock_.BeginMeasured();
    tracker_.EndEpoch();
    const int64_t dt = clock_.EndMeasured();
    library_cpu_ns_ += dt;
    sim.ChargeBackground(static_cast<double>(dt));
  }
  const int64_t cpu_now = clock_.OwnCpuNs();
  if (c_.budget_on) {
    if (ticks_ == 1) {
      // hplaced's first tick is start-up, before the budget's first window.
      budget_->Update(0, 0);
    } else {
      // Everything but sampling is paid from the bucket, less migration at
      // the floor rate; the sampling loop governs its own part.
      const int64_t other_cpu = (cpu_now - window_cpu0_ns_) - window_sampling_cpu_ns_;
      const placement::BudgetReport rep =
          budget_->Update(window_samples_, 0, other_cpu, window_exempt_cpu_ns_);
      if (paused_ && !planned_work) debt_forgiven_ns_ += budget_->ForgiveDebt();
      if (rep.over_budget) ++over_budget_ticks_;
      max_smoothed_pct_ = std::max(max_smoothed_pct_, rep.smoothed_pct);
      max_long_pct_ = std::max(max_long_pct_, rep.long_pct);
    }
    period_ = budget_->sample_period();
  }
  window_cpu0_ns_ = cpu_now;
  window_samples_ = 0;
  window_sampling_cpu_ns_ = 0;
  window_exempt_cpu_ns_ = 0;
  min_period_seen_ = std::min(min_period_seen_, period_);
  max_period_seen_ = std::max(max_period_seen_, period_);
  next_tick_ns_ += c_.tick_ns;
  if (next_tick_ns_ <= sim.now_ns()) next_tick_ns_ = sim.now_ns() + c_.tick_ns;
  return absl::OkStatus();
}

double OursPolicy::ingest_ns_per_sample() const {
  return samples_ ? static_cast<double>(ingest_cpu_ns_) / static_cast<double>(samples_) : 0;
}
double OursPolicy::library_ns_per_sample() const {
  return samples_ ? static_cast<double>(library_cpu_ns_) / static_cast<double>(samples_) : 0;
}

std::vector<std::pair<std::string, double>> OursPolicy::Extra() const {
  const auto d = [](auto v) { return static_cast<double>(v); };
  return {{"cpu_ns_per_sample_ingest", ingest_ns_per_sample()},
          {"cpu_ns_per_sample_all", library_ns_per_sample()},
          {"cpu_plan_ms", d(plan_cpu_ns_) / 1e6},
          {"cpu_move_ms", d(move_cpu_ns_) / 1e6},
          {"cpu_floor_move_ms", d(floor_move_cpu_ns_) / 1e6},
          {"ticks", d(ticks_)},
          {"ranges_final", d(tracker_.range_count())},
          {"page_counts_final", d(tracker_.stats().page_counts)},
          {"page_samples_unstored", d(tracker_.stats().page_samples_unstored)},
          {"page_resolved_ranges_max", d(page_resolved_max_)},
          {"headroom_bytes", d(headroom_bytes_)},
          {"planned_moves", d(planned_moves_)},
          {"applied_moves", d(applied_moves_)},
          {"skipped_moves", d(skipped_moves_)},
          {"not_attempted_moves", d(not_attempted_moves_)},
          {"no_mem_moves", d(no_mem_moves_)},
          {"rate_mib_per_s_mean", ticks_ ? rate_sum_mib_per_s_ / d(ticks_) : 0},
          {"rate_mib_per_s_max", rate_max_mib_per_s_},
          {"floor_ticks", d(floor_ticks_)},
          {"budget_limited_ticks", d(budget_limited_ticks_)},
          {"budget_stop_ticks", d(budget_stop_ticks_)},
          {"budget_skipped_ticks", d(budget_skipped_ticks_)},
          {"budget_paused_ticks", d(budget_paused_ticks_)},
          {"debt_forgiven_ms", d(debt_forgiven_ns_) / 1e6},
          {"samples_dropped", d(samples_dropped_)},
          {"move_cost_us_per_mib_final", planner_ ? planner_->move_cost_ns_per_mib() / 1e3 : 0},
          {"sample_period_final", d(period_)},
          {"sample_period_min", d(min_period_seen_ == UINT64_MAX ? period_ : min_period_seen_)},
          {"sample_period_max", d(max_period_seen_ ? max_period_seen_ : period_)},
          {"budget_over_ticks", d(over_budget_ticks_)},
          {"budget_smoothed_pct_max", max_smoothed_pct_},
          {"budget_long_pct_max", max_long_pct_}};
}

}  // namespace tiervm::sim
