// Helpers shared by the placement unit tests.
#ifndef TIERVM_TESTS_UNIT_PLACEMENT_TEST_UTIL_H_
#define TIERVM_TESTS_UNIT_PLACEMENT_TEST_UTIL_H_

#include <string>

#include "absl/strings/str_format.h"
#include "placement/snapshot.h"

namespace tiervm::placement::testing {

inline constexpr uint64_t kMiB = 1ull << 20;
inline constexpr Vaddr kBase = 0x7f0000000000ull;

// "[0,6)[6,8)[8,16)": the ranges of `pid` in MiB relative to kBase.  Easy
// to compare with the address pictures in the tests and the README.
inline std::string Layout(const TrackerSnapshot& snap, Pid pid) {
  std::string out;
  for (const RangeStats& r : snap.ranges()) {
    if (r.pid != pid) continue;
    const double a = static_cast<double>(r.start - kBase) / kMiB;
    const double b = static_cast<double>(r.end - kBase) / kMiB;
    out += absl::StrFormat("[%g,%g)", a, b);
  }
  return out;
}

inline Vaddr At(double mib) { return kBase + static_cast<Vaddr>(mib * kMiB); }

// The range [a, b) MiB of `pid` with `weight` spread evenly over its
// sub-blocks.
inline RangeStats R(double a_mib, double b_mib, double weight, Pid pid) {
  RangeStats r;
  r.pid = pid;
  r.start = At(a_mib);
  r.end = At(b_mib);
  r.weight = weight;
  r.sub_weight.fill(weight / kSubBlocks);
  return r;
}

// `r` with the moments of the counts in `pages` that fall inside it, as
// the tracker keeps them.
inline RangeStats WithCounts(RangeStats r, const PageHeatMap& pages) {
  for (const auto& [vpn, count] : pages) {
    const Vaddr a = vpn * kBasePageBytes;
    if (a < r.start || a >= r.end) continue;
    ++r.page_counted;
    r.page_sum += count;
    r.page_sum_sq += static_cast<double>(count) * count;
  }
  return r;
}

}  // namespace tiervm::placement::testing

#endif  // TIERVM_TESTS_UNIT_PLACEMENT_TEST_UTIL_H_
