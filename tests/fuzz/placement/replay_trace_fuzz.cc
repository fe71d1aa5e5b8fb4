// Fuzz target for the replay-trace parser.
//
// Properties checked on every input:
//   - DecodeTrace never crashes, whatever the bytes (ASan/UBSan builds
//     catch out-of-bounds reads and overflow);
//   - an accepted trace is canonical: re-encoding it gives back exactly the
//     input bytes (so no field is silently ignored or normalised);
//   - a ReplaySource over it replays every sample once, in order.
// Build with clang -fsanitize=fuzzer for libFuzzer, or link
// fuzz_driver_main.cc for the deterministic ctest run.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "placement/replay_trace.h"

namespace {

void Fail(const char* what) {
  std::fprintf(stderr, "replay_trace_fuzz: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tiervm::placement;
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::vector<Sample>> decoded = DecodeTrace(bytes);
  if (!decoded.ok()) {
    if (decoded.status().message().empty()) Fail("error without a message");
    return 0;
  }
  if (EncodeTrace(*decoded) != bytes) Fail("accepted trace is not canonical");
  absl::StatusOr<ReplaySource> src = ReplaySource::FromBytes(bytes);
  if (!src.ok()) Fail("ReplaySource rejects what DecodeTrace accepts");
  std::vector<Sample> buf(7);
  size_t seen = 0;
  while (!src->Exhausted()) {
    absl::StatusOr<size_t> n = src->Read(absl::MakeSpan(buf));
    if (!n.ok() || *n == 0) Fail("replay stalled");
    for (size_t i = 0; i < *n; ++i) {
      if (!(buf[i] == (*decoded)[seen + i])) Fail("replay out of order");
    }
    seen += *n;
  }
  if (seen != decoded->size()) Fail("replay lost samples");
  return 0;
}
