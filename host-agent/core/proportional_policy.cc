#include "core/proportional_policy.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/utility_policy.h"

namespace tiervm::agent {
namespace {

uint64_t Fill(double level, uint32_t weight, const VmRange& r) {
  const double x = std::floor(level * weight);
  if (x <= static_cast<double>(r.lo_bytes)) return r.lo_bytes;
  if (x >= static_cast<double>(r.hi_bytes)) return r.hi_bytes;
  return static_cast<uint64_t>(x);
}

}  // namespace

FmemPlan ProportionalPolicy::Decide(const HostSnapshot& snap) const {
  const std::vector<VmRange> ranges = GuardRanges(snap, args_.guard);
  FmemPlan plan;
  plan.policy = std::string(kProportionalPolicyName);
  plan.vms.resize(snap.size());

  auto total_at = [&](double level) {
    uint64_t sum = 0;
    for (size_t i = 0; i < snap.size(); ++i) {
      sum += Fill(level, snap.vm(i).config.weight, ranges[i]);
    }
    return sum;
  };
  // Σ is monotone in the level; level 0 gives Σ lo <= budget.  The upper
  // end fills every VM to hi (weight >= 1).
  double lo_level = 0;
  double hi_level = 0;
  for (const VmRange& r : ranges) {
    hi_level = std::max(hi_level, static_cast<double>(r.hi_bytes));
  }
  if (total_at(hi_level) <= snap.fmem_budget_bytes()) {
    lo_level = hi_level;
  } else {
    for (int round = 0; round < 64; ++round) {
      const double mid = (lo_level + hi_level) / 2;
      if (total_at(mid) <= snap.fmem_budget_bytes()) {
        lo_level = mid;
      } else {
        hi_level = mid;
      }
    }
  }
  for (size_t i = 0; i < snap.size(); ++i) {
    plan.vms[i] = {Fill(lo_level, snap.vm(i).config.weight, ranges[i]),
                   ranges[i].verdict};
  }
  AlignToGranule(ranges, args_.granule_bytes, &plan);
  return plan;
}

absl::StatusOr<std::unique_ptr<FmemPolicy>> MakeProportionalPolicy(
    const PolicyArgs& args) {
  if (absl::Status s = ValidatePolicyArgs(args); !s.ok()) return s;
  return std::make_unique<ProportionalPolicy>(args);
}

}  // namespace tiervm::agent
