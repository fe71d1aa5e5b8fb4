// TIERVM_CHECK: abort on a broken invariant (a programmer error, never bad
// input).  Input from guests, the host or the operator is reported with
// absl::Status instead.
//
// Debian 12 ships Abseil 20220623, which predates absl/log (CHECK arrived in
// 20230125), so the core carries this two-line replacement rather than a
// dependency on Abseil's internal raw_logging header.
#ifndef TIERVM_HOST_AGENT_CORE_CHECK_H_
#define TIERVM_HOST_AGENT_CORE_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define TIERVM_CHECK(cond, msg)                                       \
  do {                                                                \
    if (!(cond)) {                                                    \
      std::fprintf(stderr, "%s:%d: check failed: %s: %s\n", __FILE__, \
                   __LINE__, #cond, (msg));                           \
      std::abort();                                                   \
    }                                                                 \
  } while (0)

#endif  // TIERVM_HOST_AGENT_CORE_CHECK_H_
