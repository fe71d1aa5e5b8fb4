#include "placement/replay_trace.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "placement/check.h"

namespace tiervm::placement {
namespace {

// Explicit little-endian (de)serialisation: the trace must read the same on
// any host, and memcpy of a struct would also copy padding.
void PutLe(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}

uint64_t GetLe(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) {
    v |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  }
  return v;
}

}  // namespace

uint64_t Fnv1a64(absl::string_view bytes, uint64_t state) {
  for (unsigned char c : bytes) {
    state ^= c;
    state *= 0x100000001b3ull;
  }
  return state;
}

absl::Status ValidateSample(const Sample& s, int64_t prev_time_ns) {
  if (s.pid <= 0 || static_cast<uint32_t>(s.pid) > kTraceMaxPid) {
    return absl::InvalidArgumentError(absl::StrFormat("pid %d out of range", s.pid));
  }
  if (s.vaddr == 0 || s.vaddr >= kTraceVaddrLimit) {
    return absl::InvalidArgumentError(
        absl::StrFormat("vaddr 0x%x is not a user address", s.vaddr));
  }
  if (s.weight == 0) return absl::InvalidArgumentError("weight is 0");
  if (s.kind != AccessKind::kLoad && s.kind != AccessKind::kStore) {
    return absl::InvalidArgumentError(
        absl::StrFormat("kind %d unknown", static_cast<int>(s.kind)));
  }
  if (s.time_ns < 0) return absl::InvalidArgumentError("time_ns negative");
  if (s.time_ns < prev_time_ns) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "time_ns %d goes back (previous %d)", s.time_ns, prev_time_ns));
  }
  return absl::OkStatus();
}

std::string EncodeTrace(absl::Span<const Sample> samples) {
  std::string records;
  records.reserve(samples.size() * kTraceRecordBytes);
  int64_t prev = 0;
  for (const Sample& s : samples) {
    PLACEMENT_CHECK(ValidateSample(s, prev).ok());
    prev = s.time_ns;
    PutLe(&records, static_cast<uint64_t>(s.time_ns), 8);
    PutLe(&records, s.vaddr, 8);
    PutLe(&records, static_cast<uint32_t>(s.pid), 4);
    PutLe(&records, s.weight, 4);
    PutLe(&records, static_cast<uint8_t>(s.kind), 1);
    PutLe(&records, 0, 7);
  }
  std::string out(kTraceMagic, sizeof(kTraceMagic));
  PutLe(&out, kTraceVersion, 2);
  PutLe(&out, kTraceHeaderBytes, 2);
  PutLe(&out, kTraceRecordBytes, 2);
  PutLe(&out, 0, 2);
  PutLe(&out, samples.size(), 8);
  PutLe(&out, Fnv1a64(records), 8);
  return out + records;
}

absl::StatusOr<std::vector<Sample>> DecodeTrace(absl::string_view bytes) {
  if (bytes.size() < kTraceHeaderBytes) {
    return absl::DataLossError(absl::StrFormat(
        "trace truncated: %d bytes, header needs %d", bytes.size(), kTraceHeaderBytes));
  }
  const char* h = bytes.data();
  if (std::memcmp(h, kTraceMagic, sizeof(kTraceMagic)) != 0) {
    return absl::InvalidArgumentError("not a TierVM trace (bad magic)");
  }
  const uint64_t version = GetLe(h + 8, 2);
  const uint64_t header_bytes = GetLe(h + 10, 2);
  const uint64_t record_bytes = GetLe(h + 12, 2);
  const uint64_t flags = GetLe(h + 14, 2);
  const uint64_t count = GetLe(h + 16, 8);
  const uint64_t checksum = GetLe(h + 24, 8);
  if (version != kTraceVersion || header_bytes != kTraceHeaderBytes ||
      record_bytes != kTraceRecordBytes) {
    return absl::UnimplementedError(absl::StrFormat(
        "trace version %d (header %d B, record %d B); this reader knows "
        "version %d (%d B, %d B)",
        version, header_bytes, record_bytes, kTraceVersion, kTraceHeaderBytes,
        kTraceRecordBytes));
  }
  if (flags != 0) {
    return absl::InvalidArgumentError(absl::StrFormat("unknown flags 0x%x", flags));
  }
  // Compare lengths by division so a huge record_count cannot overflow.
  const uint64_t body = bytes.size() - kTraceHeaderBytes;
  if (body % kTraceRecordBytes != 0 || body / kTraceRecordBytes != count) {
    return absl::DataLossError(absl::StrFormat(
        "trace length mismatch: header says %d records, file holds %d bytes "
        "of records (%d whole)",
        count, body, body / kTraceRecordBytes));
  }
  const absl::string_view records = bytes.substr(kTraceHeaderBytes);
  if (Fnv1a64(records) != checksum) {
    return absl::DataLossError("trace checksum mismatch (corrupt records)");
  }
  std::vector<Sample> out;
  out.reserve(count);
  int64_t prev = 0;
  for (uint64_t i = 0; i < count; ++i) {
    const char* r = records.data() + i * kTraceRecordBytes;
    for (int b = 25; b < 32; ++b) {
      if (r[b] != 0) {
        return absl::InvalidArgumentError(
            absl::StrFormat("record %d: reserved byte %d not zero", i, b));
      }
    }
    const uint64_t pid = GetLe(r + 16, 4);
    const uint64_t kind = GetLe(r + 24, 1);
    if (pid > kTraceMaxPid) {
      return absl::InvalidArgumentError(
          absl::StrFormat("record %d: pid %d out of range", i, pid));
    }
    if (kind > 1) {
      return absl::InvalidArgumentError(
          absl::StrFormat("record %d: kind %d unknown", i, kind));
    }
    Sample s;
    s.time_ns = static_cast<int64_t>(GetLe(r, 8));
    s.vaddr = GetLe(r + 8, 8);
    s.pid = static_cast<Pid>(pid);
    s.weight = static_cast<uint32_t>(GetLe(r + 20, 4));
    s.kind = static_cast<AccessKind>(kind);
    if (absl::Status st = ValidateSample(s, prev); !st.ok()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("record %d: %s", i, st.message()));
    }
    prev = s.time_ns;
    out.push_back(s);
  }
  return out;
}

absl::StatusOr<ReplaySource> ReplaySource::FromBytes(absl::string_view bytes) {
  absl::StatusOr<std::vector<Sample>> samples = DecodeTrace(bytes);
  if (!samples.ok()) return samples.status();
  return ReplaySource(*std::move(samples));
}

absl::StatusOr<size_t> ReplaySource::Read(absl::Span<Sample> out) {
  size_t n = 0;
  while (n < out.size() && next_ < samples_.size() &&
         samples_[next_].time_ns < horizon_ns_) {
    out[n++] = samples_[next_++];
  }
  return n;
}

}  // namespace tiervm::placement
