// Replay traces: a recorded sample stream, and a SampleSource replaying it.
//
// File format "TVMTRACE" version 1 (all integers little-endian):
//
//   header, 32 bytes
//     0  char[8] magic          "TVMTRACE"
//     8  u16     version        1
//    10  u16     header_bytes   32
//    12  u16     record_bytes   32
//    14  u16     flags          0 (no flags defined; non-zero is rejected)
//    16  u64     record_count
//    24  u64     records_fnv1a  FNV-1a 64 over all record bytes, in order
//   record_count records, 32 bytes each
//     0  i64     time_ns        >= 0, non-decreasing through the file
//     8  u64     vaddr          != 0, < 2^57 (largest x86-64 user space)
//    16  u32     pid            1 .. 4194304 (Linux PID_MAX_LIMIT)
//    20  u32     weight         >= 1
//    24  u8      kind           0 load, 1 store
//    25  u8[7]   reserved       0
//
// The sizes in the header exist so that a later reader can accept other
// layouts; version 1 requires exactly these.  The file must end right after
// the last record.  The checksum catches bit flips that leave every field
// plausible; field checks catch the rest and give a precise message.
// Decoding never trusts record_count for allocation before the length has
// been checked against it.
//
// Thread-safety: free functions are reentrant; a ReplaySource is used from
// one thread.
#ifndef TIERVM_GUEST_DRIVER_PLACEMENT_REPLAY_TRACE_H_
#define TIERVM_GUEST_DRIVER_PLACEMENT_REPLAY_TRACE_H_

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "placement/sample_source.h"
#include "placement/types.h"

namespace tiervm::placement {

inline constexpr char kTraceMagic[8] = {'T', 'V', 'M', 'T', 'R', 'A', 'C', 'E'};
inline constexpr uint16_t kTraceVersion = 1;
inline constexpr size_t kTraceHeaderBytes = 32;
inline constexpr size_t kTraceRecordBytes = 32;
inline constexpr uint32_t kTraceMaxPid = 4194304;
inline constexpr uint64_t kTraceVaddrLimit = 1ull << 57;

// FNV-1a 64-bit over `bytes`, continuing from `state`.
uint64_t Fnv1a64(absl::string_view bytes,
                 uint64_t state = 0xcbf29ce484222325ull);

// Encodes `samples` as a version-1 trace.  CHECK-fails if a sample is not
// representable (the recorder's bug, not bad input): use ValidateSample.
std::string EncodeTrace(absl::Span<const Sample> samples);

// InvalidArgument naming the bad field, or OK.  `prev_time_ns` is the time
// of the previous record (or 0).
absl::Status ValidateSample(const Sample& sample, int64_t prev_time_ns);

// Decodes a whole trace.  Errors (never a crash, whatever the bytes):
//   DataLoss         truncated or over-long file, checksum mismatch
//   InvalidArgument  bad magic, a bad field (message names record and field)
//   Unimplemented    another version or layout
absl::StatusOr<std::vector<Sample>> DecodeTrace(absl::string_view bytes);

// Replays decoded samples in order.  Owns its copy of the samples.
class ReplaySource final : public SampleSource {
 public:
  explicit ReplaySource(std::vector<Sample> samples)
      : samples_(std::move(samples)) {}

  // Decodes and validates the whole trace first, so a corrupt file yields
  // an error before any sample of it is replayed.
  static absl::StatusOr<ReplaySource> FromBytes(absl::string_view bytes);

  absl::StatusOr<size_t> Read(absl::Span<Sample> out) override;
  bool Exhausted() const override { return next_ >= samples_.size(); }

  // Read() returns only samples with time_ns < horizon_ns, so a simulator
  // can replay a trace epoch by epoch.  Default: no horizon.
  void set_horizon_ns(int64_t horizon_ns) { horizon_ns_ = horizon_ns; }
  size_t remaining() const { return samples_.size() - next_; }

 private:
  std::vector<Sample> samples_;
  size_t next_ = 0;
  int64_t horizon_ns_ = std::numeric_limits<int64_t>::max();
};

}  // namespace tiervm::placement

#endif  // TIERVM_GUEST_DRIVER_PLACEMENT_REPLAY_TRACE_H_
