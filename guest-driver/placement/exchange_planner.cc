#include "placement/exchange_planner.h"

#include <algorithm>
#include <cmath>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "placement/promotion_hold.h"

namespace tiervm::placement {
namespace {

struct Candidate {
  PageInfo page;
  Pid pid;
  double weight;  // estimated sampled weight of the page
};

// Sampled weight per byte.
double Density(const Candidate& c) { return c.weight / static_cast<double>(c.page.bytes); }

// The hot pages of page-resolved `rc` found on `tier`, hottest first, up
// to `want` bytes.  Which pages are hot is known from their counts, so
// they are looked up one by one, hottest first, instead of walking the
// range for them (hot keys are scattered over every window of a heap);
// pages promoted recently (`hold`) are on FMEM and not looked up; at most
// kMaxHotLookups lookups per range and plan.
constexpr size_t kMaxHotLookups = 4096;

absl::StatusOr<std::vector<Candidate>> HotCountedPages(const TrackerSnapshot& snapshot,
                                                       const PageLocator& locator,
                                                       const RangeClass& rc, double cut,
                                                       Tier tier, uint64_t want,
                                                       const PromotionHold* hold) {
  // Within one range a page's density grows with its count; only the
  // hottest few are looked up, so a partial sort.
  std::vector<std::pair<float, Vaddr>> counted = rc.counted_pages;
  auto hotter = [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  };
  const size_t head = std::min(counted.size(), 2 * kMaxHotLookups);
  std::partial_sort(counted.begin(), counted.begin() + static_cast<ptrdiff_t>(head),
                    counted.end(), hotter);
  counted.resize(head);
  std::vector<Candidate> pages;
  absl::flat_hash_set<Vaddr> seen;  // a THP holds several counted pages
  uint64_t sum = 0;
  size_t lookups = 0;
  for (const auto& [count, v] : counted) {
    if (sum >= want || lookups == kMaxHotLookups) break;
    if (hold != nullptr && hold->Held(rc.pid, v, kBasePageBytes)) continue;
    ++lookups;
    absl::Status st = locator.ForEachPageOn(rc.pid, v, v + kBasePageBytes, tier,
                                            [&](const PageInfo& p) {
      if (p.tier != tier || p.addr < rc.start || !seen.insert(p.addr).second) return true;
      const double density = PageDensity(snapshot, rc, p.addr, p.bytes);
      if (density < cut) return true;
      pages.push_back({p, rc.pid, density * static_cast<double>(p.bytes) / (1 << 20)});
      sum += p.bytes;
      return true;
    });
    if (absl::IsNotFound(st)) return std::vector<Candidate>{};
    if (!st.ok()) return st;
  }
  std::stable_sort(pages.begin(), pages.end(),
                   [](const Candidate& a, const Candidate& b) { return Density(a) > Density(b); });
  return pages;
}

// Resident pages of `rc` on `tier`, ordered so the best to move come first
// (hottest for promotion, coldest for demotion), limited to `want` bytes.
absl::StatusOr<std::vector<Candidate>> PagesToMove(const TrackerSnapshot& snapshot,
                                                   const PageLocator& locator,
                                                   const RangeClass& rc, double cut,
                                                   Tier tier, uint64_t want,
                                                   bool hottest_first,
                                                   const PromotionHold* hold = nullptr,
                                                   uint64_t* held_bytes = nullptr) {
  std::vector<Candidate> pages;
  if (rc.page_resolved && hottest_first) {
    return HotCountedPages(snapshot, locator, rc, cut, tier, want, hold);
  }
  absl::Status st = locator.ForEachPageOn(rc.pid, rc.start, rc.end, tier, [&](const PageInfo& p) {
    // A THP straddling the range edge belongs to the range holding its
    // start; the neighbour would otherwise plan it a second time.
    if (p.tier == tier && p.addr >= rc.start) {
      if (hold != nullptr && hold->Held(rc.pid, p.addr, p.bytes)) {
        if (held_bytes != nullptr) *held_bytes += p.bytes;
        return true;
      }
      const double density = PageDensity(snapshot, rc, p.addr, p.bytes);
      // In a page-resolved range only the hot pages go up and only the
      // cold ones down (Classification::cut_density).
      if (rc.page_resolved && (hottest_first ? density < cut : density >= cut)) return true;
      pages.push_back({p, rc.pid, density * static_cast<double>(p.bytes) / (1 << 20)});
    }
    return true;
  });
  if (absl::IsNotFound(st)) return std::vector<Candidate>{};
  if (!st.ok()) return st;
  std::stable_sort(pages.begin(), pages.end(), [&](const Candidate& a, const Candidate& b) {
    return hottest_first ? Density(a) > Density(b) : Density(a) < Density(b);
  });
  uint64_t sum = 0;
  size_t n = 0;
  while (n < pages.size() && sum < want) sum += pages[n++].page.bytes;
  pages.resize(n);
  return pages;
}

PageMove ToMove(const Candidate& c, Tier tier, const PlannerConfig& config) {
  return PageMove{c.pid, c.page.addr, c.page.bytes, tier,
                  tier == Tier::kFmem ? config.fmem_node : config.smem_node};
}

}  // namespace

bool ValidExchangeGain(double gain) {
  return gain == 0 || (gain >= 1 && std::isfinite(gain));
}

bool ThpTooUneven(const TrackerSnapshot& snapshot, Pid pid, Vaddr addr,
                  const PlannerConfig& config) {
  const auto profile = snapshot.Profile(pid, addr, addr + kHugePageBytes);
  double total = 0;
  double max = 0;
  for (double w : profile) {
    total += w;
    max = std::max(max, w);
  }
  if (total < config.thp_min_weight || total <= 0) return false;
  return max / (total / kSubBlocks) > config.thp_max_unevenness;
}

std::vector<PageMove> ExchangePlan::Flatten() const {
  std::vector<PageMove> out;
  for (const ExchangeRound& r : rounds) {
    out.insert(out.end(), r.demotions.begin(), r.demotions.end());
    out.insert(out.end(), r.promotions.begin(), r.promotions.end());
  }
  return out;
}

absl::StatusOr<ExchangePlan> PlanExchange(const TrackerSnapshot& snapshot,
                                          const Classification& classes,
                                          const PageLocator& locator,
                                          const FmemState& fmem,
                                          const PlannerConfig& config,
                                          const PromotionHold* hold) {
  if (!(config.rate_limit_mib_per_s >= 0) || config.interval_ns <= 0 ||
      config.round_bytes == 0 || !(config.thp_max_unevenness >= 1) ||
      !ValidExchangeGain(config.min_exchange_gain) ||
      !ValidExchangeGain(config.page_exchange_gain)) {
    return absl::InvalidArgumentError(
        "need rate_limit >= 0, interval > 0, round_bytes > 0, thp_max_unevenness >= 1, "
        "min_exchange_gain and page_exchange_gain 0 or finite >= 1");
  }
  ExchangePlan plan;
  const long double budget = static_cast<long double>(config.rate_limit_mib_per_s) *
                             (1 << 20) * config.interval_ns / 1e9L;
  plan.budget_bytes = static_cast<uint64_t>(std::floor(budget));
  plan.fmem_free_before_bytes = fmem.free_bytes;

  // Demotion queue: coldest ranges first, coldest pages first within each.
  // Extended lazily, one range at a time, as far as the plan needs it:
  // listing a range's pages costs page-table walks or move_pages queries,
  // and most ticks demote nothing (nothing to promote, FMEM above the
  // watermark) although every cold range on FMEM is a demote candidate.
  std::vector<Candidate> demotable;
  size_t next_demote = 0;
  size_t next_demote_range = 0;
  // Whether demotable[i] exists, listing further ranges as needed.
  auto has_demotable = [&](size_t i) -> absl::StatusOr<bool> {
    while (i >= demotable.size()) {
      if (next_demote_range == classes.demote.size()) return false;
      const RangeClass& rc = classes.ranges[classes.demote[next_demote_range++]];
      auto pages = PagesToMove(snapshot, locator, rc, classes.cut_density, Tier::kFmem,
                               rc.demote_bytes(), false, hold, &plan.held_skipped_bytes);
      if (!pages.ok()) return pages.status();
      demotable.insert(demotable.end(), pages->begin(), pages->end());
    }
    return true;
  };

  uint64_t free = fmem.free_bytes;
  uint64_t left = plan.budget_bytes;
  // Moves in the order they were decided; later cut into rounds.
  std::vector<PageMove> sequence;
  auto demote_one = [&]() {
    const Candidate& c = demotable[next_demote++];
    sequence.push_back(ToMove(c, Tier::kSmem, config));
    free += c.page.bytes;
    left -= c.page.bytes;
    plan.demote_bytes += c.page.bytes;
  };

  // 1. Restore the watermark first (the balloon may just have taken FMEM),
  //    once free FMEM is below a quarter of it (FmemState::NeedsRestore).
  const bool restore = fmem.NeedsRestore();
  while (restore && free < fmem.headroom_bytes) {
    absl::StatusOr<bool> more = has_demotable(next_demote);
    if (!more.ok()) return more.status();
    if (!*more) break;
    if (demotable[next_demote].page.bytes > left) {
      plan.stop = PlanStop::kRateLimit;
      break;
    }
    demote_one();
  }
  const size_t watermark_moves = sequence.size();
  // What every promotion leaves free: the headroom, or, when free FMEM
  // sits in the dip the restore above tolerates (between a quarter of the
  // headroom and all of it), what is free now -- each promotion is then
  // paid by a demotion of its size, an exchange, and no migration goes to
  // refilling a dip the kernel may fill back itself.
  const uint64_t keep_free = std::min(fmem.headroom_bytes, free);

  // 2. Promote hottest first, demoting just enough before each promotion.
  bool stopped = plan.stop != PlanStop::kDone;
  for (size_t idx : classes.promote) {
    if (stopped) break;
    const RangeClass& rc = classes.ranges[idx];
    auto pages = PagesToMove(snapshot, locator, rc, classes.cut_density, Tier::kSmem,
                             rc.promote_bytes(), true, hold);
    if (!pages.ok()) return pages.status();
    for (size_t i = 0; i < pages->size(); ++i) {
      const Candidate& c = (*pages)[i];
      if (c.page.bytes == kHugePageBytes && ThpTooUneven(snapshot, c.pid, c.page.addr, config)) {
        ++plan.thp_skipped_pages;
        continue;
      }
      // Look ahead without committing: which demotions would make room?
      uint64_t f = free;
      uint64_t cost = c.page.bytes;
      size_t d = next_demote;
      double displaced_density = 0;
      while (f < keep_free + c.page.bytes) {
        absl::StatusOr<bool> more = has_demotable(d);
        if (!more.ok()) return more.status();
        if (!*more) break;
        f += demotable[d].page.bytes;
        cost += demotable[d].page.bytes;
        displaced_density = std::max(displaced_density, Density(demotable[d]));
        ++d;
      }
      if (f < keep_free + c.page.bytes) {
        plan.stop = PlanStop::kNoDemotable;
        stopped = true;
        break;
      }
      // The gain gate.  Candidates come hottest first and demotions
      // coldest first, so once a promotion fails, later ones would too
      // (ranges are ranked by their mean density: nearly).
      const double gain = rc.page_resolved
                              ? std::max(config.min_exchange_gain, config.page_exchange_gain)
                              : config.min_exchange_gain;
      if (gain > 0 && d > next_demote && !(Density(c) > gain * displaced_density)) {
        for (size_t j = i; j < pages->size(); ++j) plan.gain_skipped_bytes += (*pages)[j].page.bytes;
        plan.stop = PlanStop::kNoGain;
        stopped = true;
        break;
      }
      if (cost > left) {
        plan.stop = PlanStop::kRateLimit;
        stopped = true;
        break;
      }
      while (next_demote < d) demote_one();
      sequence.push_back(ToMove(c, Tier::kFmem, config));
      free -= c.page.bytes;
      left -= c.page.bytes;
      plan.promote_bytes += c.page.bytes;
    }
  }
  plan.fmem_free_after_bytes = free;

  // 3. Cut into rounds at promotion boundaries, so each round's demotions
  //    pay for its own promotions; sort each direction by (pid, addr).
  ExchangeRound round;
  uint64_t round_bytes = 0;
  auto by_addr = [](const PageMove& a, const PageMove& b) {
    return std::tie(a.pid, a.addr) < std::tie(b.pid, b.addr);
  };
  auto flush = [&]() {
    if (round.demotions.empty() && round.promotions.empty()) return;
    std::sort(round.demotions.begin(), round.demotions.end(), by_addr);
    std::sort(round.promotions.begin(), round.promotions.end(), by_addr);
    plan.rounds.push_back(std::move(round));
    round = ExchangeRound();
    round_bytes = 0;
  };
  for (size_t i = 0; i < sequence.size(); ++i) {
    const PageMove& m = sequence[i];
    (m.dest_tier == Tier::kSmem ? round.demotions : round.promotions).push_back(m);
    round_bytes += m.bytes;
    // Cut only after a promotion or a watermark demotion: a demotion that
    // makes room for a promotion stays in that promotion's round, so an
    // executor whose demotions fail can drop the round's promotions.
    if (round_bytes >= config.round_bytes &&
        (m.dest_tier == Tier::kFmem || i < watermark_moves)) {
      flush();
    }
  }
  flush();
  return plan;
}

}  // namespace tiervm::placement
