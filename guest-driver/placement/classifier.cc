#include "placement/classifier.h"

#include <algorithm>
#include <tuple>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace tiervm::placement {

double Classification::CoveredFraction(uint64_t bytes) const {
  if (curve.empty()) return 0;
  if (bytes >= curve.back().bytes) return curve.back().covered_fraction;
  auto it = std::upper_bound(
      curve.begin(), curve.end(), bytes,
      [](uint64_t b, const HotnessPoint& p) { return b < p.bytes; });
  const HotnessPoint& hi = *it;
  const HotnessPoint& lo = *std::prev(it);
  const double t = static_cast<double>(bytes - lo.bytes) /
                   static_cast<double>(hi.bytes - lo.bytes);
  return lo.covered_fraction + t * (hi.covered_fraction - lo.covered_fraction);
}

absl::StatusOr<Classification> Classify(const TrackerSnapshot& snapshot,
                                        const PageLocator& locator,
                                        const ClassifierConfig& config) {
  if (config.headroom_bytes > config.fmem_capacity_bytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "headroom %d B exceeds FMEM capacity %d B", config.headroom_bytes,
        config.fmem_capacity_bytes));
  }
  Classification c;
  c.target_fmem_bytes = config.fmem_capacity_bytes - config.headroom_bytes;
  const auto& ranges = snapshot.ranges();
  for (size_t i = 0; i < ranges.size(); ++i) {
    const RangeStats& r = ranges[i];
    absl::StatusOr<Residency> res = locator.Locate(r.pid, r.start, r.end);
    if (absl::IsNotFound(res.status())) {
      ++c.unlocated_ranges;
      continue;
    }
    if (!res.ok()) return res.status();
    if (res->resident_bytes() == 0) continue;
    RangeClass rc;
    rc.snapshot_index = i;
    rc.pid = r.pid;
    rc.start = r.start;
    rc.end = r.end;
    rc.weight = r.weight;
    rc.residency = *res;
    // Density per *resident* byte: samples can only hit resident pages, so
    // a sparse range's weight is concentrated on what is present.
    rc.density = r.weight * static_cast<double>(1 << 20) /
                 static_cast<double>(res->resident_bytes());
    c.resident_bytes += res->resident_bytes();
    c.fmem_bytes += res->fmem_bytes;
    c.total_weight += r.weight;
    c.fmem_weight_fraction += r.weight * static_cast<double>(res->fmem_bytes) /
                              static_cast<double>(res->resident_bytes());
    c.ranges.push_back(rc);
  }
  if (c.total_weight > 0) c.fmem_weight_fraction /= c.total_weight;
  // Hottest first; ties broken by address so results are reproducible.
  std::sort(c.ranges.begin(), c.ranges.end(), [](const RangeClass& a, const RangeClass& b) {
    return std::tie(b.density, a.pid, a.start) < std::tie(a.density, b.pid, b.start);
  });

  uint64_t room = c.target_fmem_bytes;
  for (RangeClass& rc : c.ranges) {
    // Unsampled memory is never hot, however much room is left.
    if (rc.weight <= 0 || room == 0) break;
    rc.hot_bytes = std::min(room, rc.residency.resident_bytes());
    room -= rc.hot_bytes;
    c.hot_bytes += rc.hot_bytes;
  }

  for (size_t i = 0; i < c.ranges.size(); ++i) {
    if (c.ranges[i].promote_bytes() > 0) c.promote.push_back(i);
  }
  for (size_t i = c.ranges.size(); i-- > 0;) {
    if (c.ranges[i].demote_bytes() > 0) c.demote.push_back(i);
  }

  c.curve.push_back({0, 0});
  double covered = 0;
  uint64_t bytes = 0;
  for (const RangeClass& rc : c.ranges) {
    bytes += rc.residency.resident_bytes();
    covered += rc.weight;
    const double frac = c.total_weight > 0 ? std::min(1.0, covered / c.total_weight) : 0;
    c.curve.push_back({bytes, frac});
  }
  if (c.total_weight > 0) c.curve.back().covered_fraction = 1.0;
  return c;
}

}  // namespace tiervm::placement
