// Fuzz target for the perf ring-buffer record parser (perf_record_parser.h).
//
// Input: byte 0 selects a sample_type, byte 1 the ring size (64 B << 0..7),
// bytes 2..9 the free-running tail, byte 10 how far head is moved past the
// record bytes (0..15, so head may land inside a record), the rest are the
// record bytes, written into the ring from tail (wrapping).
//
// Properties checked on every input:
//   - neither ParsePerfRecords (linear) nor ParsePerfRing crashes, loops or
//     reads out of bounds, whatever the bytes (ASan/UBSan builds);
//   - consumed <= the bytes offered, records == the sink's callbacks;
//   - errors are DataLoss (or InvalidArgument for a bad ring size);
//   - when the record bytes fit the ring and head is at their end, the ring
//     parse (with its wrap) sees exactly what the linear parse sees.
// Build with clang -fsanitize=fuzzer for libFuzzer, or link
// perf_records_fuzz_driver.cc for the deterministic ctest run.
#include <linux/perf_event.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "daemon/adapters/perf_record_parser.h"

namespace {

using tiervm::adapters::PerfParseResult;
using tiervm::adapters::PerfRecordSink;
using tiervm::adapters::PerfSample;
using tiervm::adapters::PerfSampleFormat;

void Fail(const char* what) {
  std::fprintf(stderr, "perf_records_fuzz: %s\n", what);
  std::abort();
}

struct Log final : PerfRecordSink {
  std::vector<uint64_t> events;  // a fingerprint of every callback
  void OnSample(const PerfSample& s) override {
    events.push_back(1);
    events.push_back(s.pid ^ (static_cast<uint64_t>(s.tid) << 32));
    events.push_back(s.addr);
    events.push_back(s.time_ns ^ s.weight ^ s.ip ^ s.period ^ s.data_src ^ s.cpu ^ s.id);
  }
  void OnLost(uint64_t id, uint64_t lost) override {
    events.push_back(2);
    events.push_back(id ^ lost);
  }
  void OnThrottle(uint64_t t, bool on) override {
    events.push_back(on ? 3 : 4);
    events.push_back(t);
  }
  void OnOther(uint32_t type) override {
    events.push_back(5);
    events.push_back(type);
  }
  uint64_t records() const {
    uint64_t n = 0;
    for (size_t i = 0; i < events.size();) {
      ++n;
      i += events[i] == 1 ? 4 : 2;
    }
    return n;
  }
};

constexpr uint64_t kTypes[] = {
    PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_ADDR | PERF_SAMPLE_WEIGHT,
    PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_ADDR | PERF_SAMPLE_CPU |
        PERF_SAMPLE_PERIOD | PERF_SAMPLE_WEIGHT | PERF_SAMPLE_DATA_SRC,
    PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_ADDR,
    0,
};

void CheckError(const absl::Status& s) {
  if (!s.ok() && !absl::IsDataLoss(s) && !absl::IsInvalidArgument(s)) Fail("unexpected error code");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 11) return 0;
  const PerfSampleFormat format = *PerfSampleFormat::Create(kTypes[data[0] % 4]);
  const size_t ring_size = size_t{64} << (data[1] % 8);
  uint64_t tail;
  std::memcpy(&tail, data + 2, 8);
  tail &= (1ull << 62) - 1;  // keep head from overflowing
  const uint64_t extra = data[10] % 16;
  const uint8_t* rec = data + 11;
  const size_t n = size - 11;

  Log linear;
  PerfParseResult lres;
  absl::Status ls = tiervm::adapters::ParsePerfRecords({rec, n}, format, linear, &lres);
  CheckError(ls);
  if (lres.consumed > n) Fail("linear: consumed beyond the input");
  if (lres.records != linear.records()) Fail("linear: record count != callbacks");
  if (ls.ok() && lres.consumed != n) Fail("linear: ok but not everything consumed");

  std::vector<uint8_t> ring(ring_size, 0xa5);
  const size_t put = n < ring_size ? n : ring_size;
  for (size_t i = 0; i < put; ++i) ring[(tail + i) & (ring_size - 1)] = rec[i];
  const uint64_t head = tail + put + (put + extra <= ring_size ? extra : 0);
  Log wrapped;
  PerfParseResult rres;
  std::vector<uint8_t> scratch;
  absl::Status rs = tiervm::adapters::ParsePerfRing(ring, tail, head, format, wrapped, &rres, &scratch);
  CheckError(rs);
  if (rres.consumed > head - tail) Fail("ring: consumed beyond head");
  if (rres.records != wrapped.records()) Fail("ring: record count != callbacks");
  if (put == n && extra == 0 && (ls.ok() != rs.ok() || linear.events != wrapped.events)) {
    Fail("ring parse differs from the linear parse");
  }
  // Head beyond the ring's size is always refused.
  Log none;
  if (tiervm::adapters::ParsePerfRing(ring, tail, tail + ring_size + 8, format, none, nullptr,
                                      &scratch).ok()) {
    Fail("head - tail > size accepted");
  }
  return 0;
}
