// The perf ring-buffer record parser on synthesised records: samples, LOST,
// THROTTLE/UNTHROTTLE, unknown types, records wrapping around the ring end,
// and corrupt or truncated input (size 0, size not a multiple of 8, size
// beyond head, a SAMPLE shorter than its fields, head/tail out of range).
#include "daemon/adapters/perf_record_parser.h"

#include <linux/perf_event.h>

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "perf_synth.h"

namespace tiervm::adapters {
namespace {

using ::tiervm::testing::AppendLost;
using ::tiervm::testing::AppendOther;
using ::tiervm::testing::AppendSample;
using ::tiervm::testing::AppendThrottle;
using ::tiervm::testing::PutHeader;
using ::tiervm::testing::WriteRing;

constexpr uint64_t kType = PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_ADDR | PERF_SAMPLE_WEIGHT;

struct Recorder : PerfRecordSink {
  std::vector<PerfSample> samples;
  uint64_t lost = 0, throttles = 0, unthrottles = 0;
  std::vector<uint32_t> other;
  void OnSample(const PerfSample& s) override { samples.push_back(s); }
  void OnLost(uint64_t, uint64_t n) override { lost += n; }
  void OnThrottle(uint64_t, bool t) override { ++(t ? throttles : unthrottles); }
  void OnOther(uint32_t type) override { other.push_back(type); }
};

PerfSampleFormat Format(uint64_t type = kType) { return *PerfSampleFormat::Create(type); }

TEST(PerfSampleFormat, SizesAndUnsupportedBits) {
  EXPECT_EQ(Format().body_bytes(), 32u);
  EXPECT_EQ(Format(kType | PERF_SAMPLE_IP | PERF_SAMPLE_CPU | PERF_SAMPLE_DATA_SRC).body_bytes(), 56u);
  EXPECT_TRUE(absl::IsInvalidArgument(PerfSampleFormat::Create(kType | PERF_SAMPLE_CALLCHAIN).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(PerfSampleFormat::Create(PERF_SAMPLE_READ).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(PerfSampleFormat::Create(PERF_SAMPLE_WEIGHT_STRUCT).status()));
}

TEST(PerfSampleFormat, FieldOrderWithOptionalFields) {
  const uint64_t type = PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_ADDR |
                        PERF_SAMPLE_CPU | PERF_SAMPLE_PERIOD | PERF_SAMPLE_WEIGHT | PERF_SAMPLE_DATA_SRC;
  std::vector<uint8_t> b;
  PutHeader(b, PERF_RECORD_SAMPLE, 8 + 64);
  testing::Put64(b, 0x401000);  // ip
  testing::Put32(b, 42);        // pid
  testing::Put32(b, 43);        // tid
  testing::Put64(b, 1000);      // time
  testing::Put64(b, 0x7f0000001000);  // addr
  testing::Put32(b, 1);         // cpu
  testing::Put32(b, 0);         // res
  testing::Put64(b, 4093);      // period
  testing::Put64(b, 250);       // weight
  testing::Put64(b, 0x1234);    // data_src
  absl::StatusOr<PerfSample> s = Format(type).Decode(b);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->ip, 0x401000u);
  EXPECT_EQ(s->pid, 42u);
  EXPECT_EQ(s->tid, 43u);
  EXPECT_EQ(s->time_ns, 1000u);
  EXPECT_EQ(s->addr, 0x7f0000001000u);
  EXPECT_EQ(s->cpu, 1u);
  EXPECT_EQ(s->period, 4093u);
  EXPECT_EQ(s->weight, 250u);
  EXPECT_EQ(s->data_src, 0x1234u);
}

TEST(ParsePerfRecords, AllKindsInOrder) {
  std::vector<uint8_t> b;
  AppendSample(b, 10, 11, 100, 0x1000, 7);
  AppendLost(b, 1, 5);
  AppendThrottle(b, 200, true);
  AppendThrottle(b, 300, false);
  AppendOther(b, PERF_RECORD_MMAP2, 64);
  AppendOther(b, 0x7777, 0);  // unknown, header only
  AppendSample(b, 12, 12, 400, 0x2000, 9);
  Recorder r;
  PerfParseResult res;
  ASSERT_TRUE(ParsePerfRecords(b, Format(), r, &res).ok());
  EXPECT_EQ(res.records, 7u);
  EXPECT_EQ(res.consumed, b.size());
  ASSERT_EQ(r.samples.size(), 2u);
  EXPECT_EQ(r.samples[0].pid, 10u);
  EXPECT_EQ(r.samples[0].addr, 0x1000u);
  EXPECT_EQ(r.samples[0].weight, 7u);
  EXPECT_EQ(r.samples[1].time_ns, 400u);
  EXPECT_EQ(r.lost, 5u);
  EXPECT_EQ(r.throttles, 1u);
  EXPECT_EQ(r.unthrottles, 1u);
  EXPECT_THAT(r.other, ::testing::ElementsAre(PERF_RECORD_MMAP2, 0x7777u));
}

TEST(ParsePerfRecords, CorruptSizes) {
  for (uint16_t bad_size : {0, 4, 7, 12}) {
    std::vector<uint8_t> b;
    AppendSample(b, 1, 1, 1, 0x1000, 1);
    PutHeader(b, PERF_RECORD_SAMPLE, bad_size);
    b.resize(b.size() + 64);
    Recorder r;
    PerfParseResult res;
    absl::Status s = ParsePerfRecords(b, Format(), r, &res);
    EXPECT_TRUE(absl::IsDataLoss(s)) << bad_size << " " << s;
    EXPECT_EQ(r.samples.size(), 1u) << "records before the bad one are delivered";
    EXPECT_EQ(res.consumed, 40u);
  }
  // Size beyond the buffer.
  std::vector<uint8_t> b;
  PutHeader(b, PERF_RECORD_LOST, 4096);
  testing::Put64(b, 0);
  Recorder r;
  EXPECT_TRUE(absl::IsDataLoss(ParsePerfRecords(b, Format(), r, nullptr)));
  // A SAMPLE whose size is valid framing but shorter than its fields.
  b.clear();
  PutHeader(b, PERF_RECORD_SAMPLE, 16);
  testing::Put64(b, 0);
  EXPECT_TRUE(absl::IsDataLoss(ParsePerfRecords(b, Format(), r, nullptr)));
  // LOST and THROTTLE too short.
  b.clear();
  PutHeader(b, PERF_RECORD_LOST, 16);
  testing::Put64(b, 0);
  EXPECT_TRUE(absl::IsDataLoss(ParsePerfRecords(b, Format(), r, nullptr)));
  b.clear();
  PutHeader(b, PERF_RECORD_THROTTLE, 24);
  testing::Put64(b, 0);
  testing::Put64(b, 0);
  EXPECT_TRUE(absl::IsDataLoss(ParsePerfRecords(b, Format(), r, nullptr)));
}

TEST(ParsePerfRecords, EveryTruncationIsDataLossOrAPrefix) {
  std::vector<uint8_t> b;
  AppendSample(b, 1, 1, 1, 0x1000, 1);
  AppendLost(b, 1, 2);
  AppendThrottle(b, 3, true);
  AppendOther(b, PERF_RECORD_COMM, 24);
  std::vector<size_t> boundaries = {0, 40, 64, 96, 128};
  for (size_t n = 0; n <= b.size(); ++n) {
    std::vector<uint8_t> t(b.begin(), b.begin() + static_cast<long>(n));
    Recorder r;
    PerfParseResult res;
    absl::Status s = ParsePerfRecords(t, Format(), r, &res);
    const bool at_boundary = std::find(boundaries.begin(), boundaries.end(), n) != boundaries.end();
    EXPECT_EQ(s.ok(), at_boundary) << n << " " << s;
    if (!s.ok()) {
      EXPECT_TRUE(absl::IsDataLoss(s)) << n;
    }
    EXPECT_LE(res.consumed, n);
  }
}

TEST(ParsePerfRing, WrapAroundTheEnd) {
  std::vector<uint8_t> ring(256, 0xee);
  std::vector<uint8_t> b;
  for (int i = 0; i < 5; ++i) AppendSample(b, 100 + i, 100 + i, i, 0x1000 * (i + 1), 1);
  AppendLost(b, 9, 3);
  ASSERT_EQ(b.size(), 224u);
  // Every start offset: records straddle the end in every possible place.
  for (uint64_t tail = 1000; tail < 1000 + 256; tail += 8) {
    WriteRing(ring, tail, b);
    Recorder r;
    PerfParseResult res;
    std::vector<uint8_t> scratch;
    absl::Status s = ParsePerfRing(ring, tail, tail + b.size(), Format(), r, &res, &scratch);
    ASSERT_TRUE(s.ok()) << tail << " " << s;
    ASSERT_EQ(r.samples.size(), 5u) << tail;
    for (int i = 0; i < 5; ++i) {
      EXPECT_EQ(r.samples[i].pid, 100u + i);
      EXPECT_EQ(r.samples[i].addr, 0x1000u * (i + 1));
    }
    EXPECT_EQ(r.lost, 3u);
    EXPECT_EQ(res.consumed, b.size());
  }
}

TEST(ParsePerfRing, HeadTailChecks) {
  std::vector<uint8_t> ring(128, 0);
  Recorder r;
  EXPECT_TRUE(absl::IsDataLoss(ParsePerfRing(ring, 100, 50, Format(), r, nullptr, nullptr)));
  EXPECT_TRUE(absl::IsDataLoss(ParsePerfRing(ring, 0, 129, Format(), r, nullptr, nullptr)));
  EXPECT_TRUE(ParsePerfRing(ring, 77, 77, Format(), r, nullptr, nullptr).ok());
  std::vector<uint8_t> odd(100, 0);
  EXPECT_TRUE(absl::IsInvalidArgument(ParsePerfRing(odd, 0, 8, Format(), r, nullptr, nullptr)));
  // All-zero ring: a header of size 0.
  EXPECT_TRUE(absl::IsDataLoss(ParsePerfRing(ring, 0, 64, Format(), r, nullptr, nullptr)));
  // A record claiming to run past head (truncated), wrapping.
  std::vector<uint8_t> b;
  AppendSample(b, 1, 1, 1, 0x1000, 1);
  WriteRing(ring, 120, b);
  PerfParseResult res;
  EXPECT_TRUE(absl::IsDataLoss(ParsePerfRing(ring, 120, 120 + 24, Format(), r, &res, nullptr)));
  EXPECT_EQ(res.consumed, 0u);
  // Less than a header left.
  EXPECT_TRUE(absl::IsDataLoss(ParsePerfRing(ring, 120, 124, Format(), r, nullptr, nullptr)));
}

}  // namespace
}  // namespace tiervm::adapters
