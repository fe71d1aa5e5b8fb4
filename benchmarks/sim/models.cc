#include "sim/models.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/container/flat_hash_map.h"

namespace tiervm::sim {
namespace {

uint64_t PagesFor(double mb_per_s, int64_t window_ns, uint64_t page_bytes) {
  const double bytes = mb_per_s * 1e6 * static_cast<double>(window_ns) / 1e9;
  return static_cast<uint64_t>(bytes / static_cast<double>(page_bytes));
}

uint64_t Frac(double f, uint64_t capacity) {
  return static_cast<uint64_t>(std::ceil(f * static_cast<double>(capacity)));
}

}  // namespace

// ---------------------------------------------------------------- oracle --

absl::Status OraclePolicy::Init(Simulation& sim) {
  if (epoch_accesses_ == 0) return absl::InvalidArgumentError("oracle: epoch_accesses must be > 0");
  const SimTrace& t = sim.trace();
  const uint64_t cap = sim.config().fmem_capacity_pages;
  sets_.clear();
  epoch_len_.clear();
  first_record_.clear();
  first_access_.clear();
  std::vector<uint64_t> count(t.num_pages, 0);
  std::vector<uint8_t> in_prev(t.num_pages, 0);
  std::vector<uint32_t> touched;
  prev_set_hit_fraction_.clear();
  uint64_t acc = 0;
  size_t i = 0;
  while (i < t.records.size()) {
    const uint64_t epoch_end = (acc / epoch_accesses_ + 1) * epoch_accesses_;
    first_record_.push_back(i);
    first_access_.push_back(acc);
    touched.clear();
    for (; i < t.records.size() && acc < epoch_end; ++i) {
      const uint32_t p = t.page_of[i];
      if (count[p] == 0) touched.push_back(p);
      count[p] += t.records[i].weight;
      acc += t.records[i].weight;
    }
    // How much of this epoch's best hits the previous epoch's set would
    // get: a low value marks a phase change (FindPhaseChanges).
    uint64_t prev_hits = 0;
    for (uint32_t p : touched) prev_hits += in_prev[p] ? count[p] : 0;
    if (touched.size() > cap) {
      // Top-K by count; ties broken by page id so the set is deterministic.
      std::nth_element(touched.begin(), touched.begin() + static_cast<ptrdiff_t>(cap), touched.end(),
                       [&](uint32_t a, uint32_t b) {
                         return count[a] != count[b] ? count[a] > count[b] : a < b;
                       });
      for (size_t k = cap; k < touched.size(); ++k) count[touched[k]] = 0;
      touched.resize(cap);
    }
    uint64_t own_hits = 0;
    for (uint32_t p : touched) own_hits += count[p];
    prev_set_hit_fraction_.push_back(
        sets_.empty() || own_hits == 0 ? 1.0 : static_cast<double>(prev_hits) / static_cast<double>(own_hits));
    if (!sets_.empty()) {
      for (uint32_t p : sets_.back()) in_prev[p] = 0;
    }
    for (uint32_t p : touched) {
      count[p] = 0;
      in_prev[p] = 1;
    }
    std::sort(touched.begin(), touched.end());
    sets_.push_back(touched);
    epoch_len_.push_back(acc - first_access_.back());
  }
  in_set_.assign(t.num_pages, 0);
  epoch_ = 0;
  for (uint32_t p : sets_[0]) in_set_[p] = 1;
  reserved_ = sets_[0].size();  // nothing is present yet
  return absl::OkStatus();
}

void OraclePolicy::EnterEpoch(Simulation& sim, size_t e) {
  for (uint32_t p : sets_[epoch_]) in_set_[p] = 0;
  epoch_ = e;
  uint64_t need = 0, absent = 0;
  for (uint32_t p : sets_[e]) {
    in_set_[p] = 1;
    const PageState s = sim.state(p);
    if (s == PageState::kAbsent) ++absent;
    if (s == PageState::kSmem) ++need;
  }
  reserved_ = absent;
  const uint64_t free = sim.fmem_free_pages();
  uint64_t demote = need + absent > free ? need + absent - free : 0;
  for (uint32_t p = 0; p < sim.trace().num_pages && demote > 0; ++p) {
    if (sim.state(p) == PageState::kFmem && !in_set_[p] && sim.Move(p, Tier::kSmem)) --demote;
  }
  for (uint32_t p : sets_[e]) {
    if (sim.state(p) == PageState::kSmem) sim.Move(p, Tier::kFmem);
  }
}

void OraclePolicy::BeginRecord(Simulation& sim, uint64_t index) {
  (void)index;
  while (epoch_ + 1 < first_access_.size() && sim.accesses_done() >= first_access_[epoch_ + 1]) {
    EnterEpoch(sim, epoch_ + 1);
  }
}

Tier OraclePolicy::AllocTier(Simulation& sim, uint32_t page) {
  if (in_set_[page]) {
    if (reserved_ > 0) --reserved_;
    return Tier::kFmem;
  }
  return sim.fmem_free_pages() > reserved_ ? Tier::kFmem : Tier::kSmem;
}

// ------------------------------------------------------------------- TPP --

absl::Status TppPolicy::Init(Simulation& sim) {
  if (c_.scan_period_ns <= 0 || c_.rate_window_ns <= 0 || c_.kswapd_period_ns <= 0 ||
      c_.threshold_adjust_period_ns <= 0 || c_.hot_threshold_ns <= 0 || c_.scan_size_bytes == 0 ||
      !(c_.rate_limit_mb_per_s > 0)) {
    return absl::InvalidArgumentError("tpp: periods, scan size, threshold and rate must be > 0");
  }
  if (!(c_.wmark_low_frac <= c_.wmark_high_frac && c_.wmark_high_frac <= c_.wmark_promo_frac &&
        c_.wmark_promo_frac < 1)) {
    return absl::InvalidArgumentError("tpp: need wmark low <= high <= promo < 1");
  }
  const uint32_t n = sim.trace().num_pages;
  unmapped_at_.assign(n, -1);
  referenced_.assign(n, 0);
  threshold_ns_ = c_.hot_threshold_ns;
  // The first scan comes after numa_balancing_scan_delay_ms (1000 ms).
  next_scan_ns_ = c_.scan_period_ns;
  next_kswapd_ns_ = c_.kswapd_period_ns;
  window_start_ns_ = 0;
  th_window_start_ns_ = 0;
  next_wake_ns_ = std::min({next_scan_ns_, next_kswapd_ns_, c_.rate_window_ns});
  return absl::OkStatus();
}

double TppPolicy::OnAccess(Simulation& sim, uint64_t index, uint32_t page) {
  (void)index;
  referenced_[page] = 1;
  if (unmapped_at_[page] < 0) return 0;
  const int64_t now = sim.now_ns();
  const int64_t latency = now - unmapped_at_[page];
  unmapped_at_[page] = -1;
  Metrics& m = sim.mutable_metrics();
  ++m.hint_faults;
  if (sim.state(page) != PageState::kSmem) return sim.config().latency.hint_fault_ns;
  if (now - window_start_ns_ >= c_.rate_window_ns) {
    window_start_ns_ = now;
    window_pages_ = 0;
  }
  if (latency < threshold_ns_) {
    ++candidates_;
    ++window_candidates_;
    const uint64_t limit = PagesFor(c_.rate_limit_mb_per_s, c_.rate_window_ns, sim.trace().page_bytes);
    const uint64_t cap = sim.config().fmem_capacity_pages;
    if (window_pages_ + 1 > limit) {
      ++rate_limited_;
    } else if (sim.fmem_free_pages() <= Frac(c_.wmark_high_frac, cap)) {
      ++node_full_;  // numa_node_full: wake kswapd to demote
      kswapd_wanted_ = true;
    } else if (sim.Move(page, Tier::kFmem)) {
      ++window_pages_;
      max_window_pages_ = std::max(max_window_pages_, window_pages_);
    }
  }
  return sim.config().latency.hint_fault_ns;
}

void TppPolicy::Scan(Simulation& sim) {
  const SimTrace& t = sim.trace();
  uint64_t n = c_.scan_size_bytes / t.page_bytes;
  if (n == 0) n = 1;
  n = std::min<uint64_t>(n, t.num_pages);
  const int64_t now = sim.now_ns();
  uint64_t walked = 0;
  for (uint64_t k = 0; k < n; ++k) {
    const uint32_t p = scan_cursor_;
    scan_cursor_ = scan_cursor_ + 1 == t.num_pages ? 0 : scan_cursor_ + 1;
    const PageState s = sim.state(p);
    if (s == PageState::kAbsent) continue;
    ++walked;
    // Tiering mode skips top-tier pages; already PROT_NONE pages keep their time.
    if (s == PageState::kSmem && unmapped_at_[p] < 0) unmapped_at_[p] = now;
  }
  sim.ChargeScan(static_cast<double>(walked) * sim.config().latency.pte_scan_ns);
}

void TppPolicy::Kswapd(Simulation& sim) {
  const uint64_t cap = sim.config().fmem_capacity_pages;
  const uint32_t n = sim.trace().num_pages;
  if (!kswapd_wanted_ && sim.fmem_free_pages() >= Frac(c_.wmark_low_frac, cap)) return;
  kswapd_wanted_ = false;
  const uint64_t goal = Frac(c_.wmark_promo_frac, cap);
  uint64_t visited = 0;
  // CLOCK: a referenced page gets a second chance; at most two sweeps.
  while (sim.fmem_free_pages() < goal && visited < 2ull * n) {
    const uint32_t p = clock_hand_;
    clock_hand_ = clock_hand_ + 1 == n ? 0 : clock_hand_ + 1;
    ++visited;
    if (sim.state(p) != PageState::kFmem) continue;
    if (referenced_[p]) {
      referenced_[p] = 0;
      continue;
    }
    sim.Move(p, Tier::kSmem);
  }
  sim.ChargeBackground(static_cast<double>(visited) * sim.config().latency.pte_scan_ns);
}

void TppPolicy::AdjustThreshold(Simulation& sim) {
  // numa_promotion_adjust_threshold: compare the candidates of the period
  // with what the rate limit allows and move the threshold one step.
  const uint64_t ref_cand = PagesFor(c_.rate_limit_mb_per_s, c_.threshold_adjust_period_ns,
                                     sim.trace().page_bytes);
  const int64_t ref_th = c_.hot_threshold_ns;
  const int64_t unit_th = std::max<int64_t>(1, ref_th * 2 / 16);
  if (window_candidates_ > ref_cand * 11 / 10) {
    threshold_ns_ = std::max(threshold_ns_ - unit_th, unit_th);
  } else if (window_candidates_ < ref_cand * 9 / 10) {
    threshold_ns_ = std::min(threshold_ns_ + unit_th, ref_th * 2);
  }
  window_candidates_ = 0;
}

absl::Status TppPolicy::Wake(Simulation& sim) {
  const int64_t now = sim.now_ns();
  if (now >= next_scan_ns_) {
    Scan(sim);
    next_scan_ns_ += c_.scan_period_ns;
    if (next_scan_ns_ <= now) next_scan_ns_ = now + c_.scan_period_ns;
  }
  if (now >= next_kswapd_ns_) {
    Kswapd(sim);
    next_kswapd_ns_ = now + c_.kswapd_period_ns;
  }
  if (now - th_window_start_ns_ >= c_.threshold_adjust_period_ns) {
    AdjustThreshold(sim);
    th_window_start_ns_ = now;
  }
  next_wake_ns_ = std::min({next_scan_ns_, next_kswapd_ns_,
                            th_window_start_ns_ + c_.threshold_adjust_period_ns});
  if (next_wake_ns_ <= now) next_wake_ns_ = now + 1;
  return absl::OkStatus();
}

std::vector<std::pair<std::string, double>> TppPolicy::Extra() const {
  return {{"promotion_candidates", static_cast<double>(candidates_)},
          {"rate_limited", static_cast<double>(rate_limited_)},
          {"numa_node_full", static_cast<double>(node_full_)},
          {"hot_threshold_ms_final", static_cast<double>(threshold_ns_) / 1e6}};
}

// ---------------------------------------------------------------- Memtis --

int MemtisPolicy::Bin(uint32_t count) {
  if (count == 0) return 0;
  const int b = 1 + (31 - __builtin_clz(count));
  return std::min(b, 15);
}

absl::Status MemtisPolicy::Init(Simulation& sim) {
  if (c_.sample_period == 0 || c_.cooling_samples == 0 || c_.adaptation_samples == 0 ||
      c_.migrate_period_ns <= 0 || !(c_.rate_limit_mb_per_s > 0) || !(c_.reserve_frac >= 0)) {
    return absl::InvalidArgumentError("memtis: periods and rate must be > 0");
  }
  count_.assign(sim.trace().num_pages, 0);
  hist_.fill(0);
  countdown_ = static_cast<int64_t>(c_.sample_period);
  next_wake_ns_ = c_.migrate_period_ns;
  hot_bin_ = 1;
  return absl::OkStatus();
}

double MemtisPolicy::OnAccess(Simulation& sim, uint64_t index, uint32_t page) {
  countdown_ -= sim.trace().records[index].weight;
  while (countdown_ <= 0) {
    countdown_ += static_cast<int64_t>(c_.sample_period);
    ++samples_;
    ++sim.mutable_metrics().samples;
    sim.ChargeSampling(sim.config().latency.pebs_sample_ns);
    const int ob = Bin(count_[page]);
    if (count_[page] < UINT32_MAX) ++count_[page];
    const int nb = Bin(count_[page]);
    if (ob != nb) {
      if (ob > 0) --hist_[ob];
      ++hist_[nb];
    }
    if (samples_ % c_.adaptation_samples == 0) Adapt(sim);
    if (samples_ % c_.cooling_samples == 0) Cool();
  }
  return 0;
}

void MemtisPolicy::Adapt(Simulation& sim) {
  const uint64_t cap = sim.config().fmem_capacity_pages;
  const uint64_t limit = cap - std::min(cap, Frac(c_.reserve_frac, cap));
  uint64_t sum = 0;
  int b = 15;
  for (; b >= 1; --b) {
    if (sum + hist_[b] > limit) break;
    sum += hist_[b];
  }
  hot_bin_ = std::max(1, b + 1);
}

void MemtisPolicy::Cool() {
  ++coolings_;
  hist_.fill(0);
  for (uint32_t& c : count_) {
    c >>= 1;
    if (c) ++hist_[Bin(c)];
  }
}

absl::Status MemtisPolicy::Wake(Simulation& sim) {
  const SimTrace& t = sim.trace();
  const uint64_t cap = sim.config().fmem_capacity_pages;
  const uint64_t reserve = Frac(c_.reserve_frac, cap);
  uint64_t budget = PagesFor(c_.rate_limit_mb_per_s, c_.migrate_period_ns, t.page_bytes);
  // Hot pages on SMEM, hottest bin first; cold pages on FMEM, coldest first.
  std::array<std::vector<uint32_t>, 16> hot, cold;
  for (uint32_t p = 0; p < t.num_pages; ++p) {
    const PageState s = sim.state(p);
    const int b = Bin(count_[p]);
    if (s == PageState::kSmem && b >= hot_bin_) hot[b].push_back(p);
    if (s == PageState::kFmem && b < hot_bin_) cold[b].push_back(p);
  }
  uint64_t want = 0;
  for (int b = 15; b >= hot_bin_; --b) want += hot[b].size();
  // Demote to keep the reserve free and to make room for the hot pages.
  uint64_t free = sim.fmem_free_pages();
  uint64_t to_free = reserve + std::min(want, budget / 2) > free ? reserve + std::min(want, budget / 2) - free : 0;
  for (int b = 0; b < hot_bin_ && to_free > 0 && budget > 0; ++b) {
    for (uint32_t p : cold[b]) {
      if (to_free == 0 || budget == 0) break;
      if (sim.Move(p, Tier::kSmem)) {
        --to_free;
        --budget;
      }
    }
  }
  for (int b = 15; b >= hot_bin_ && budget > 0; --b) {
    for (uint32_t p : hot[b]) {
      if (budget == 0 || sim.fmem_free_pages() <= reserve) break;
      if (sim.Move(p, Tier::kFmem)) --budget;
    }
  }
  sim.ChargeBackground(static_cast<double>(t.num_pages) * 2.0);  // list walk, ~2 ns/page
  next_wake_ns_ = sim.now_ns() + c_.migrate_period_ns;
  return absl::OkStatus();
}

std::vector<std::pair<std::string, double>> MemtisPolicy::Extra() const {
  return {{"hot_bin_final", static_cast<double>(hot_bin_)},
          {"coolings", static_cast<double>(coolings_)},
          {"sample_period", static_cast<double>(c_.sample_period)}};
}

// ----------------------------------------------------------------- DAMON --

uint32_t DamonPolicy::RandomPage(const Region& r) {
  std::uniform_int_distribution<uint32_t> d(r.first, r.last - 1);
  return d(rng_);
}

absl::Status DamonPolicy::Init(Simulation& sim) {
  if (c_.sample_interval_ns <= 0 || c_.aggr_interval_ns < c_.sample_interval_ns ||
      c_.min_regions == 0 || c_.max_regions < 2 * c_.min_regions || !(c_.quota_mb_per_s > 0)) {
    return absl::InvalidArgumentError(
        "damon: need 0 < sample <= aggregation interval, max_regions >= 2*min_regions, quota > 0");
  }
  const SimTrace& t = sim.trace();
  accessed_.assign(t.num_pages, 0);
  span_of_page_.assign(t.num_pages, 0);
  regions_.clear();
  for (size_t si = 0; si < t.spans.size(); ++si) {
    const SimSpan& sp = t.spans[si];
    const uint32_t pages = static_cast<uint32_t>((sp.end - sp.start) / t.page_bytes);
    for (uint32_t k = 0; k < pages; ++k) span_of_page_[sp.first_page + k] = static_cast<uint32_t>(si);
    uint64_t nr = (c_.min_regions * static_cast<uint64_t>(pages) + t.num_pages - 1) / t.num_pages;
    nr = std::clamp<uint64_t>(nr, 1, pages);
    for (uint64_t k = 0; k < nr; ++k) {
      Region r;
      r.first = sp.first_page + static_cast<uint32_t>(pages * k / nr);
      r.last = sp.first_page + static_cast<uint32_t>(pages * (k + 1) / nr);
      r.sampled = RandomPage(r);
      regions_.push_back(r);
    }
  }
  next_sample_ns_ = c_.sample_interval_ns;
  next_aggr_ns_ = c_.aggr_interval_ns;
  next_wake_ns_ = next_sample_ns_;
  quota_reset_ns_ = 0;
  quota_left_bytes_ = 0;
  return absl::OkStatus();
}

double DamonPolicy::OnAccess(Simulation& sim, uint64_t index, uint32_t page) {
  (void)sim;
  (void)index;
  accessed_[page] = 1;
  return 0;
}

void DamonPolicy::Sample(Simulation& sim) {
  for (Region& r : regions_) {
    if (accessed_[r.sampled]) ++r.nr_accesses;
    r.sampled = RandomPage(r);
    accessed_[r.sampled] = 0;
  }
  checks_ += regions_.size();
  sim.ChargeBackground(2.0 * static_cast<double>(regions_.size()) * sim.config().latency.pte_scan_ns);
}

void DamonPolicy::Aggregate(Simulation& sim) {
  const SimTrace& t = sim.trace();
  const int64_t now = sim.now_ns();
  const uint64_t cap = sim.config().fmem_capacity_pages;
  const uint32_t max_nr = static_cast<uint32_t>(c_.aggr_interval_ns / c_.sample_interval_ns);
  if (now - quota_reset_ns_ >= 1'000'000'000 || quota_reset_ns_ == 0) {
    quota_reset_ns_ = now;
    quota_left_bytes_ = c_.quota_mb_per_s * 1e6;
  }
  const double pb = static_cast<double>(t.page_bytes);
  // Age: reset when the access frequency changed much, else grow.
  const uint32_t thres = std::max<uint32_t>(1, max_nr / 10);
  for (Region& r : regions_) {
    const uint32_t d = r.nr_accesses > r.last_nr_accesses ? r.nr_accesses - r.last_nr_accesses
                                                          : r.last_nr_accesses - r.nr_accesses;
    r.age = d > thres ? 0 : r.age + 1;
  }
  // migrate_cold: FMEM free below its goal -> demote idle, old regions.
  std::vector<size_t> order(regions_.size());
  std::iota(order.begin(), order.end(), 0);
  const uint64_t free_goal = Frac(c_.fmem_free_goal, cap);
  if (sim.fmem_free_pages() < free_goal) {
    std::vector<size_t> cold;
    for (size_t i : order) {
      if (regions_[i].nr_accesses == 0 && regions_[i].age >= c_.cold_min_age) cold.push_back(i);
    }
    std::stable_sort(cold.begin(), cold.end(),
                     [&](size_t a, size_t b) { return regions_[a].age > regions_[b].age; });
    bool applied = false;
    for (size_t i : cold) {
      const Region& r = regions_[i];
      for (uint32_t p = r.first; p < r.last && sim.fmem_free_pages() < free_goal && quota_left_bytes_ >= pb; ++p) {
        if (sim.state(p) == PageState::kFmem && sim.Move(p, Tier::kSmem)) {
          quota_left_bytes_ -= pb;
          applied = true;
        }
      }
      if (sim.fmem_free_pages() >= free_goal || quota_left_bytes_ < pb) break;
    }
    applied_cold_ += applied ? 1 : 0;
  }
  // migrate_hot: FMEM use below its goal -> promote the hottest regions.
  const uint64_t used_goal = static_cast<uint64_t>(c_.fmem_used_goal * static_cast<double>(cap));
  const uint32_t hot_min =
      std::max<uint32_t>(1, static_cast<uint32_t>(std::ceil(c_.hot_min_pct / 100.0 * max_nr)));
  if (sim.fmem_used_pages() < used_goal) {
    std::vector<size_t> hot;
    for (size_t i : order) {
      if (regions_[i].nr_accesses >= hot_min) hot.push_back(i);
    }
    std::stable_sort(hot.begin(), hot.end(), [&](size_t a, size_t b) {
      return regions_[a].nr_accesses > regions_[b].nr_accesses;
    });
    bool applied = false;
    for (size_t i : hot) {
      const Region& r = regions_[i];
      for (uint32_t p = r.first; p < r.last && sim.fmem_used_pages() < used_goal && quota_left_bytes_ >= pb; ++p) {
        if (sim.state(p) == PageState::kSmem && sim.Move(p, Tier::kFmem)) {
          quota_left_bytes_ -= pb;
          applied = true;
        }
      }
      if (sim.fmem_used_pages() >= used_goal || quota_left_bytes_ < pb) break;
    }
    applied_hot_ += applied ? 1 : 0;
  }
  // Merge adjacent alike regions (same span), bounded in size.
  const uint64_t sz_limit = std::max<uint64_t>(1, t.num_pages / c_.min_regions);
  std::vector<Region> merged;
  merged.reserve(regions_.size());
  for (const Region& r : regions_) {
    if (!merged.empty()) {
      Region& l = merged.back();
      const uint32_t d = l.nr_accesses > r.nr_accesses ? l.nr_accesses - r.nr_accesses : r.nr_accesses - l.nr_accesses;
      if (l.last == r.first && span_of_page_[l.first] == span_of_page_[r.first] && d <= thres &&
          static_cast<uint64_t>(r.last - l.first) <= sz_limit) {
        const uint64_t ls = l.last - l.first, rs = r.last - r.first;
        l.nr_accesses = static_cast<uint32_t>((l.nr_accesses * ls + r.nr_accesses * rs) / (ls + rs));
        l.age = static_cast<int>((l.age * ls + r.age * rs) / (ls + rs));
        l.last = r.last;
        continue;
      }
    }
    merged.push_back(r);
  }
  regions_ = std::move(merged);
  for (Region& r : regions_) {
    r.last_nr_accesses = r.nr_accesses;
    r.nr_accesses = 0;
  }
  // Split each region in two at a random point in [10 %, 90 %].
  if (regions_.size() < c_.max_regions / 2) {
    std::vector<Region> split;
    split.reserve(regions_.size() * 2);
    std::uniform_int_distribution<int> pct(1, 9);
    for (const Region& r : regions_) {
      const uint32_t len = r.last - r.first;
      if (len < 2) {
        split.push_back(r);
        continue;
      }
      uint32_t cut = r.first + std::max<uint32_t>(1, len * static_cast<uint32_t>(pct(rng_)) / 10);
      if (cut >= r.last) cut = r.last - 1;
      Region a = r, b = r;
      a.last = cut;
      b.first = cut;
      if (a.sampled >= cut) {
        a.sampled = RandomPage(a);
        accessed_[a.sampled] = 0;
      }
      if (b.sampled < cut) {
        b.sampled = RandomPage(b);
        accessed_[b.sampled] = 0;
      }
      split.push_back(a);
      split.push_back(b);
    }
    regions_ = std::move(split);
  }
}

absl::Status DamonPolicy::Wake(Simulation& sim) {
  const int64_t now = sim.now_ns();
  while (now >= next_sample_ns_) {
    Sample(sim);
    next_sample_ns_ += c_.sample_interval_ns;
    if (next_sample_ns_ >= next_aggr_ns_) {
      Aggregate(sim);
      next_aggr_ns_ += c_.aggr_interval_ns;
    }
  }
  next_wake_ns_ = next_sample_ns_;
  return absl::OkStatus();
}

std::vector<std::pair<std::string, double>> DamonPolicy::Extra() const {
  return {{"migrate_hot_nr_applied", static_cast<double>(applied_hot_)},
          {"migrate_cold_nr_applied", static_cast<double>(applied_cold_)},
          {"regions_final", static_cast<double>(regions_.size())},
          {"abit_checks", static_cast<double>(checks_)}};
}

}  // namespace tiervm::sim
