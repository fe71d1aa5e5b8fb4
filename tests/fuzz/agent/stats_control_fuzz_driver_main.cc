// Deterministic seeded driver for stats_control_fuzz.cc (g++ builds; with
// clang, -DTIERVM_LIBFUZZER=ON builds the libFuzzer binary instead).
// Inputs: random bytes, and mutations (bit flips, overwritten 64-bit
// words with extreme values, truncation, extension, spliced JSON tokens)
// of well-formed record series and control requests.
//
// usage: DRIVER [--iterations N] [--seed S] [FILE...]
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../driver_args.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

void Put(std::string& s, const void* p, size_t n) {
  s.append(static_cast<const char*>(p), n);
}

void Record(std::string& s, uint16_t tag, uint16_t node, uint64_t value) {
  Put(s, &tag, 2);
  Put(s, &node, 2);
  Put(s, &value, 8);
}

std::vector<std::string> Seeds() {
  std::vector<std::string> seeds;
  for (int points = 0; points <= 6; ++points) {
    std::string s(1, '\0');  // stats mode
    for (int report = 0; report < 6; ++report) {
      const uint8_t n = static_cast<uint8_t>(2 * points + 3);
      const uint32_t delta = 1000 + 37 * report;
      Put(s, &n, 1);
      Put(s, &delta, 4);
      for (int i = 0; i < points; ++i) {
        Record(s, 4, static_cast<uint16_t>(i), (static_cast<uint64_t>(i) + 1) << 28);
        Record(s, 5, static_cast<uint16_t>(i), 1'000'000ull * (i + 1) / points);
      }
      Record(s, 6, 0xffff, 150'000);
      Record(s, 2, 0xffff, 1'000'000ull * report * (points + 1));
      Record(s, 3, 0xffff, 100'000ull * report);
    }
    seeds.push_back(s);
  }
  for (const char* c : {
           R"({"cmd":"status"})",
           R"({"cmd":"set","vm":"db-1","min_fmem_bytes":1073741824,"max_fmem_bytes":2147483648,"weight":4})",
           R"({"cmd":"vm-event","vm":"web","event":"started","qmp_socket":"/run/tiervm/qmp/web.sock","weight":2})",
           R"({"cmd":"vm-event","vm":"web","event":"release"})",
       }) {
    seeds.push_back(std::string(1, '\1') + c);
  }
  return seeds;
}

}  // namespace

int main(int argc, char** argv) {
  tiervm::fuzz::DriverArgs args;
  if (!tiervm::fuzz::ParseDriverArgs(argc, argv, &args)) return 2;
  std::mt19937_64 rng(args.seed);
  auto run = [](const std::string& s) {
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  for (const std::string& c : args.corpus) run(c);
  const std::vector<std::string> seeds = Seeds();
  for (const std::string& s : seeds) run(s);
  run(std::string(1, '\1') + std::string(100000, '{'));
  run(std::string(1, '\1') + std::string(70000, ' '));
  const uint64_t specials[] = {0, 1, UINT64_MAX, 1ull << 63, 1'000'000, 1'000'001,
                               0xffff, 4096, 1ull << 40, 999'999};
  const char* const tokens[] = {"-1", "1e400", "18446744073709551616", "0", "1001",
                                "\"x\"", "null", "[]", "{}", "\"cmd\":\"set\"",
                                "\"vm\":\"../a\"", "\"weight\":0", ",", "}", "\"\\u0000\""};
  for (long it = 0; it < args.iterations; ++it) {
    std::string buf;
    if (rng() % 8 == 0) {
      buf.resize(rng() % 700);
      for (char& c : buf) c = static_cast<char>(rng());
    } else {
      buf = seeds[rng() % seeds.size()];
      const bool text = buf[0] == '\1';
      const int mutations = 1 + static_cast<int>(rng() % 4);
      for (int m = 0; m < mutations && buf.size() > 1; ++m) {
        const size_t pos = 1 + rng() % (buf.size() - 1);
        switch (rng() % 4) {
          case 0:
            buf[pos] ^= static_cast<char>(1u << (rng() % 8));
            break;
          case 1:
            if (text) {
              buf.insert(pos, tokens[rng() % std::size(tokens)]);
            } else if (pos + 8 <= buf.size()) {
              const uint64_t v = specials[rng() % std::size(specials)];
              std::memcpy(&buf[pos], &v, 8);
            }
            break;
          case 2:
            buf.resize(pos);
            break;
          case 3:
            buf.append(buf.substr(pos, rng() % 64));
            break;
        }
      }
    }
    run(buf);
  }
  std::printf("fuzz: %ld inputs (seed %llu), no failures\n", args.iterations,
              static_cast<unsigned long long>(args.seed));
  return 0;
}
