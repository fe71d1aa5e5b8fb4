// Deterministic driver for the procfs parsers' LLVMFuzzerTestOneInput, for
// compilers without libFuzzer (g++).  Generates plausible maps files (and
// PSI, node meminfo, stat, node-list and zoneinfo texts) from a seeded PRNG and
// mutates them (bit flips, interesting bytes, truncation, extension, token
// swaps, line duplication and splicing).  The same seed gives the same
// inputs.
//
// usage: placement_maps_fuzz [--iterations N] [--seed S] [FILE...]
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

#include "absl/strings/str_format.h"
#include "daemon/adapters/procfs.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

int Run(const std::string& s) {
  // A fresh heap copy of exactly `size` bytes, so ASan sees any overread.
  std::vector<uint8_t> copy(s.begin(), s.end());
  return LLVMFuzzerTestOneInput(copy.empty() ? nullptr : copy.data(), copy.size());
}

std::string ValidMaps(std::mt19937_64& rng) {
  static const char* kPaths[] = {"",        "[heap]",          "[stack]", "[vdso]",
                                 "[vvar]",  "/usr/lib/libc.so.6", "/memfd:x (deleted)",
                                 "[anon:a b]", "/a file (deleted)", "anon_inode:[perf_event]"};
  std::string out;
  uint64_t addr = (rng() % 0x100000) * 4096;
  const int n = static_cast<int>(rng() % 24);
  for (int i = 0; i < n; ++i) {
    addr += (rng() % 4) * 4096;
    uint64_t len = (1 + rng() % 1024) * 4096;
    if (rng() % 16 == 0) len <<= 20;  // huge
    if (addr > (1ull << 56)) break;
    const std::string perms = std::string(rng() % 2 ? "r" : "-") + (rng() % 2 ? "w" : "-") +
                              (rng() % 2 ? "x" : "-") + (rng() % 4 ? "p" : "s");
    out += absl::StrFormat("%08x-%08x %s %08x %02x:%02x %u", addr, addr + len, perms,
                           (rng() % 64) * 4096, rng() % 256, rng() % 256,
                           static_cast<unsigned>(rng() % 100000));
    const char* path = kPaths[rng() % (sizeof(kPaths) / sizeof(kPaths[0]))];
    if (*path) out += std::string(1 + rng() % 26, ' ') + path;
    else if (rng() % 2) out += " ";
    out += "\n";
    addr += len;
  }
  return out;
}

std::string ValidOther(std::mt19937_64& rng, int which) {
  switch (which) {
    case 1:
      return absl::StrFormat(
          "some avg10=%d.%02d avg60=0.00 avg300=1.10 total=%u\n"
          "full avg10=0.00 avg60=0.00 avg300=0.00 total=%u\n",
          static_cast<int>(rng() % 100), static_cast<int>(rng() % 100),
          static_cast<unsigned>(rng()), static_cast<unsigned>(rng()));
    case 2:
      return absl::StrFormat(
          "Node 1 MemTotal: %u kB\nNode 1 MemFree: %u kB\nNode 1 HugePages_Total: %u\n",
          static_cast<unsigned>(1000 + rng() % 100000), static_cast<unsigned>(rng() % 1000),
          static_cast<unsigned>(rng() % 16));
    case 4:
      return absl::StrFormat(
          "Node 0, zone      DMA\n  pages free     %u\n        min      %u\n"
          "        low      %u\n        high     %u\n        managed  3840\n"
          "        protection: (0, %u, 3000, 3000, 3000)\n  pagesets\n    cpu: 0\n"
          "              high:  0\nNode %u, zone    DMA32\n  pages free     %u\n"
          "        min      500\n        low      625\n        high     750\n"
          "        present  126976\n        protection: (0, 0, 0, 0, 0)\n"
          "Node 1, zone  Movable\n  pages free     0\n        present  0\n",
          static_cast<unsigned>(rng() % 4000), static_cast<unsigned>(rng() % 30),
          static_cast<unsigned>(rng() % 40), static_cast<unsigned>(rng() % 50),
          static_cast<unsigned>(rng() % 2000), static_cast<unsigned>(rng() % 2),
          static_cast<unsigned>(rng()));
    default:
      return rng() % 2 ? absl::StrFormat("%u (co) m) S %u 1 1 0 -1 %u 0 0\n",
                                         static_cast<unsigned>(1 + rng() % 100000),
                                         static_cast<unsigned>(rng() % 100),
                                         static_cast<unsigned>(rng()))
                       : absl::StrFormat("0-%u,%u\n", static_cast<unsigned>(rng() % 8),
                                         static_cast<unsigned>(9 + rng() % 8));
  }
}

void Mutate(std::mt19937_64& rng, std::string& s) {
  const int rounds = 1 + static_cast<int>(rng() % 4);
  for (int r = 0; r < rounds; ++r) {
    switch (rng() % 8) {
      case 0:  // bit flip
        if (!s.empty()) s[rng() % s.size()] ^= static_cast<char>(1 << (rng() % 8));
        break;
      case 1: {  // interesting byte
        if (!s.empty()) {
          const char v[] = {0, ' ', '\n', '-', ':', '(', ')', '=', 'f', '0', static_cast<char>(0xff)};
          s[rng() % s.size()] = v[rng() % sizeof(v)];
        }
        break;
      }
      case 2:  // truncate
        s.resize(s.empty() ? 0 : rng() % s.size());
        break;
      case 3:  // extend with digits / hex
        for (size_t n = rng() % 24; n > 0; --n) s.push_back("0123456789abcdef"[rng() % 16]);
        break;
      case 4: {  // duplicate a line (overlap)
        const size_t a = s.empty() ? 0 : rng() % s.size();
        const size_t b = s.find('\n', a);
        if (b != std::string::npos) s.insert(b + 1, s.substr(a, b + 1 - a));
        break;
      }
      case 5:  // delete a span
        if (!s.empty()) {
          const size_t a = rng() % s.size();
          s.erase(a, rng() % 16);
        }
        break;
      case 6: {  // insert a huge number
        const size_t a = s.empty() ? 0 : rng() % s.size();
        s.insert(a, rng() % 2 ? "ffffffffffffffff" : "99999999999999999999");
        break;
      }
      default: {  // splice with another maps file
        std::string other = ValidMaps(rng);
        const size_t cut = s.empty() ? 0 : rng() % s.size();
        s = s.substr(0, cut) + other.substr(std::min(other.size(), cut));
        break;
      }
    }
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
  Run(std::string(1, '\0'));
  long accepted = 0;
  for (long i = 0; i < iterations; ++i) {
    // Selector byte: 0 maps (most), 1 PSI, 2 meminfo, 3 stat / node list,
    // 4 zoneinfo.
    const int which = rng() % 4 == 0 ? static_cast<int>(1 + rng() % 4) : 0;
    std::string body = which == 0 ? ValidMaps(rng) : ValidOther(rng, which);
    if (rng() % 8 != 0) Mutate(rng, body);
    const std::string input = std::string(1, static_cast<char>(which)) + body;
    Run(input);
    if (which == 0) accepted += tiervm::adapters::ParseMaps(body, "m").ok();
  }
  std::printf("placement_maps_fuzz: %ld inputs (seed %llu), %ld maps accepted\n", iterations,
              static_cast<unsigned long long>(seed), accepted);
  return 0;
}
