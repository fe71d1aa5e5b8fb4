#include "core/clock.h"

namespace tiervm::agent {

const RealClock& RealClock::Get() {
  // Leaked on purpose: usable from static destructors and other threads.
  static const RealClock* const clock = new RealClock();
  return *clock;
}

}  // namespace tiervm::agent
