// Hotness-curve arithmetic used by the utility policy.
//
// A curve maps "FMEM given to the VM" (bytes) to "share of the VM's memory
// accesses served from FMEM" (ppm), assuming the guest keeps its hottest
// pages in FMEM (the placement daemon's job).  The curve runs through
// (0, 0) and the reported points, and stays flat after the last point: FMEM
// beyond what the guest says is hot is worth nothing to it.
//
// Pure functions; no state.
#ifndef TIERVM_HOST_AGENT_CORE_HOTNESS_CURVE_H_
#define TIERVM_HOST_AGENT_CORE_HOTNESS_CURVE_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "core/vm_model.h"

namespace tiervm::agent {

// A piece of the curve's upper concave envelope: on [begin_bytes,
// end_bytes) every byte adds `ppm_per_byte` to the served share.
struct CurveSegment {
  uint64_t begin_bytes = 0;
  uint64_t end_bytes = 0;
  double ppm_per_byte = 0;
};

// Served share (ppm) with `fmem_bytes` of FMEM, by linear interpolation.
// `points` must satisfy the Telemetry invariants.
double ServedSharePpm(absl::Span<const HotnessPoint> points,
                      uint64_t fmem_bytes);

// Upper concave envelope of the curve as segments of strictly decreasing,
// positive slope, appended to `out`.  Greedy allocation over these
// segments is optimal for the concave relaxation; using the envelope
// instead of the raw curve keeps a non-concave curve (a hot set that only
// pays off once it fits entirely) from stranding the greedy on a flat part.
// An empty curve yields nothing.
void ConcaveSegments(absl::Span<const HotnessPoint> points,
                     std::vector<CurveSegment>* out);

// The neutral prior for a VM without fresh telemetry: accesses spread
// evenly over `span_bytes` (one segment).  Neither greedy nor starved.
void UniformSegments(uint64_t span_bytes, std::vector<CurveSegment>* out);

}  // namespace tiervm::agent

#endif  // TIERVM_HOST_AGENT_CORE_HOTNESS_CURVE_H_
