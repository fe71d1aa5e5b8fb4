#include "placement/snapshot.h"

#include <algorithm>
#include <utility>

#include "placement/check.h"

namespace tiervm::placement {

double RangeStats::WeightIn(Vaddr a, Vaddr b) const {
  a = std::max(a, start);
  b = std::min(b, end);
  if (a >= b) return 0;
  // Positions as doubles: sub-block edges need not fall on byte boundaries
  // when the range length is not a multiple of kSubBlocks.
  const double len = static_cast<double>(bytes());
  const double x0 = static_cast<double>(a - start);
  const double x1 = static_cast<double>(b - start);
  const double block = len / kSubBlocks;
  double sum = 0;
  for (int i = 0; i < kSubBlocks; ++i) {
    const double lo = i * block;
    const double hi = (i + 1) * block;
    const double overlap = std::min(hi, x1) - std::max(lo, x0);
    if (overlap > 0) sum += sub_weight[i] * overlap / block;
  }
  return sum;
}

RangeStats::CountMoments RangeStats::PageCountMoments(uint64_t present_bytes) const {
  const double n = std::max(static_cast<double>(present_bytes / kBasePageBytes),
                            static_cast<double>(page_counted));
  if (n <= 0) return {};
  const double mean = page_sum / n;
  return {mean, page_sum_sq / n - mean * mean};
}

bool RangeStats::PageCountsOverDispersed(uint64_t present_bytes) const {
  if (page_counted < 2 || !(page_sum > 0)) return false;
  const CountMoments m = PageCountMoments(present_bytes);
  return m.var > m.mean * 1.01;
}

TrackerSnapshot::TrackerSnapshot(uint64_t epoch, std::vector<RangeStats> ranges,
                                 PageHeat pages)
    : epoch_(epoch), ranges_(std::move(ranges)), pages_(std::move(pages)) {
  for (size_t i = 0; i < pages_.size(); ++i) {
    PLACEMENT_CHECK(pages_[i].second != nullptr);
    if (i > 0) PLACEMENT_CHECK(pages_[i - 1].first < pages_[i].first);
  }
  for (size_t i = 0; i < ranges_.size(); ++i) {
    const RangeStats& r = ranges_[i];
    PLACEMENT_CHECK(r.start < r.end);
    if (i > 0) {
      const RangeStats& p = ranges_[i - 1];
      PLACEMENT_CHECK(p.pid < r.pid || (p.pid == r.pid && p.end <= r.start));
    }
    total_weight_ += r.weight;
    total_bytes_ += r.bytes();
  }
}

double TrackerSnapshot::WeightIn(Pid pid, Vaddr start, Vaddr end) const {
  // First range of `pid` that ends after `start`.
  auto it = std::lower_bound(
      ranges_.begin(), ranges_.end(), std::pair<Pid, Vaddr>(pid, start),
      [](const RangeStats& r, const std::pair<Pid, Vaddr>& key) {
        return r.pid < key.first || (r.pid == key.first && r.end <= key.second);
      });
  double sum = 0;
  for (; it != ranges_.end() && it->pid == pid && it->start < end; ++it) {
    sum += it->WeightIn(start, end);
  }
  return sum;
}

std::array<double, kSubBlocks> TrackerSnapshot::Profile(Pid pid, Vaddr start,
                                                        Vaddr end) const {
  std::array<double, kSubBlocks> out{};
  const uint64_t block = (end - start) / kSubBlocks;
  for (int i = 0; i < kSubBlocks; ++i) {
    const Vaddr a = start + i * block;
    const Vaddr b = i + 1 == kSubBlocks ? end : a + block;
    out[i] = WeightIn(pid, a, b);
  }
  return out;
}

const PageHeatMap* TrackerSnapshot::PagesOf(Pid pid) const {
  auto it = std::lower_bound(pages_.begin(), pages_.end(), pid,
                             [](const auto& e, Pid p) { return e.first < p; });
  return it != pages_.end() && it->first == pid ? it->second.get() : nullptr;
}

double TrackerSnapshot::PageCountIn(Pid pid, Vaddr start, Vaddr end) const {
  const PageHeatMap* m = PagesOf(pid);
  if (m == nullptr || m->empty()) return 0;
  double sum = 0;
  for (uint64_t vpn = start / kBasePageBytes; vpn * kBasePageBytes < end; ++vpn) {
    if (auto it = m->find(vpn); it != m->end()) sum += it->second;
  }
  return sum;
}

}  // namespace tiervm::placement
