#include "sim/ours.h"

#include <time.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace tiervm::sim {
namespace {

int64_t ThreadCpuNs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

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
  if (c_.tick_ns <= 0 || c_.epoch_ticks <= 0 || !(c_.headroom_frac >= 0 && c_.headroom_frac < 1) ||
      !(c_.rate_limit_mib_per_s > 0) || !(c_.jitter_frac >= 0 && c_.jitter_frac < 1)) {
    return absl::InvalidArgumentError("ours: bad tick, epoch, headroom, rate or jitter");
  }
  if (absl::Status st = c_.tracker.Validate(); !st.ok()) return st;
  if (absl::Status st = c_.budget.Validate(); !st.ok()) return st;
  if (!c_.budget_on && c_.fixed_sample_period == 0) {
    return absl::InvalidArgumentError("ours: sample period must be > 0");
  }
  locator_ = std::make_unique<SimLocator>(&sim);
  budget_ = std::make_unique<placement::BudgetController>(c_.budget, &clock_);
  budget_->Update(0, 0);  // starts the first window
  period_ = c_.budget_on ? budget_->sample_period() : c_.fixed_sample_period;
  // VMAs per pid: the trace's spans.
  const SimTrace& t = sim.trace();
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
  const int64_t t0 = ThreadCpuNs();
  tracker_.Ingest(absl::MakeConstSpan(buffer_));
  const int64_t dt = ThreadCpuNs() - t0;
  ingest_cpu_ns_ += dt;
  library_cpu_ns_ += dt;
  cpu_since_update_ns_ += dt;
  buffer_.clear();
}

double OursPolicy::OnAccess(Simulation& sim, uint64_t index, uint32_t page) {
  (void)page;
  const Sample& rec = sim.trace().records[index];
  countdown_ -= rec.weight;
  while (countdown_ <= 0) {
    countdown_ += NextGap();
    Sample s = rec;
    s.weight = 1;
    s.time_ns = sim.now_ns();
    buffer_.push_back(s);
    ++samples_;
    ++samples_since_update_;
    ++sim.mutable_metrics().samples;
    sim.ChargeSampling(sim.config().latency.pebs_sample_ns);
    if (buffer_.size() >= 4096) Flush();
  }
  return 0;
}

absl::Status OursPolicy::Wake(Simulation& sim) {
  Flush();
  const SimTrace& t = sim.trace();
  const uint64_t cap_bytes = sim.config().fmem_capacity_pages * t.page_bytes;
  const uint64_t headroom =
      static_cast<uint64_t>(c_.headroom_frac * static_cast<double>(cap_bytes)) / t.page_bytes * t.page_bytes;
  int64_t t0 = ThreadCpuNs();
  const placement::TrackerSnapshot snap = tracker_.Snapshot();
  placement::ClassifierConfig cc;
  cc.fmem_capacity_bytes = cap_bytes;
  cc.headroom_bytes = headroom;
  absl::StatusOr<placement::Classification> cls = placement::Classify(snap, *locator_, cc);
  if (!cls.ok()) return cls.status();
  placement::PlannerConfig pc;
  pc.rate_limit_mib_per_s = c_.rate_limit_mib_per_s;
  pc.interval_ns = c_.tick_ns;
  placement::FmemState fs;
  fs.free_bytes = sim.fmem_free_pages() * t.page_bytes;
  fs.headroom_bytes = headroom;
  absl::StatusOr<placement::ExchangePlan> plan = placement::PlanExchange(snap, *cls, *locator_, fs, pc);
  if (!plan.ok()) return plan.status();
  int64_t dt = ThreadCpuNs() - t0;
  // Execute: demotions, then the promotions that still fit.
  for (const placement::ExchangeRound& round : plan->rounds) {
    for (const placement::PageMove& mv : round.demotions) {
      ++planned_moves_;
      const int64_t p = t.PageOf(mv.pid, mv.addr);
      if (p < 0 || !sim.Move(static_cast<uint32_t>(p), Tier::kSmem)) ++skipped_moves_;
    }
    for (const placement::PageMove& mv : round.promotions) {
      ++planned_moves_;
      const int64_t p = t.PageOf(mv.pid, mv.addr);
      if (p < 0 || sim.fmem_free_pages() == 0 || !sim.Move(static_cast<uint32_t>(p), Tier::kFmem)) {
        ++skipped_moves_;
      }
    }
  }
  ++ticks_;
  if (ticks_ % static_cast<uint64_t>(c_.epoch_ticks) == 0) {
    const int64_t e0 = ThreadCpuNs();
    tracker_.EndEpoch();
    dt += ThreadCpuNs() - e0;
  }
  library_cpu_ns_ += dt;
  cpu_since_update_ns_ += dt;
  // Budget: wall time is modelled time, CPU is what the library took here.
  const int64_t now = sim.now_ns();
  clock_.Advance(now - last_tick_ns_, cpu_since_update_ns_);
  last_tick_ns_ = now;
  cpu_since_update_ns_ = 0;
  sim.ChargeBackground(static_cast<double>(dt));
  if (c_.budget_on) {
    const placement::BudgetReport rep = budget_->Update(samples_since_update_, 0);
    period_ = rep.sample_period;
    if (rep.over_budget) ++over_budget_ticks_;
    max_smoothed_pct_ = std::max(max_smoothed_pct_, rep.smoothed_pct);
  }
  min_period_seen_ = std::min(min_period_seen_, period_);
  max_period_seen_ = std::max(max_period_seen_, period_);
  samples_since_update_ = 0;
  next_tick_ns_ += c_.tick_ns;
  if (next_tick_ns_ <= now) next_tick_ns_ = now + c_.tick_ns;
  return absl::OkStatus();
}

double OursPolicy::ingest_ns_per_sample() const {
  return samples_ ? static_cast<double>(ingest_cpu_ns_) / static_cast<double>(samples_) : 0;
}
double OursPolicy::library_ns_per_sample() const {
  return samples_ ? static_cast<double>(library_cpu_ns_) / static_cast<double>(samples_) : 0;
}

std::vector<std::pair<std::string, double>> OursPolicy::Extra() const {
  return {{"cpu_ns_per_sample_ingest", ingest_ns_per_sample()},
          {"cpu_ns_per_sample_all", library_ns_per_sample()},
          {"ticks", static_cast<double>(ticks_)},
          {"ranges_final", static_cast<double>(tracker_.range_count())},
          {"planned_moves", static_cast<double>(planned_moves_)},
          {"skipped_moves", static_cast<double>(skipped_moves_)},
          {"sample_period_final", static_cast<double>(period_)},
          {"sample_period_min", static_cast<double>(min_period_seen_ == UINT64_MAX ? period_ : min_period_seen_)},
          {"sample_period_max", static_cast<double>(max_period_seen_ ? max_period_seen_ : period_)},
          {"budget_over_ticks", static_cast<double>(over_budget_ticks_)},
          {"budget_smoothed_pct_max", max_smoothed_pct_}};
}

}  // namespace tiervm::sim
