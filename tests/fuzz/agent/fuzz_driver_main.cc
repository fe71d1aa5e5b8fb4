// Deterministic driver for libFuzzer-style targets when not building with
// -fsanitize=fuzzer (the default compiler is g++).  Runs the target over
// N inputs from a seeded PRNG: purely random buffers, and mutations
// (bit flips, overwritten words, truncation, extension) of well-formed
// seeds, so that most inputs get past the first validation checks.
//
// Usage: <binary> [iterations] [seed]
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

void Put(std::vector<uint8_t>& buf, int64_t v) {
  uint8_t b[8];
  std::memcpy(b, &v, 8);
  buf.insert(buf.end(), b, b + 8);
}

std::vector<std::vector<uint8_t>> Seeds() {
  std::vector<std::vector<uint8_t>> seeds;
  for (int n = 0; n <= 8; ++n) {
    std::vector<uint8_t> s;
    Put(s, 50'000);             // smem share
    Put(s, 5'000);              // psi some
    Put(s, 1'000);              // psi full
    Put(s, int64_t{16} << 50);  // guest memory (>> 20 = 16 GiB)
    for (int i = 1; i <= n; ++i) {
      Put(s, int64_t{i} << 30);   // bytes
      Put(s, 1'000'000 * i / n);  // share ppm
    }
    seeds.push_back(s);
  }
  return seeds;
}

}  // namespace

int main(int argc, char** argv) {
  const long iterations = argc > 1 ? std::atol(argv[1]) : 200000;
  const uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 0) : 1;
  std::mt19937_64 rng(seed);
  const std::vector<std::vector<uint8_t>> seeds = Seeds();
  // Interesting 64-bit values to splice in.
  const int64_t specials[] = {
      0,         1,         -1,        999'999,          1'000'000,
      1'000'001, INT64_MAX, INT64_MIN, int64_t{1} << 40, 4096};
  for (const auto& s : seeds) LLVMFuzzerTestOneInput(s.data(), s.size());
  for (long it = 0; it < iterations; ++it) {
    std::vector<uint8_t> buf;
    if (rng() % 4 == 0) {
      buf.resize(rng() % 1100);
      for (uint8_t& b : buf) b = static_cast<uint8_t>(rng());
    } else {
      buf = seeds[rng() % seeds.size()];
      const int mutations = 1 + static_cast<int>(rng() % 4);
      for (int m = 0; m < mutations && !buf.empty(); ++m) {
        switch (rng() % 4) {
          case 0:
            buf[rng() % buf.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
            break;
          case 1:
            if (buf.size() >= 8) {
              const size_t word = rng() % (buf.size() / 8);
              const int64_t v = specials[rng() % std::size(specials)];
              std::memcpy(&buf[word * 8], &v, 8);
            }
            break;
          case 2:
            buf.resize(rng() % (buf.size() + 1));
            break;
          case 3:
            for (int k = 0; k < 16; ++k)
              buf.push_back(static_cast<uint8_t>(rng()));
            break;
        }
      }
    }
    LLVMFuzzerTestOneInput(buf.data(), buf.size());
  }
  std::printf("fuzz: %ld inputs (seed %llu), no failures\n", iterations,
              static_cast<unsigned long long>(seed));
  return 0;
}
