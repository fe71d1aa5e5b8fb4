// PLACEMENT_CHECK: abort on a programmer error (a broken invariant or a
// precondition the caller controls).  Recoverable errors -- bad input,
// missing processes, corrupt traces -- are absl::Status, never a CHECK.
//
// The Abseil shipped with Debian 12 (20220623) predates absl/log/check.h, so
// the library carries this two-line equivalent instead.
#ifndef TIERVM_GUEST_DRIVER_PLACEMENT_CHECK_H_
#define TIERVM_GUEST_DRIVER_PLACEMENT_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define PLACEMENT_CHECK(cond)                                              \
  do {                                                                     \
    if (__builtin_expect(!(cond), 0)) {                                    \
      std::fprintf(stderr, "%s:%d: PLACEMENT_CHECK failed: %s\n", __FILE__, \
                   __LINE__, #cond);                                       \
      std::abort();                                                        \
    }                                                                      \
  } while (0)

#endif  // TIERVM_GUEST_DRIVER_PLACEMENT_CHECK_H_
