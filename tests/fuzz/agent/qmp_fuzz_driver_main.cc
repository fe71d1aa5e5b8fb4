// Deterministic driver for text (JSON) fuzz targets when not building with
// -fsanitize=fuzzer.  Runs the target over N inputs from a seeded PRNG:
// random bytes, and mutations of well-formed QMP messages (byte flips,
// spliced JSON tokens and extreme numbers, deleted / duplicated spans,
// truncation), so that most inputs parse as JSON and reach the hballoon
// validation.
//
// Usage: <binary> [iterations] [seed]
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

const char* const kSeeds[] = {
    R"({"return": [{"id": "hb0", "qom-path": "/machine/peripheral/hb0", "broken": false, "pressure": "none", "nodes": [{"node": 0, "tier": "fmem", "size": 1073741824, "target": 268435456, "actual": 268435456, "guest-actual": 268435456, "inflated-pages": 65536, "deflated-pages": 0}, {"node": 1, "tier": "smem", "size": 1073741824, "target": 0, "actual": 0, "guest-actual": 0, "inflated-pages": 0, "deflated-pages": 0}], "discard-calls": 3, "discarded-bytes": 268435456, "discard-errors": 0, "rejected-requests": 0, "stats": {"seq": 7, "last-update-ms": 1700000000000, "dropped": 0, "unknown-tags": 0, "records": [{"tag": 0, "node": 0, "value": 536870912}, {"tag": 3, "node": 65535, "value": 18446744073709551615}]}}], "id": "tiervm-3"})",
    R"({"return": [], "id": "tiervm-1"})",
    R"({"return": {}, "id": "tiervm-2"})",
    R"({"error": {"class": "GenericError", "desc": "node 3 does not exist"}, "id": "tiervm-4"})",
    R"({"event": "__org.tiervm_HBALLOON_CHANGE", "data": {"qom-path": "/machine/peripheral/hb0", "node": 0, "actual": 268435456}, "timestamp": {"seconds": 1700000000, "microseconds": 0}})",
    R"({"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}})",
};

const char* const kTokens[] = {
    "-1", "0", "1e400", "18446744073709551616", "18446744073709551615",
    "9223372036854775808", "4096", "1.5", "\"x\"", "\"\"", "null", "true",
    "[]", "{}", "[", "{", "]", "}", ",", ":", "\"\\u0000\"", "\"\\ud800\"",
    "\xff", "\"fmem\"", "\"high\"", "65535", "128", "8", "\"node\": 0",
    "\"return\": 1", "\"error\": {}",
};

}  // namespace

int main(int argc, char** argv) {
  const long iterations = argc > 1 ? std::atol(argv[1]) : 100000;
  const uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 0) : 1;
  std::mt19937_64 rng(seed);
  auto run = [](const std::string& s) {
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()),
                           s.size());
  };
  for (const char* s : kSeeds) run(s);
  // Deep nesting and a long line.
  run(std::string(100000, '[') + std::string(100000, ']'));
  run("{\"return\": \"" + std::string(1 << 20, 'a') + "\"}");
  for (long it = 0; it < iterations; ++it) {
    std::string buf;
    if (rng() % 8 == 0) {
      buf.resize(rng() % 600);
      for (char& c : buf) c = static_cast<char>(rng());
    } else {
      buf = kSeeds[rng() % std::size(kSeeds)];
      const int mutations = 1 + static_cast<int>(rng() % 4);
      for (int m = 0; m < mutations && !buf.empty(); ++m) {
        const size_t pos = rng() % buf.size();
        switch (rng() % 5) {
          case 0:
            buf[pos] = static_cast<char>(buf[pos] ^ (1u << (rng() % 8)));
            break;
          case 1: {  // replace a span with a token
            const size_t len = rng() % 12;
            buf.replace(pos, len, kTokens[rng() % std::size(kTokens)]);
            break;
          }
          case 2:
            buf.erase(pos, rng() % 24);
            break;
          case 3: {
            const size_t len = rng() % 64;
            buf.insert(pos, buf.substr(pos, len));
            break;
          }
          case 4:
            buf.resize(pos);
            break;
        }
      }
    }
    run(buf);
  }
  std::printf("fuzz: %ld inputs (seed %llu), no failures\n", iterations,
              static_cast<unsigned long long>(seed));
  return 0;
}
