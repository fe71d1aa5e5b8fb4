// Clock: the only way the library learns the time or its own CPU use.
//
// The library makes no syscalls; the daemon passes a clock backed by
// clock_gettime(CLOCK_MONOTONIC / CLOCK_PROCESS_CPUTIME_ID), tests and the
// simulator pass a FakeClock they advance by hand.  Implementations must be
// safe to call from the thread that owns the object using them; the library
// never shares one across threads itself.
#ifndef TIERVM_GUEST_DRIVER_PLACEMENT_CLOCK_H_
#define TIERVM_GUEST_DRIVER_PLACEMENT_CLOCK_H_

#include <cstdint>

namespace tiervm::placement {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic wall time, nanoseconds since an arbitrary epoch.
  virtual int64_t MonotonicNs() const = 0;
  // CPU time consumed by the daemon itself (all its threads), nanoseconds.
  virtual int64_t OwnCpuNs() const = 0;
};

// A clock whose readings the owner sets.  Not thread-safe.
class FakeClock final : public Clock {
 public:
  int64_t MonotonicNs() const override { return now_ns_; }
  int64_t OwnCpuNs() const override { return cpu_ns_; }
  void Advance(int64_t wall_ns, int64_t cpu_ns) {
    now_ns_ += wall_ns;
    cpu_ns_ += cpu_ns;
  }

 private:
  int64_t now_ns_ = 0;
  int64_t cpu_ns_ = 0;
};

}  // namespace tiervm::placement

#endif  // TIERVM_GUEST_DRIVER_PLACEMENT_CLOCK_H_
