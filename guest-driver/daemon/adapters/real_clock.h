// RealClock: the placement library's Clock backed by clock_gettime
// (CLOCK_MONOTONIC for wall time, CLOCK_PROCESS_CPUTIME_ID for the
// daemon's own CPU over all its threads).  Stateless and thread-safe.
#ifndef TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_REAL_CLOCK_H_
#define TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_REAL_CLOCK_H_

#include "placement/clock.h"

namespace tiervm::adapters {

class RealClock final : public placement::Clock {
 public:
  int64_t MonotonicNs() const override;
  int64_t OwnCpuNs() const override;
};

}  // namespace tiervm::adapters

#endif  // TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_REAL_CLOCK_H_
