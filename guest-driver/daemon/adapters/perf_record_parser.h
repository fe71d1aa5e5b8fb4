// Parser of perf_event ring-buffer records: a pure function over bytes.
//
// The kernel writes records into a power-of-two data area; each starts with
// struct perf_event_header {u32 type; u16 misc; u16 size} and may wrap
// around the end of the area.  ParsePerfRing reads the records in
// [tail, head) (free-running byte counters, as in perf_event_mmap_page),
// copies any record that wraps into a scratch buffer, and hands each one to
// a PerfRecordSink.  Only PERF_RECORD_SAMPLE with the sample_type this
// parser knows (PerfSampleFormat), LOST, THROTTLE and UNTHROTTLE are
// decoded; every other type is skipped by header.size.
//
// Corrupt input is a Status, never a crash or an endless loop:
//   head - tail > data size, or head < tail          DataLoss
//   header.size < 8 (e.g. 0) or not a multiple of 8   DataLoss
//   a record reaching beyond head (truncated)         DataLoss
//   a SAMPLE/LOST/THROTTLE shorter than its fields    DataLoss
// On error, `consumed` says how far parsing got: the records before the bad
// one were delivered.  The caller (a live source) cannot resynchronise
// inside a ring whose framing is lost, so it drops everything up to head.
//
// Thread-safety: stateless functions; PerfSampleFormat is a value.
#ifndef TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_PERF_RECORD_PARSER_H_
#define TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_PERF_RECORD_PARSER_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace tiervm::adapters {

// One decoded PERF_RECORD_SAMPLE; fields absent from sample_type are 0.
struct PerfSample {
  uint64_t ip = 0;
  uint32_t pid = 0;
  uint32_t tid = 0;
  uint64_t time_ns = 0;
  uint64_t addr = 0;
  uint64_t id = 0;
  uint32_t cpu = 0;
  uint64_t period = 0;
  uint64_t weight = 0;
  uint64_t data_src = 0;
  uint16_t misc = 0;
};

// The sample fields present, from perf_event_attr.sample_type.  Supported
// bits: IDENTIFIER, IP, TID, TIME, ADDR, ID, STREAM_ID, CPU, PERIOD, WEIGHT,
// DATA_SRC, PHYS_ADDR (all fixed size).  Anything else (READ, CALLCHAIN,
// RAW, BRANCH_STACK, REGS_*, STACK_USER, WEIGHT_STRUCT, ...) is
// InvalidArgument: the source never asks for them.
class PerfSampleFormat {
 public:
  static absl::StatusOr<PerfSampleFormat> Create(uint64_t sample_type);
  uint64_t sample_type() const { return sample_type_; }
  // Bytes of a SAMPLE record body after the header.
  size_t body_bytes() const { return body_bytes_; }
  // Decodes a SAMPLE record (header included).  DataLoss if too short.
  absl::StatusOr<PerfSample> Decode(absl::Span<const uint8_t> record) const;

 private:
  explicit PerfSampleFormat(uint64_t sample_type, size_t body_bytes)
      : sample_type_(sample_type), body_bytes_(body_bytes) {}
  uint64_t sample_type_;
  size_t body_bytes_;
};

class PerfRecordSink {
 public:
  virtual ~PerfRecordSink() = default;
  virtual void OnSample(const PerfSample& sample) = 0;
  // PERF_RECORD_LOST: `lost` samples were dropped by the kernel.
  virtual void OnLost(uint64_t id, uint64_t lost) = 0;
  // PERF_RECORD_THROTTLE (throttled = true) / UNTHROTTLE.
  virtual void OnThrottle(uint64_t time_ns, bool throttled) = 0;
  // Any other record type (skipped).
  virtual void OnOther(uint32_t type) = 0;
};

struct PerfParseResult {
  uint64_t consumed = 0;  // bytes of whole records parsed (tail advance)
  uint64_t records = 0;
};

// Parses [tail, head) of the ring `data` (size a power of two, >= 8).
// On error *result (if given) holds the progress up to the bad record.
absl::Status ParsePerfRing(absl::Span<const uint8_t> data, uint64_t tail, uint64_t head,
                           const PerfSampleFormat& format, PerfRecordSink& sink,
                           PerfParseResult* result, std::vector<uint8_t>* scratch);

// Parses a linear buffer of whole records (no wrap): the same rules.
absl::Status ParsePerfRecords(absl::Span<const uint8_t> bytes, const PerfSampleFormat& format,
                              PerfRecordSink& sink, PerfParseResult* result);

}  // namespace tiervm::adapters

#endif  // TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_PERF_RECORD_PARSER_H_
