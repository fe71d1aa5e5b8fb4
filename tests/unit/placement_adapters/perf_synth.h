// Synthesised perf_event ring-buffer records for the parser and source
// tests and the perf-record fuzz driver.  Header-only, test code.
#ifndef TIERVM_TESTS_UNIT_PLACEMENT_ADAPTERS_PERF_SYNTH_H_
#define TIERVM_TESTS_UNIT_PLACEMENT_ADAPTERS_PERF_SYNTH_H_

#include <linux/perf_event.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace tiervm::testing {

inline void Put16(std::vector<uint8_t>& b, uint16_t v) {
  b.insert(b.end(), reinterpret_cast<uint8_t*>(&v), reinterpret_cast<uint8_t*>(&v) + 2);
}
inline void Put32(std::vector<uint8_t>& b, uint32_t v) {
  b.insert(b.end(), reinterpret_cast<uint8_t*>(&v), reinterpret_cast<uint8_t*>(&v) + 4);
}
inline void Put64(std::vector<uint8_t>& b, uint64_t v) {
  b.insert(b.end(), reinterpret_cast<uint8_t*>(&v), reinterpret_cast<uint8_t*>(&v) + 8);
}
inline void PutHeader(std::vector<uint8_t>& b, uint32_t type, uint16_t size, uint16_t misc = 0) {
  Put32(b, type);
  Put16(b, misc);
  Put16(b, size);
}

// A SAMPLE with sample_type TID|TIME|ADDR|WEIGHT (PerfSampleSource's).
inline void AppendSample(std::vector<uint8_t>& b, uint32_t pid, uint32_t tid, uint64_t time_ns,
                         uint64_t addr, uint64_t weight) {
  PutHeader(b, PERF_RECORD_SAMPLE, 8 + 32, PERF_RECORD_MISC_USER);
  Put32(b, pid);
  Put32(b, tid);
  Put64(b, time_ns);
  Put64(b, addr);
  Put64(b, weight);
}
inline void AppendLost(std::vector<uint8_t>& b, uint64_t id, uint64_t lost) {
  PutHeader(b, PERF_RECORD_LOST, 24);
  Put64(b, id);
  Put64(b, lost);
}
inline void AppendThrottle(std::vector<uint8_t>& b, uint64_t time_ns, bool throttle) {
  PutHeader(b, throttle ? PERF_RECORD_THROTTLE : PERF_RECORD_UNTHROTTLE, 32);
  Put64(b, time_ns);
  Put64(b, 1);
  Put64(b, 1);
}
// Any record type with `body_bytes` (multiple of 8) of filler.
inline void AppendOther(std::vector<uint8_t>& b, uint32_t type, uint16_t body_bytes) {
  PutHeader(b, type, static_cast<uint16_t>(8 + body_bytes));
  for (uint16_t i = 0; i < body_bytes; ++i) b.push_back(static_cast<uint8_t>(i * 7));
}

// Writes `bytes` into a ring of ring.size() (power of two) bytes from the
// free-running position `pos`, wrapping at the end.
inline void WriteRing(std::vector<uint8_t>& ring, uint64_t pos, const std::vector<uint8_t>& bytes) {
  const uint64_t mask = ring.size() - 1;
  for (size_t i = 0; i < bytes.size(); ++i) ring[(pos + i) & mask] = bytes[i];
}

}  // namespace tiervm::testing

#endif  // TIERVM_TESTS_UNIT_PLACEMENT_ADAPTERS_PERF_SYNTH_H_
