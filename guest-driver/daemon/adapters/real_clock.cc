#include "daemon/adapters/real_clock.h"

#include <time.h>

#include "placement/check.h"

namespace tiervm::adapters {
namespace {

int64_t Read(clockid_t id) {
  struct timespec ts;
  // Cannot fail for these clock ids on Linux; a failure is a broken libc.
  PLACEMENT_CHECK(::clock_gettime(id, &ts) == 0);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

int64_t RealClock::MonotonicNs() const { return Read(CLOCK_MONOTONIC); }
int64_t RealClock::OwnCpuNs() const { return Read(CLOCK_PROCESS_CPUTIME_ID); }

}  // namespace tiervm::adapters
