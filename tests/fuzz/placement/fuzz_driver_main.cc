// Deterministic driver for LLVMFuzzerTestOneInput, for compilers without
// libFuzzer (g++).  Generates valid traces from a seeded PRNG and mutates
// them (bit flips, byte stores, truncation, extension, header field edits,
// splices), half of the time repairing the checksum so that mutations reach
// the field checks behind it.  The same seed gives the same inputs.
//
// usage: placement_replay_fuzz [--iterations N] [--seed S] [FILE...]
//   FILEs (e.g. a libFuzzer crash reproducer) are run once each first.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "../driver_args.h"

#include "placement/replay_trace.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

using namespace tiervm::placement;

int Run(const std::string& s) {
  // A fresh heap copy of exactly `size` bytes, so ASan sees any overread.
  std::vector<uint8_t> copy(s.begin(), s.end());
  return LLVMFuzzerTestOneInput(copy.empty() ? nullptr : copy.data(), copy.size());
}

std::string ValidTrace(std::mt19937_64& rng) {
  std::vector<Sample> samples(rng() % 20);
  int64_t t = static_cast<int64_t>(rng() % 1000);
  for (Sample& s : samples) {
    t += static_cast<int64_t>(rng() % 3);
    s.pid = static_cast<Pid>(1 + rng() % kTraceMaxPid);
    s.vaddr = 1 + rng() % (kTraceVaddrLimit - 1);
    s.kind = rng() % 2 ? AccessKind::kStore : AccessKind::kLoad;
    s.weight = static_cast<uint32_t>(1 + rng() % 100);
    s.time_ns = t;
  }
  return EncodeTrace(samples);
}

void Mutate(std::mt19937_64& rng, std::string& s) {
  const int rounds = 1 + static_cast<int>(rng() % 4);
  for (int r = 0; r < rounds; ++r) {
    switch (rng() % 7) {
      case 0:  // bit flip
        if (!s.empty()) s[rng() % s.size()] ^= static_cast<char>(1 << (rng() % 8));
        break;
      case 1:  // interesting byte
        if (!s.empty()) {
          const char v[] = {0, 1, 2, 0x7f, static_cast<char>(0x80), static_cast<char>(0xff)};
          s[rng() % s.size()] = v[rng() % sizeof(v)];
        }
        break;
      case 2:  // truncate
        s.resize(s.empty() ? 0 : rng() % s.size());
        break;
      case 3:  // extend
        s.append(rng() % 40, static_cast<char>(rng()));
        break;
      case 4:  // header count field
        if (s.size() >= 24) {
          const uint64_t v = rng() % 3 == 0 ? ~0ull : rng() % 64;
          std::memcpy(&s[16], &v, 8);  // little-endian host assumed (x86-64)
        }
        break;
      case 5:  // header sizes / version
        if (s.size() >= 16) s[8 + 2 * (rng() % 4)] = static_cast<char>(rng() % 64);
        break;
      default: {  // splice two traces
        std::string other = ValidTrace(rng);
        const size_t cut = s.empty() ? 0 : rng() % s.size();
        s = s.substr(0, cut) + other.substr(std::min(other.size(), cut));
        break;
      }
    }
  }
  if (rng() % 2 == 0 && s.size() >= kTraceHeaderBytes) {
    const uint64_t sum = Fnv1a64(absl::string_view(s).substr(kTraceHeaderBytes));
    std::memcpy(&s[24], &sum, 8);
  }
}

}  // namespace

int main(int argc, char** argv) {
  tiervm::fuzz::DriverArgs args;
  if (!tiervm::fuzz::ParseDriverArgs(argc, argv, &args)) return 2;
  const long iterations = args.iterations;
  const uint64_t seed = args.seed;
  for (const std::string& input : args.corpus) Run(input);
  std::mt19937_64 rng(seed);
  Run("");
  Run(std::string(kTraceMagic, 8));
  long accepted = 0;
  for (long i = 0; i < iterations; ++i) {
    std::string s = ValidTrace(rng);
    const bool mutate = rng() % 8 != 0;
    if (mutate) Mutate(rng, s);
    Run(s);
    accepted += DecodeTrace(s).ok();
  }
  std::printf("placement_replay_fuzz: %ld inputs (seed %llu), %ld accepted\n", iterations,
              static_cast<unsigned long long>(seed), accepted);
  return 0;
}
