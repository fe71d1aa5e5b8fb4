// Injectable time source (the tcmalloc idiom): everything in the core that
// measures elapsed time (telemetry rate limits, actuation timeouts, M3
// threshold adaptation) asks a Clock, so tests drive time by hand.
#ifndef TIERVM_HOST_AGENT_CORE_CLOCK_H_
#define TIERVM_HOST_AGENT_CORE_CLOCK_H_

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tiervm::agent {

// Thread-safety: implementations must be safe to call from any thread.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// Wall-clock time.  A process-wide instance; never destroyed.
class RealClock final : public Clock {
 public:
  static const RealClock& Get();
  absl::Time Now() const override { return absl::Now(); }
};

// Time that moves only when told to.  Starts at the Unix epoch + 1 day so
// that "never" (absl::InfinitePast) and "just started" are distinguishable.
// Thread-safe.
class FakeClock final : public Clock {
 public:
  FakeClock() = default;
  explicit FakeClock(absl::Time start) : now_(start) {}

  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }
  void Set(absl::Time t) {
    absl::MutexLock lock(&mu_);
    now_ = t;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ = absl::UnixEpoch() + absl::Hours(24);
};

}  // namespace tiervm::agent

#endif  // TIERVM_HOST_AGENT_CORE_CLOCK_H_
