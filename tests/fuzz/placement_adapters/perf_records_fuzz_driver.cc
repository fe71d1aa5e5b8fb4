// Deterministic driver for the perf record parser's LLVMFuzzerTestOneInput
// (compilers without libFuzzer).  Generates valid record streams (samples,
// LOST, THROTTLE/UNTHROTTLE, other types) with random ring sizes and tails,
// then mutates them (bit flips, size fields set to 0 / odd / huge,
// truncation, splices).  The same seed gives the same inputs.
//
// usage: fuzz_placement_perf_records [--iterations N] [--seed S] [FILE...]
#include <linux/perf_event.h>

#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "../driver_args.h"
#include "../../unit/placement_adapters/perf_synth.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

void Run(const std::vector<uint8_t>& in) {
  std::vector<uint8_t> copy(in);
  LLVMFuzzerTestOneInput(copy.empty() ? nullptr : copy.data(), copy.size());
}

std::vector<uint8_t> Valid(std::mt19937_64& rng) {
  std::vector<uint8_t> b;
  // Selector 0 = the source's sample_type, which AppendSample writes.
  b.push_back(static_cast<uint8_t>(rng() % 8 == 0 ? rng() % 4 : 0));
  b.push_back(static_cast<uint8_t>(rng() % 8));
  const uint64_t tail = rng() % 3 == 0 ? rng() : (rng() % 4096) * 8;
  for (int i = 0; i < 8; ++i) b.push_back(static_cast<uint8_t>(tail >> (8 * i)));
  b.push_back(static_cast<uint8_t>(rng() % 4 == 0 ? rng() % 16 : 0));
  std::vector<uint8_t> recs;
  const int n = static_cast<int>(rng() % 20);
  for (int i = 0; i < n; ++i) {
    switch (rng() % 6) {
      case 0:
      case 1:
      case 2:
        tiervm::testing::AppendSample(recs, static_cast<uint32_t>(rng()), static_cast<uint32_t>(rng()),
                                      rng(), rng(), rng() % 1000);
        break;
      case 3:
        tiervm::testing::AppendLost(recs, rng(), rng() % 100);
        break;
      case 4:
        tiervm::testing::AppendThrottle(recs, rng(), rng() % 2);
        break;
      default:
        tiervm::testing::AppendOther(recs, static_cast<uint32_t>(rng() % 20),
                                     static_cast<uint16_t>((rng() % 8) * 8));
    }
  }
  b.insert(b.end(), recs.begin(), recs.end());
  return b;
}

void Mutate(std::mt19937_64& rng, std::vector<uint8_t>& s) {
  const int rounds = 1 + static_cast<int>(rng() % 3);
  for (int r = 0; r < rounds && s.size() > 11; ++r) {
    const size_t at = 11 + rng() % (s.size() - 11);
    switch (rng() % 6) {
      case 0:
        s[at] ^= static_cast<uint8_t>(1 << (rng() % 8));
        break;
      case 1: {  // a size field (bytes 6..7 of an 8-aligned header)
        const size_t h = 11 + ((at - 11) / 8) * 8 + 6;
        if (h + 1 < s.size()) {
          const uint16_t v[] = {0, 4, 7, 9, 0xfff8, 0xffff, 8, 16};
          const uint16_t x = v[rng() % 8];
          s[h] = static_cast<uint8_t>(x);
          s[h + 1] = static_cast<uint8_t>(x >> 8);
        }
        break;
      }
      case 2:
        s.resize(at);
        break;
      case 3:
        s.insert(s.begin() + static_cast<long>(at), static_cast<uint8_t>(rng()));
        break;
      case 4:
        s.insert(s.end(), s.begin() + 11, s.begin() + static_cast<long>(at));
        break;
      default:
        s[at] = static_cast<uint8_t>(rng());
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  tiervm::fuzz::DriverArgs args;
  if (!tiervm::fuzz::ParseDriverArgs(argc, argv, &args)) return 2;
  for (const std::string& input : args.corpus) Run(std::vector<uint8_t>(input.begin(), input.end()));
  std::mt19937_64 rng(args.seed);
  Run({});
  Run(std::vector<uint8_t>(11, 0));
  for (long i = 0; i < args.iterations; ++i) {
    std::vector<uint8_t> in = Valid(rng);
    if (rng() % 4 != 0) Mutate(rng, in);
    Run(in);
  }
  std::printf("fuzz_placement_perf_records: %ld inputs, ok\n", args.iterations);
  return 0;
}
