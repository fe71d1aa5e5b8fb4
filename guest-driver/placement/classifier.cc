#include "placement/classifier.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace tiervm::placement {
namespace {

constexpr double kMiB = 1 << 20;
// Counted pages of a page-resolved range are grouped by density into
// bins of 1/8 octave before ranking (a range may have 100k counted pages;
// the ranking sorts groups, and only the group at the boundary page by page).
constexpr double kBinsPerOctave = 8;
int DensityBin(double density) {
  return static_cast<int>(std::floor(std::log2(density) * kBinsPerOctave));
}

// A unit of the ranking: a whole range, the counted pages of a
// page-resolved range within one density bin, or its uncounted rest.
struct Unit {
  enum Kind { kRange, kCounted, kRest };
  double density = 0;
  uint64_t bytes = 0;
  size_t cls = 0;
  Kind kind = kRange;
  int bin = 0;
  double floor = 0;  // the lowest density in the unit (counted pages: the bin's least)
};

double FactorOf(const RangeClass& rc, double count) {
  return (rc.page_alpha + count) / ((rc.page_beta + 1) * rc.page_mean_count);
}

}  // namespace

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

double PageDensity(const TrackerSnapshot& snapshot, const RangeClass& rc, Vaddr addr,
                   uint64_t bytes) {
  if (rc.faint || bytes == 0) return 0;
  if (rc.page_resolved) {
    const double pages = static_cast<double>(bytes) / kBasePageBytes;
    const double count = snapshot.PageCountIn(rc.pid, addr, addr + bytes) / pages;
    return rc.density * FactorOf(rc, count);
  }
  return snapshot.WeightIn(rc.pid, addr, addr + bytes) * kMiB / static_cast<double>(bytes);
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
  c.cut_density = std::numeric_limits<double>::infinity();
  const double min_density = config.min_hot_weight_per_mib;
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
    rc.density = r.weight * kMiB / static_cast<double>(res->resident_bytes());
    c.resident_bytes += res->resident_bytes();
    c.fmem_bytes += res->fmem_bytes;
    c.total_weight += r.weight;
    c.fmem_weight_fraction += r.weight * static_cast<double>(res->fmem_bytes) /
                              static_cast<double>(res->resident_bytes());
    c.ranges.push_back(rc);
  }
  if (c.total_weight > 0) c.fmem_weight_fraction /= c.total_weight;

  // Page-resolved ranges: the tracker's count moments say which, over the
  // range's resident pages (uncounted pages count 0); the snapshot must
  // hold the counts themselves (it holds them for processes with a range
  // that looks over-dispersed).
  absl::flat_hash_set<Pid> resolved_pids;
  for (RangeClass& rc : c.ranges) {
    const RangeStats& r = ranges[rc.snapshot_index];
    const uint64_t resident = rc.residency.resident_bytes();
    if (rc.density > 0 && r.PageCountsOverDispersed(resident) &&
        snapshot.PagesOf(rc.pid) != nullptr) {
      const auto [mean, var] = r.PageCountMoments(resident);
      // The gamma prior Gamma(alpha, beta) of a page's count has the
      // range's mean and its excess variance.
      rc.page_resolved = true;
      rc.page_alpha = mean * mean / (var - mean);
      rc.page_beta = mean / (var - mean);
      rc.page_mean_count = mean;
      ++c.page_resolved_ranges;
      resolved_pids.insert(rc.pid);
    }
    // A page-resolved range is judged page by page (its hot pages may be
    // dense in a range that is faint on the whole).
    rc.faint = !rc.page_resolved && rc.density < min_density;
  }
  // Their counted pages.  c.ranges is in snapshot order here, sorted by
  // (pid, start): one binary search per counted page of such a process.
  for (const auto& [pid, map] : snapshot.page_heat()) {
    if (!resolved_pids.contains(pid)) continue;
    auto first = std::lower_bound(c.ranges.begin(), c.ranges.end(), pid,
                                  [](const RangeClass& rc, Pid p) { return rc.pid < p; });
    auto last = std::upper_bound(first, c.ranges.end(), pid,
                                 [](Pid p, const RangeClass& rc) { return p < rc.pid; });
    for (const auto& [vpn, count] : *map) {
      const Vaddr a = vpn * kBasePageBytes;
      auto it = std::upper_bound(first, last, a,
                                 [](Vaddr x, const RangeClass& rc) { return x < rc.start; });
      if (it == first) continue;
      --it;
      if (a < it->end && it->page_resolved) it->counted_pages.emplace_back(count, a);
    }
  }

  // Order ranges densest first (ties by address: reproducible results).
  std::sort(c.ranges.begin(), c.ranges.end(), [](const RangeClass& x, const RangeClass& y) {
    return std::tie(y.density, x.pid, x.start) < std::tie(x.density, y.pid, y.start);
  });

  // Units: a range of even density is one; a page-resolved range gives one
  // per density bin of its counted pages, and its uncounted rest.
  std::vector<Unit> units;
  units.reserve(c.ranges.size());
  for (size_t i = 0; i < c.ranges.size(); ++i) {
    RangeClass& rc = c.ranges[i];
    const uint64_t resident = rc.residency.resident_bytes();
    if (!rc.page_resolved) {
      rc.max_density = rc.min_density = rc.faint ? 0 : rc.density;
      units.push_back({rc.max_density, resident, i, Unit::kRange, 0, rc.max_density});
      continue;
    }
    struct Bin {
      uint64_t pages = 0;
      double sum = 0;
      double min = std::numeric_limits<double>::infinity();
    };
    absl::flat_hash_map<int, Bin> bins;
    uint64_t counted = 0;
    double lo = std::numeric_limits<double>::infinity();
    double hi = 0;
    for (const auto& [count, addr] : rc.counted_pages) {
      const double d = rc.density * FactorOf(rc, count);
      Bin& b = bins[d > 0 ? DensityBin(d) : std::numeric_limits<int>::min()];
      ++b.pages;
      b.sum += d;
      b.min = std::min(b.min, d);
      ++counted;
      lo = std::min(lo, d);
      hi = std::max(hi, d);
    }
    for (const auto& [bin, b] : bins) {
      units.push_back({b.sum / static_cast<double>(b.pages), b.pages * kBasePageBytes, i,
                       Unit::kCounted, bin, b.min});
    }
    const uint64_t counted_bytes = counted * kBasePageBytes;
    if (resident > counted_bytes) {
      const double rest = rc.density * FactorOf(rc, 0);
      units.push_back({rest, resident - counted_bytes, i, Unit::kRest, 0, rest});
      lo = std::min(lo, rest);
      hi = std::max(hi, rest);
    }
    rc.max_density = hi;
    rc.min_density = std::isfinite(lo) ? lo : 0;
  }
  std::sort(units.begin(), units.end(), [](const Unit& a, const Unit& b) {
    return std::tie(b.density, a.cls, a.kind, a.bin) < std::tie(a.density, b.cls, b.kind, b.bin);
  });

  // Fill the target hottest first.  Unsampled or faint memory is never
  // hot, however much room is left.
  uint64_t room = c.target_fmem_bytes;
  for (const Unit& u : units) {
    if (!(u.density > 0) || u.density < min_density || room == 0) break;
    RangeClass& rc = c.ranges[u.cls];
    if (u.kind == Unit::kCounted && u.bytes > room) {
      // The boundary: the bin's hottest pages, one by one.
      std::vector<double> ds;
      for (const auto& [count, addr] : rc.counted_pages) {
        const double d = rc.density * FactorOf(rc, count);
        if (d > 0 && DensityBin(d) == u.bin) ds.push_back(d);
      }
      std::sort(ds.begin(), ds.end(), std::greater<>());
      const size_t take = std::min<size_t>(ds.size(), room / kBasePageBytes);
      if (take > 0) c.cut_density = ds[take - 1];
      rc.hot_bytes += take * kBasePageBytes;
      c.hot_bytes += take * kBasePageBytes;
      room = 0;
      break;
    }
    const uint64_t take = std::min(room, u.bytes);
    rc.hot_bytes += take;
    c.hot_bytes += take;
    room -= take;
    // The uncounted rest of a page-resolved range, hot in part: its pages
    // are all alike, so none is promoted and those on FMEM make room for
    // hotter ones first (the cut lies just above them).
    c.cut_density = u.kind == Unit::kRest && take < u.bytes
                        ? std::nextafter(u.density, std::numeric_limits<double>::infinity())
                        : u.floor;
  }

  for (RangeClass& rc : c.ranges) {
    const uint64_t resident = rc.residency.resident_bytes();
    const uint64_t fmem = rc.residency.fmem_bytes;
    if (rc.page_resolved) {
      rc.promote_max_bytes = std::min(rc.hot_bytes, rc.residency.smem_bytes);
      rc.demote_max_bytes = std::min(resident - std::min(resident, rc.hot_bytes), fmem);
    } else {
      rc.promote_max_bytes = rc.hot_bytes > fmem ? rc.hot_bytes - fmem : 0;
      rc.demote_max_bytes = fmem > rc.hot_bytes ? fmem - rc.hot_bytes : 0;
    }
  }
  for (size_t i = 0; i < c.ranges.size(); ++i) {
    if (c.ranges[i].promote_bytes() > 0) c.promote.push_back(i);
    if (c.ranges[i].demote_bytes() > 0) c.demote.push_back(i);
  }
  // Hottest unit first; coldest unit first (ties: the later range first,
  // as the reverse of the density order).
  std::stable_sort(c.promote.begin(), c.promote.end(), [&](size_t a, size_t b) {
    return c.ranges[a].max_density > c.ranges[b].max_density;
  });
  std::sort(c.demote.begin(), c.demote.end(), [&](size_t a, size_t b) {
    return std::tie(c.ranges[a].min_density, b) < std::tie(c.ranges[b].min_density, a);
  });

  // The curve, over units in density order; faint units count with their
  // weight at the end of the order they were ranked in.
  c.curve.push_back({0, 0});
  double covered = 0;
  double unit_weight = 0;
  for (const Unit& u : units) unit_weight += u.density * static_cast<double>(u.bytes) / kMiB;
  uint64_t bytes = 0;
  for (const Unit& u : units) {
    bytes += u.bytes;
    covered += u.density * static_cast<double>(u.bytes) / kMiB;
    const double frac = unit_weight > 0 ? std::min(1.0, covered / unit_weight) : 0;
    c.curve.push_back({bytes, frac});
  }
  if (unit_weight > 0) c.curve.back().covered_fraction = 1.0;
  return c;
}

}  // namespace tiervm::placement
