#include "core/utility_policy.h"

#include <algorithm>
#include <vector>

#include "core/hotness_curve.h"

namespace tiervm::agent {

void AlignToGranule(const std::vector<VmRange>& ranges, uint64_t granule_bytes,
                    FmemPlan* plan) {
  for (size_t i = 0; i < ranges.size(); ++i) {
    uint64_t& d = plan->vms[i].desired_fmem_bytes;
    d = std::max(ranges[i].lo_bytes, d & ~(granule_bytes - 1));
  }
}

FmemPlan UtilityPolicy::Decide(const HostSnapshot& snap) const {
  const std::vector<VmRange> ranges = GuardRanges(snap, args_.guard);
  FmemPlan plan;
  plan.policy = std::string(kUtilityPolicyName);
  plan.vms.resize(snap.size());

  uint64_t remaining = snap.fmem_budget_bytes();
  for (size_t i = 0; i < snap.size(); ++i) {
    plan.vms[i] = {ranges[i].lo_bytes, ranges[i].verdict};
    remaining -= ranges[i].lo_bytes;  // GuardRanges: Σ lo <= budget
  }

  // One piece per envelope segment clipped to the VM's (lo, hi].
  struct Piece {
    double value;  // weight × ppm per byte
    uint32_t vm;
    uint64_t len_bytes;
  };
  std::vector<Piece> pieces;
  pieces.reserve(snap.size() * 4);
  std::vector<CurveSegment> segments;
  for (size_t i = 0; i < snap.size(); ++i) {
    const VmView& vm = snap.vm(i);
    const VmRange& r = ranges[i];
    if (r.hi_bytes <= r.lo_bytes) continue;
    segments.clear();
    if (vm.telemetry_fresh && !vm.telemetry->hotness.empty()) {
      ConcaveSegments(vm.telemetry->hotness, &segments);
    } else {
      UniformSegments(vm.config.max_fmem_bytes, &segments);
    }
    for (const CurveSegment& s : segments) {
      const uint64_t b = std::max(s.begin_bytes, r.lo_bytes);
      const uint64_t e = std::min(s.end_bytes, r.hi_bytes);
      if (e <= b) continue;
      pieces.push_back(
          {s.ppm_per_byte * vm.config.weight, static_cast<uint32_t>(i), e - b});
    }
  }
  // Ties go to the VM first in id order, so the plan is deterministic.
  std::sort(pieces.begin(), pieces.end(), [](const Piece& a, const Piece& b) {
    if (a.value != b.value) return a.value > b.value;
    return a.vm < b.vm;
  });
  for (const Piece& p : pieces) {
    if (remaining == 0) break;
    const uint64_t give = std::min(p.len_bytes, remaining);
    plan.vms[p.vm].desired_fmem_bytes += give;
    remaining -= give;
  }
  AlignToGranule(ranges, args_.granule_bytes, &plan);
  return plan;
}

absl::StatusOr<std::unique_ptr<FmemPolicy>> MakeUtilityPolicy(
    const PolicyArgs& args) {
  if (absl::Status s = ValidatePolicyArgs(args); !s.ok()) return s;
  return std::make_unique<UtilityPolicy>(args);
}

}  // namespace tiervm::agent
