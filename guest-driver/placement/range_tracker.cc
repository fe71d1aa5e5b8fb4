#include "placement/range_tracker.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <tuple>
#include <utility>

#include "absl/strings/str_format.h"
#include "placement/check.h"

namespace tiervm::placement {
namespace {

constexpr size_t kMaxUnknownPids = 256;
// EndEpoch recomputes page moments from the counts this often at least.
constexpr uint64_t kMomentRecountEpochs = 64;

bool IsPowerOfTwo(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

}  // namespace

absl::Status RangeTrackerConfig::Validate() const {
  if (!IsPowerOfTwo(min_range_bytes) || min_range_bytes < kBasePageBytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "min_range_bytes %d must be a power of two >= 4096", min_range_bytes));
  }
  if (min_span_bytes < kBasePageBytes) {
    return absl::InvalidArgumentError("min_span_bytes must be >= 4096");
  }
  if (max_ranges < 1) return absl::InvalidArgumentError("max_ranges must be >= 1");
  if (!(decay_factor > 0 && decay_factor <= 1)) {
    return absl::InvalidArgumentError("decay_factor must be in (0, 1]");
  }
  if (!(split_min_weight >= 0) || !(merge_max_weight >= 0)) {
    return absl::InvalidArgumentError("weights must be >= 0");
  }
  if (!(split_contrast >= 0 && split_contrast <= 1) ||
      !(merge_contrast >= 0 && merge_contrast <= split_contrast)) {
    return absl::InvalidArgumentError(
        "need 0 <= merge_contrast <= split_contrast <= 1");
  }
  if (!(page_decay_factor > 0 && page_decay_factor <= 1)) {
    return absl::InvalidArgumentError("page_decay_factor must be in (0, 1]");
  }
  if (!(page_min_count >= 0) || !std::isfinite(page_min_count)) {
    return absl::InvalidArgumentError("page_min_count must be finite and >= 0");
  }
  return absl::OkStatus();
}

RangeTracker::RangeTracker(const RangeTrackerConfig& config) : config_(config) {
  PLACEMENT_CHECK(config_.Validate().ok());
}

RangeTracker::Range RangeTracker::MakeRange(Vaddr start, Vaddr end) {
  PLACEMENT_CHECK(start < end && end - start >= kBasePageBytes);
  Range r;
  r.start = start;
  r.end = end;
  // Lengths are >= 4 KiB, so the quotient fits in 64 bits; and since
  // recip <= 2^64 * kSubBlocks / len, (off * recip) >> 64 < kSubBlocks for
  // every off < len: no clamp needed on the hot path.
  r.recip = static_cast<uint64_t>(
      (static_cast<unsigned __int128>(kSubBlocks) << 64) / (end - start));
  return r;
}

namespace {

// Weight of `sub` (kSubBlocks equal blocks over `len` bytes) inside the
// offsets [x0, x1), assuming uniform access within a block.
double MassIn(const std::array<double, kSubBlocks>& sub, double len, double x0,
              double x1) {
  const double block = len / kSubBlocks;
  double sum = 0;
  for (int i = 0; i < kSubBlocks; ++i) {
    const double overlap = std::min((i + 1) * block, x1) - std::max(i * block, x0);
    if (overlap > 0) sum += sub[i] * overlap / block;
  }
  return sum;
}

}  // namespace

RangeTracker::Range RangeTracker::Carve(absl::Span<const Range> sources,
                                        Vaddr start, Vaddr end) {
  Range out = MakeRange(start, end);
  const double block = static_cast<double>(end - start) / kSubBlocks;
  for (const Range& src : sources) {
    if (src.end <= start || src.start >= end || src.weight == 0) continue;
    // Offset u in `out` is offset u + shift in `src`; addresses are below
    // 2^57, so the difference is exact in int64 and in double.
    const double shift = static_cast<double>(static_cast<int64_t>(start - src.start));
    const double len = static_cast<double>(src.end - src.start);
    double taken = 0;
    for (int j = 0; j < kSubBlocks; ++j) {
      const double m = MassIn(src.sub, len, j * block + shift, (j + 1) * block + shift);
      out.sub[j] += m;
      taken += m;
    }
    out.store_weight += src.store_weight * (taken / src.weight);
  }
  for (double w : out.sub) out.weight += w;
  return out;
}

double RangeTracker::Contrast(const Range& a, const Range& b) {
  const double da = a.weight / static_cast<double>(a.end - a.start);
  const double db = b.weight / static_cast<double>(b.end - b.start);
  if (da + db <= 0) return 0;
  return std::abs(da - db) / (da + db);
}

RangeStats RangeTracker::ToStats(Pid pid, const Range& r) {
  RangeStats s;
  s.pid = pid;
  s.start = r.start;
  s.end = r.end;
  s.weight = r.weight;
  s.store_weight = r.store_weight;
  s.sub_weight = r.sub;
  s.page_counted = r.page_counted;
  s.page_sum = r.page_sum;
  s.page_sum_sq = r.page_sum_sq;
  return s;
}

void RangeTracker::Rebuild(Process& p, std::vector<Range> ranges) {
  // New bounds: the page moments no longer match their ranges.
  bool same = ranges.size() == p.ranges.size();
  for (size_t i = 0; same && i < ranges.size(); ++i) {
    same = ranges[i].start == p.ranges[i].start && ranges[i].end == p.ranges[i].end;
  }
  p.moments_stale = p.moments_stale || !same;
  p.ranges = std::move(ranges);
  p.starts.resize(p.ranges.size());
  for (size_t i = 0; i < p.ranges.size(); ++i) {
    p.starts[i] = p.ranges[i].start;
    if (i > 0) PLACEMENT_CHECK(p.ranges[i - 1].end <= p.ranges[i].start);
  }
}

void RangeTracker::RecountRanges() {
  range_count_ = 0;
  for (const auto& [pid, p] : processes_) range_count_ += p.ranges.size();
}

PageHeatMap& RangeTracker::MutablePages(Process& p) {
  if (p.pages == nullptr) {
    p.pages = std::make_shared<PageHeatMap>();
  } else if (p.pages.use_count() > 1) {
    // A snapshot holds this map: it must not change under it.
    p.pages = std::make_shared<PageHeatMap>(*p.pages);
  }
  return *p.pages;
}

void RangeTracker::CountPage(Process& p, Range& r, Vaddr vaddr) {
  PageHeatMap& m = MutablePages(p);
  const uint64_t vpn = vaddr / kBasePageBytes;
  PageHeatMap::iterator it;
  if (stats_.page_counts < config_.max_page_counts) {
    bool inserted = false;
    std::tie(it, inserted) = m.try_emplace(vpn, 0.0f);
    if (inserted) {
      ++stats_.page_counts;
      ++r.page_counted;
    }
  } else {
    it = m.find(vpn);
    if (it == m.end()) {
      ++stats_.page_samples_unstored;
      return;
    }
  }
  const double c = it->second;
  it->second += 1.0f;
  r.page_sum += 1;
  r.page_sum_sq += 2 * c + 1;
}

RangeTracker::Range* RangeTracker::RangeOf(Process& p, Vaddr a) {
  auto it = std::upper_bound(p.starts.begin(), p.starts.end(), a);
  if (it == p.starts.begin()) return nullptr;
  Range& r = p.ranges[static_cast<size_t>(it - p.starts.begin()) - 1];
  return a < r.end ? &r : nullptr;
}

void RangeTracker::RecountPageMoments(Process& p) {
  for (Range& r : p.ranges) {
    r.page_counted = 0;
    r.page_sum = r.page_sum_sq = 0;
  }
  p.moments_stale = false;
  if (p.pages == nullptr) return;
  for (const auto& [vpn, count] : *p.pages) {
    Range* r = RangeOf(p, vpn * kBasePageBytes);
    if (r == nullptr) continue;
    ++r->page_counted;
    r->page_sum += count;
    r->page_sum_sq += static_cast<double>(count) * count;
  }
}

void RangeTracker::PrunePages(Process& p) {
  if (p.pages == nullptr || p.pages->empty()) return;
  const std::vector<Vaddr>& starts = p.starts;
  const std::vector<Range>& ranges = p.ranges;
  auto outside = [&](const auto& kv) {
    const Vaddr a = kv.first * kBasePageBytes;
    auto it = std::upper_bound(starts.begin(), starts.end(), a);
    if (it == starts.begin()) return true;
    return a >= ranges[static_cast<size_t>(it - starts.begin()) - 1].end;
  };
  bool any = false;
  for (const auto& kv : *p.pages) {
    if (outside(kv)) {
      any = true;
      break;
    }
  }
  if (any) absl::erase_if(MutablePages(p), outside);
}

void RangeTracker::MakeRoomForNewPages() {
  // Pages went uncounted this epoch for lack of room: forget the coldest
  // counts down to 3/4 of the table, or pages counted early (start-up
  // writes) would keep a hot set that came later out for good.
  if (stats_.page_samples_unstored == unstored_at_epoch_ ||
      stats_.page_counts < config_.max_page_counts) {
    unstored_at_epoch_ = stats_.page_samples_unstored;
    return;
  }
  unstored_at_epoch_ = stats_.page_samples_unstored;
  std::vector<float> counts;
  counts.reserve(stats_.page_counts);
  for (const auto& [pid, p] : processes_) {
    if (p.pages == nullptr) continue;
    for (const auto& kv : *p.pages) counts.push_back(kv.second);
  }
  const size_t keep = config_.max_page_counts / 4 * 3;
  if (counts.size() <= keep) return;
  // Forget counts below the keep-th largest (ties may keep a few more).
  std::nth_element(counts.begin(), counts.begin() + static_cast<ptrdiff_t>(keep), counts.end(),
                   std::greater<>());
  const float floor = counts[keep];
  for (auto& [pid, p] : processes_) {
    if (p.pages == nullptr || p.pages->empty()) continue;
    absl::erase_if(MutablePages(p), [floor](const auto& kv) { return kv.second <= floor; });
    RecountPageMoments(p);
  }
  RecountPages();
}

void RangeTracker::RecountPages() {
  stats_.page_counts = 0;
  for (const auto& [pid, p] : processes_) {
    if (p.pages != nullptr) stats_.page_counts += p.pages->size();
  }
}

absl::Status RangeTracker::SetVmas(Pid pid, absl::Span<const Vma> vmas) {
  if (pid <= 0) return absl::InvalidArgumentError(absl::StrFormat("bad pid %d", pid));
  std::vector<Vma> sorted(vmas.begin(), vmas.end());
  std::sort(sorted.begin(), sorted.end(),
            [](const Vma& a, const Vma& b) { return a.start < b.start; });
  std::vector<Vma> spans;
  for (const Vma& v : sorted) {
    if (v.start >= v.end || v.start % kBasePageBytes != 0 ||
        v.end % kBasePageBytes != 0 || v.end > kUserVaddrLimit) {
      return absl::InvalidArgumentError(
          absl::StrFormat("pid %d: bad VMA [0x%x, 0x%x)", pid, v.start, v.end));
    }
    if (!spans.empty() && spans.back().end > v.start) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "pid %d: VMA [0x%x, 0x%x) overlaps its predecessor", pid, v.start, v.end));
    }
    // Contiguous VMAs (mprotect splits one area into several) are one span:
    // their boundary says nothing about access patterns.
    if (!spans.empty() && spans.back().end == v.start) {
      spans.back().end = v.end;
    } else {
      spans.push_back(v);
    }
  }

  Process& p = processes_[pid];
  cached_process_ = nullptr;
  cached_pid_ = 0;
  unknown_pids_.erase(pid);

  // Keep the weight of whatever stays mapped; fill new areas with empty
  // ranges.  Both lists are sorted, so one forward walk suffices.
  const std::vector<Range>& old = p.ranges;
  std::vector<Range> out;
  size_t j = 0;
  for (const Vma& span : spans) {
    if (span.end - span.start < config_.min_span_bytes) continue;
    while (j < old.size() && old[j].end <= span.start) ++j;
    Vaddr pos = span.start;
    for (size_t k = j; k < old.size() && old[k].start < span.end; ++k) {
      const Vaddr a = std::max(old[k].start, span.start);
      const Vaddr b = std::min(old[k].end, span.end);
      if (a > pos) out.push_back(MakeRange(pos, a));
      out.push_back(Carve({&old[k], 1}, a, b));
      pos = b;
    }
    if (pos < span.end) out.push_back(MakeRange(pos, span.end));
  }
  Rebuild(p, std::move(out));
  RecountRanges();
  EnforceBudget(pid);
  PrunePages(processes_[pid]);
  // EnforceBudget may have merged ranges of any process.
  for (auto& [other, q] : processes_) {
    if (other == pid || q.moments_stale) RecountPageMoments(q);
  }
  RecountPages();
  return absl::OkStatus();
}

absl::Status RangeTracker::RemoveProcess(Pid pid) {
  auto it = processes_.find(pid);
  if (it == processes_.end()) {
    return absl::NotFoundError(absl::StrFormat("pid %d not tracked", pid));
  }
  processes_.erase(it);
  cached_process_ = nullptr;
  cached_pid_ = 0;
  RecountRanges();
  RecountPages();
  return absl::OkStatus();
}

void RangeTracker::Ingest(const Sample& s) {
  Process* p = cached_process_;
  if (s.pid != cached_pid_ || p == nullptr) {
    auto it = processes_.find(s.pid);
    if (it == processes_.end()) {
      ++stats_.samples_unknown_pid;
      if (unknown_pids_.size() < kMaxUnknownPids) unknown_pids_.insert(s.pid);
      return;
    }
    p = &it->second;
    cached_pid_ = s.pid;
    cached_process_ = p;
  }
  // Branchless binary search for the last start <= vaddr: sample addresses
  // are random, so a branchy search mispredicts at almost every level; the
  // conditional move keeps 2,048 ranges within the ns/sample goal.
  const Vaddr* base = p->starts.data();
  size_t n = p->starts.size();
  if (n == 0 || s.vaddr < base[0]) {
    ++stats_.samples_unmapped;
    return;
  }
  while (n > 1) {
    const size_t half = n / 2;
    base = base[half] <= s.vaddr ? base + half : base;
    n -= half;
  }
  Range& r = p->ranges[static_cast<size_t>(base - p->starts.data())];
  if (s.vaddr >= r.end) {
    ++stats_.samples_unmapped;
    return;
  }
  const uint64_t off = s.vaddr - r.start;
  const size_t block =
      static_cast<size_t>((static_cast<unsigned __int128>(off) * r.recip) >> 64);
  const double w = s.weight;
  r.weight += w;
  r.sub[block] += w;
  if (s.kind == AccessKind::kStore) r.store_weight += w;
  if (s.weight == 1 && config_.max_page_counts > 0) CountPage(*p, r, s.vaddr);
  ++stats_.samples_ingested;
}

size_t RangeTracker::MergePass(Process& p) {
  if (p.ranges.size() < 2) return 0;
  std::vector<Range> out;
  out.reserve(p.ranges.size());
  size_t merged = 0;
  Range cur = p.ranges[0];
  for (size_t i = 1; i < p.ranges.size(); ++i) {
    const Range& next = p.ranges[i];
    const bool contiguous = cur.end == next.start;
    const bool alike = Contrast(cur, next) < config_.merge_contrast;
    const bool idle = cur.weight + next.weight < config_.merge_max_weight;
    if (contiguous && (alike || idle)) {
      const Range pair[2] = {cur, next};
      cur = Carve(pair, cur.start, next.end);
      ++merged;
    } else {
      out.push_back(cur);
      cur = next;
    }
  }
  out.push_back(cur);
  Rebuild(p, std::move(out));
  return merged;
}

size_t RangeTracker::SplitPass() {
  struct Candidate {
    double score;
    Pid pid;
    size_t index;
    Vaddr cut;
  };
  std::vector<Candidate> cands;
  const uint64_t g = config_.min_range_bytes;
  for (auto& [pid, p] : processes_) {
    for (size_t i = 0; i < p.ranges.size(); ++i) {
      const Range& r = p.ranges[i];
      if (r.weight < config_.split_min_weight || r.weight <= 0) continue;
      const uint64_t len = r.end - r.start;
      // Pick the cut that best separates dense from sparse (Otsu's rule:
      // largest between-sides variance of density, (dl-dr)^2 * ll * lr / len);
      // plain contrast would rate every cut next to an empty area at 1.
      double best_score = -1;
      double best = 0;
      Vaddr best_cut = 0;
      // Candidate cuts: the sub-block edges, rounded to the granularity.
      for (int k = 1; k < kSubBlocks; ++k) {
        const Vaddr x = r.start + len / kSubBlocks * k;
        const Vaddr cut = (x + g / 2) / g * g;
        if (cut <= r.start || cut >= r.end) continue;
        const double left_len = static_cast<double>(cut - r.start);
        const double right_len = static_cast<double>(r.end - cut);
        const double wl =
            MassIn(r.sub, static_cast<double>(len), 0, left_len);
        const double wr = std::max(0.0, r.weight - wl);
        const double dl = wl / left_len;
        const double dr = wr / right_len;
        const double score = (dl - dr) * (dl - dr) * left_len * right_len;
        if (score > best_score) {
          best_score = score;
          best = dl + dr > 0 ? std::abs(dl - dr) / (dl + dr) : 0;
          best_cut = cut;
        }
      }
      if (best >= config_.split_contrast && best_cut != 0) {
        cands.push_back({best * r.weight, pid, i, best_cut});
      }
    }
  }
  const size_t room =
      config_.max_ranges > range_count_ ? config_.max_ranges - range_count_ : 0;
  if (cands.empty() || room == 0) return 0;
  // Most weight-weighted skew first; pid/index make the order total, so a
  // run is reproducible whatever the hash map's iteration order.
  std::sort(cands.begin(), cands.end(), [](const Candidate& a, const Candidate& b) {
    return std::tie(b.score, a.pid, a.index) < std::tie(a.score, b.pid, b.index);
  });
  if (cands.size() > room) cands.resize(room);
  std::sort(cands.begin(), cands.end(), [](const Candidate& a, const Candidate& b) {
    return std::tie(a.pid, a.index) < std::tie(b.pid, b.index);
  });
  for (size_t c = 0; c < cands.size();) {
    Process& p = processes_[cands[c].pid];
    std::vector<Range> out;
    out.reserve(p.ranges.size() + cands.size());
    const Pid pid = cands[c].pid;
    for (size_t i = 0; i < p.ranges.size(); ++i) {
      const Range& r = p.ranges[i];
      if (c < cands.size() && cands[c].pid == pid && cands[c].index == i) {
        out.push_back(Carve({&r, 1}, r.start, cands[c].cut));
        out.push_back(Carve({&r, 1}, cands[c].cut, r.end));
        ++c;
      } else {
        out.push_back(r);
      }
    }
    Rebuild(p, std::move(out));
  }
  return cands.size();
}

void RangeTracker::EnforceBudget(Pid victim) {
  // Merge contiguous neighbours, anywhere, until the total fits: those
  // whose merge loses the least information (contrast x weight) first, and
  // only pairs below split_contrast -- merging a hot range into a cold one
  // would be undone by the next split and costs more than it saves.  Each
  // round merges disjoint pairs only, so the greedy choice is well defined.
  while (range_count_ > config_.max_ranges) {
    struct Pair {
      double loss;
      double contrast;
      Pid pid;
      size_t index;
    };
    std::vector<Pair> pairs;
    for (const auto& [pid, p] : processes_) {
      for (size_t i = 0; i + 1 < p.ranges.size(); ++i) {
        const Range& a = p.ranges[i];
        const Range& b = p.ranges[i + 1];
        if (a.end != b.start) continue;
        const double contrast = Contrast(a, b);
        if (contrast >= config_.split_contrast) continue;
        pairs.push_back({contrast * (a.weight + b.weight), contrast, pid, i});
      }
    }
    if (pairs.empty()) break;
    std::sort(pairs.begin(), pairs.end(), [](const Pair& a, const Pair& b) {
      return std::tie(a.loss, a.contrast, a.pid, a.index) <
             std::tie(b.loss, b.contrast, b.pid, b.index);
    });
    size_t excess = range_count_ - config_.max_ranges;
    absl::flat_hash_map<Pid, std::vector<char>> merge_next;  // i merges with i+1
    for (const Pair& pr : pairs) {
      if (excess == 0) break;
      std::vector<char>& m = merge_next[pr.pid];
      if (m.empty()) m.assign(processes_[pr.pid].ranges.size() + 1, 0);
      // A range may take part in one merge per round.
      if (m[pr.index] || (pr.index > 0 && m[pr.index - 1]) || m[pr.index + 1]) continue;
      m[pr.index] = 1;
      --excess;
    }
    for (auto& [pid, m] : merge_next) {
      Process& p = processes_[pid];
      std::vector<Range> out;
      for (size_t i = 0; i < p.ranges.size(); ++i) {
        if (m[i]) {
          out.push_back(Carve({&p.ranges[i], 2}, p.ranges[i].start, p.ranges[i + 1].end));
          ++stats_.forced_merges;
          ++i;
        } else {
          out.push_back(p.ranges[i]);
        }
      }
      Rebuild(p, std::move(out));
    }
    RecountRanges();
  }
  if (range_count_ <= config_.max_ranges) return;
  // The process that just grew gives up ranges, smallest first: the others
  // fitted before, so this always ends.  (First come, first served: a
  // tracker whose budget is spent on refined hot spots leaves newcomers
  // with their largest areas only; stats().dropped_spans shows it.)
  auto it = processes_.find(victim);
  PLACEMENT_CHECK(it != processes_.end());
  std::vector<Range>& rs = it->second.ranges;
  std::vector<size_t> order(rs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return rs[a].end - rs[a].start < rs[b].end - rs[b].start;
  });
  const size_t drop = std::min(rs.size(), range_count_ - config_.max_ranges);
  std::vector<char> dropped(rs.size(), 0);
  for (size_t k = 0; k < drop; ++k) dropped[order[k]] = 1;
  std::vector<Range> out;
  for (size_t i = 0; i < rs.size(); ++i) {
    if (!dropped[i]) out.push_back(rs[i]);
  }
  stats_.dropped_spans += drop;  // ranges, counted as the spans they cover
  Rebuild(it->second, std::move(out));
  RecountRanges();
  PLACEMENT_CHECK(range_count_ <= config_.max_ranges);
}

size_t RangeTracker::EndEpoch() {
  for (auto& [pid, p] : processes_) {
    stats_.merges += MergePass(p);
  }
  RecountRanges();
  stats_.splits += SplitPass();
  RecountRanges();
  const double f = config_.decay_factor;
  for (auto& [pid, p] : processes_) {
    for (Range& r : p.ranges) {
      r.weight *= f;
      r.store_weight *= f;
      for (double& w : r.sub) w *= f;
    }
    if (p.pages == nullptr || p.pages->empty()) {
      if (p.moments_stale) RecountPageMoments(p);
      p.moments_stale = false;
      continue;
    }
    // Decay and forget in one pass.  The moments follow without a lookup
    // per page: every count scales by d (sum by d, squares by d^2), and
    // only a forgotten page's range is looked up, to take it out.  After a
    // split or merge, and every kMomentRecountEpochs epochs (against
    // rounding drift), they are recomputed from the counts instead.
    const auto fp = static_cast<float>(config_.page_decay_factor);
    const double floor = config_.page_min_count;
    const bool recount = p.moments_stale || (epoch_ + 1) % kMomentRecountEpochs == 0;
    if (!recount) {
      for (Range& r : p.ranges) {
        r.page_sum *= fp;
        r.page_sum_sq *= static_cast<double>(fp) * fp;
      }
    }
    PageHeatMap& m = MutablePages(p);
    for (auto it = m.begin(); it != m.end();) {
      it->second *= fp;
      if (it->second >= floor) {
        ++it;
        continue;
      }
      if (!recount) {
        if (Range* r = RangeOf(p, it->first * kBasePageBytes); r != nullptr) {
          const double c = it->second;
          r->page_counted -= std::min<uint64_t>(r->page_counted, 1);
          r->page_sum = std::max(0.0, r->page_sum - c);
          r->page_sum_sq = std::max(0.0, r->page_sum_sq - c * c);
        }
      }
      m.erase(it++);
    }
    if (recount) RecountPageMoments(p);
    p.moments_stale = false;
  }
  RecountPages();
  MakeRoomForNewPages();
  ++epoch_;
  ++stats_.epochs;
  PLACEMENT_CHECK(range_count_ <= config_.max_ranges);
  return range_count_;
}

TrackerSnapshot RangeTracker::Snapshot() const {
  std::vector<Pid> pids;
  pids.reserve(processes_.size());
  for (const auto& [pid, p] : processes_) pids.push_back(pid);
  std::sort(pids.begin(), pids.end());
  std::vector<RangeStats> out;
  out.reserve(range_count_);
  PageHeat pages;
  for (Pid pid : pids) {
    const Process& p = processes_.at(pid);
    // A process's counts go into the snapshot only when one of its ranges
    // looks over-dispersed (RangeStats::PageCountsOverDispersed, over all
    // its bytes): sharing the map makes the next Ingest copy it, and most
    // processes have none to resolve.
    bool share = false;
    for (const Range& r : p.ranges) {
      out.push_back(ToStats(pid, r));
      share = share || out.back().PageCountsOverDispersed(out.back().bytes());
    }
    if (share && p.pages != nullptr && !p.pages->empty()) pages.emplace_back(pid, p.pages);
  }
  return TrackerSnapshot(epoch_, std::move(out), std::move(pages));
}

std::vector<Pid> RangeTracker::TakeUnknownPids() {
  std::vector<Pid> out(unknown_pids_.begin(), unknown_pids_.end());
  std::sort(out.begin(), out.end());
  unknown_pids_.clear();
  return out;
}

}  // namespace tiervm::placement
