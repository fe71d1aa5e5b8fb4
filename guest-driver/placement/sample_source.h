// SampleSource: where sampled accesses come from.
//
// Implementations: the replay source (replay_trace.h, pure, in this
// library); later, in the daemon, PEBS through perf_event_open and the
// accessed-bit scanner of hballoon.ko.  A source owns its buffers; the
// caller owns the span it reads into.  Sources are used from one thread.
#ifndef TIERVM_GUEST_DRIVER_PLACEMENT_SAMPLE_SOURCE_H_
#define TIERVM_GUEST_DRIVER_PLACEMENT_SAMPLE_SOURCE_H_

#include <cstddef>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "placement/types.h"

namespace tiervm::placement {

class SampleSource {
 public:
  virtual ~SampleSource() = default;

  // Fills a prefix of `out` with the samples available now and returns how
  // many.  0 means "nothing right now" for a live source and "end of
  // stream" once Exhausted() is true.  An error means the source is broken
  // (corrupt trace, lost perf buffer); it stays broken.
  virtual absl::StatusOr<size_t> Read(absl::Span<Sample> out) = 0;

  // True once the source will never produce another sample.
  virtual bool Exhausted() const = 0;
};

}  // namespace tiervm::placement

#endif  // TIERVM_GUEST_DRIVER_PLACEMENT_SAMPLE_SOURCE_H_
