#include "daemon/adapters/perf_record_parser.h"

#include <linux/perf_event.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace tiervm::adapters {

namespace {

constexpr uint64_t kSupported = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_IP | PERF_SAMPLE_TID |
                                PERF_SAMPLE_TIME | PERF_SAMPLE_ADDR | PERF_SAMPLE_ID |
                                PERF_SAMPLE_STREAM_ID | PERF_SAMPLE_CPU | PERF_SAMPLE_PERIOD |
                                PERF_SAMPLE_WEIGHT | PERF_SAMPLE_DATA_SRC | PERF_SAMPLE_PHYS_ADDR;
constexpr size_t kHeaderBytes = sizeof(perf_event_header);

uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
uint32_t Load32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

perf_event_header LoadHeader(const uint8_t* p) {
  perf_event_header h;
  std::memcpy(&h, p, sizeof(h));
  return h;
}

// Delivers one whole record (header included, `rec.size()` == header.size).
absl::Status Deliver(absl::Span<const uint8_t> rec, const PerfSampleFormat& format,
                     PerfRecordSink& sink) {
  const perf_event_header h = LoadHeader(rec.data());
  switch (h.type) {
    case PERF_RECORD_SAMPLE: {
      absl::StatusOr<PerfSample> s = format.Decode(rec);
      if (!s.ok()) return s.status();
      sink.OnSample(*s);
      return absl::OkStatus();
    }
    case PERF_RECORD_LOST:
      if (rec.size() < kHeaderBytes + 16) {
        return absl::DataLossError(absl::StrCat("perf LOST record of ", rec.size(), " bytes"));
      }
      sink.OnLost(Load64(rec.data() + 8), Load64(rec.data() + 16));
      return absl::OkStatus();
    case PERF_RECORD_THROTTLE:
    case PERF_RECORD_UNTHROTTLE:
      if (rec.size() < kHeaderBytes + 24) {
        return absl::DataLossError(absl::StrCat("perf THROTTLE record of ", rec.size(), " bytes"));
      }
      sink.OnThrottle(Load64(rec.data() + 8), h.type == PERF_RECORD_THROTTLE);
      return absl::OkStatus();
    default:
      sink.OnOther(h.type);
      return absl::OkStatus();
  }
}

absl::Status CheckSize(const perf_event_header& h, uint64_t pos, uint64_t avail) {
  if (h.size < kHeaderBytes || h.size % 8 != 0) {
    return absl::DataLossError(absl::StrCat("perf record at offset ", pos, ": bad size ", h.size));
  }
  if (h.size > avail) {
    return absl::DataLossError(absl::StrCat("perf record at offset ", pos, ": size ", h.size,
                                            " beyond the ", avail, " bytes left"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PerfSampleFormat> PerfSampleFormat::Create(uint64_t sample_type) {
  if (sample_type & ~kSupported) {
    return absl::InvalidArgumentError(absl::StrCat("perf sample_type 0x", absl::Hex(sample_type),
                                                   " has unsupported bits 0x",
                                                   absl::Hex(sample_type & ~kSupported)));
  }
  size_t body = 0;
  for (uint64_t bit : {PERF_SAMPLE_IDENTIFIER, PERF_SAMPLE_IP, PERF_SAMPLE_TID, PERF_SAMPLE_TIME,
                       PERF_SAMPLE_ADDR, PERF_SAMPLE_ID, PERF_SAMPLE_STREAM_ID, PERF_SAMPLE_CPU,
                       PERF_SAMPLE_PERIOD, PERF_SAMPLE_WEIGHT, PERF_SAMPLE_DATA_SRC,
                       PERF_SAMPLE_PHYS_ADDR}) {
    if (sample_type & bit) body += 8;  // each is one u64 (TID, CPU: two u32)
  }
  return PerfSampleFormat(sample_type, body);
}

absl::StatusOr<PerfSample> PerfSampleFormat::Decode(absl::Span<const uint8_t> record) const {
  if (record.size() < kHeaderBytes + body_bytes_) {
    return absl::DataLossError(absl::StrCat("perf SAMPLE record of ", record.size(),
                                            " bytes, want ", kHeaderBytes + body_bytes_));
  }
  PerfSample s;
  s.misc = LoadHeader(record.data()).misc;
  const uint8_t* p = record.data() + kHeaderBytes;
  // The kernel's order (perf_output_sample), for the supported fields.
  if (sample_type_ & PERF_SAMPLE_IDENTIFIER) { s.id = Load64(p); p += 8; }
  if (sample_type_ & PERF_SAMPLE_IP) { s.ip = Load64(p); p += 8; }
  if (sample_type_ & PERF_SAMPLE_TID) { s.pid = Load32(p); s.tid = Load32(p + 4); p += 8; }
  if (sample_type_ & PERF_SAMPLE_TIME) { s.time_ns = Load64(p); p += 8; }
  if (sample_type_ & PERF_SAMPLE_ADDR) { s.addr = Load64(p); p += 8; }
  if (sample_type_ & PERF_SAMPLE_ID) { s.id = Load64(p); p += 8; }
  if (sample_type_ & PERF_SAMPLE_STREAM_ID) { p += 8; }
  if (sample_type_ & PERF_SAMPLE_CPU) { s.cpu = Load32(p); p += 8; }
  if (sample_type_ & PERF_SAMPLE_PERIOD) { s.period = Load64(p); p += 8; }
  if (sample_type_ & PERF_SAMPLE_WEIGHT) { s.weight = Load64(p); p += 8; }
  if (sample_type_ & PERF_SAMPLE_DATA_SRC) { s.data_src = Load64(p); p += 8; }
  if (sample_type_ & PERF_SAMPLE_PHYS_ADDR) { p += 8; }
  return s;
}

absl::Status ParsePerfRecords(absl::Span<const uint8_t> bytes, const PerfSampleFormat& format,
                              PerfRecordSink& sink, PerfParseResult* result) {
  PerfParseResult local;
  PerfParseResult& res = result ? *result : local;
  res = PerfParseResult{};
  uint64_t pos = 0;
  while (pos < bytes.size()) {
    const uint64_t avail = bytes.size() - pos;
    if (avail < kHeaderBytes) {
      return absl::DataLossError(absl::StrCat("perf record at offset ", pos, ": ", avail,
                                              " bytes, less than a header"));
    }
    const perf_event_header h = LoadHeader(bytes.data() + pos);
    if (absl::Status s = CheckSize(h, pos, avail); !s.ok()) return s;
    if (absl::Status s = Deliver(bytes.subspan(pos, h.size), format, sink); !s.ok()) return s;
    pos += h.size;
    res.consumed = pos;
    ++res.records;
  }
  return absl::OkStatus();
}

absl::Status ParsePerfRing(absl::Span<const uint8_t> data, uint64_t tail, uint64_t head,
                           const PerfSampleFormat& format, PerfRecordSink& sink,
                           PerfParseResult* result, std::vector<uint8_t>* scratch) {
  PerfParseResult local;
  PerfParseResult& res = result ? *result : local;
  res = PerfParseResult{};
  const uint64_t size = data.size();
  if (size < kHeaderBytes || (size & (size - 1)) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("perf ring of ", size,
                                                   " bytes: not a power of two >= 8"));
  }
  if (head < tail || head - tail > size) {
    return absl::DataLossError(absl::StrCat("perf ring: head ", head, ", tail ", tail,
                                            " for a ring of ", size, " bytes"));
  }
  std::vector<uint8_t> local_scratch;
  std::vector<uint8_t>& buf = scratch ? *scratch : local_scratch;
  const uint64_t mask = size - 1;
  uint64_t pos = tail;
  // Copies `n` bytes from ring offset `at` into buf (handles the wrap).
  auto linear = [&](uint64_t at, uint64_t n) -> absl::Span<const uint8_t> {
    const uint64_t off = at & mask;
    if (off + n <= size) return data.subspan(off, n);
    buf.resize(n);
    const uint64_t first = size - off;
    std::memcpy(buf.data(), data.data() + off, first);
    std::memcpy(buf.data() + first, data.data(), n - first);
    return absl::MakeConstSpan(buf.data(), n);
  };
  while (pos < head) {
    const uint64_t avail = head - pos;
    if (avail < kHeaderBytes) {
      return absl::DataLossError(absl::StrCat("perf ring at ", pos, ": ", avail,
                                              " bytes, less than a header"));
    }
    perf_event_header h;
    {
      absl::Span<const uint8_t> hb = linear(pos, kHeaderBytes);
      h = LoadHeader(hb.data());
    }
    if (absl::Status s = CheckSize(h, pos, avail); !s.ok()) return s;
    if (absl::Status s = Deliver(linear(pos, h.size), format, sink); !s.ok()) return s;
    pos += h.size;
    res.consumed = pos - tail;
    ++res.records;
  }
  return absl::OkStatus();
}

}  // namespace tiervm::adapters
