#include "placement/replay_trace.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tiervm::placement {
namespace {

std::vector<Sample> SomeSamples(int n) {
  std::vector<Sample> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(Sample{100 + i % 3, 0x7f0000000000ull + 4096ull * i,
                         i % 2 ? AccessKind::kStore : AccessKind::kLoad,
                         static_cast<uint32_t>(1 + i), 1000 * i});
  }
  return out;
}

void SetLe(std::string& s, size_t off, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s[off + i] = static_cast<char>(v >> (8 * i));
}

// Rewrites the header checksum so that a test reaches the field checks.
void FixChecksum(std::string& s) {
  SetLe(s, 24, Fnv1a64(absl::string_view(s).substr(kTraceHeaderBytes)), 8);
}

TEST(ReplayTraceTest, RoundTrip) {
  const auto samples = SomeSamples(10);
  const std::string bytes = EncodeTrace(samples);
  EXPECT_EQ(bytes.size(), kTraceHeaderBytes + 10 * kTraceRecordBytes);
  EXPECT_EQ(bytes.substr(0, 8), "TVMTRACE");
  auto decoded = DecodeTrace(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, samples);
}

TEST(ReplayTraceTest, EmptyTraceIsValid) {
  auto decoded = DecodeTrace(EncodeTrace({}));
  ASSERT_TRUE(decoded.ok());
  EXPECT_TRUE(decoded->empty());
}

TEST(ReplayTraceTest, SourceReadsInChunksUpToTheHorizon) {
  auto src = ReplaySource::FromBytes(EncodeTrace(SomeSamples(10)));
  ASSERT_TRUE(src.ok());
  std::vector<Sample> buf(4);
  src->set_horizon_ns(5000);  // samples at t = 0, 1000, ..., 4000
  auto n = src->Read(absl::MakeSpan(buf));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 4u);
  EXPECT_EQ(*src->Read(absl::MakeSpan(buf)), 1u);
  EXPECT_EQ(*src->Read(absl::MakeSpan(buf)), 0u);
  EXPECT_FALSE(src->Exhausted());
  src->set_horizon_ns(std::numeric_limits<int64_t>::max());
  EXPECT_EQ(*src->Read(absl::MakeSpan(buf)), 4u);
  EXPECT_EQ(*src->Read(absl::MakeSpan(buf)), 1u);
  EXPECT_TRUE(src->Exhausted());
  EXPECT_EQ(buf[0].time_ns, 9000);
}

TEST(ReplayTraceTest, EveryTruncationIsAnError) {
  const std::string bytes = EncodeTrace(SomeSamples(3));
  for (size_t len = 0; len < bytes.size(); ++len) {
    auto decoded = DecodeTrace(absl::string_view(bytes).substr(0, len));
    ASSERT_FALSE(decoded.ok()) << len;
    EXPECT_TRUE(absl::IsDataLoss(decoded.status()) ||
                absl::IsInvalidArgument(decoded.status()))
        << len << ": " << decoded.status();
  }
  EXPECT_TRUE(absl::IsDataLoss(DecodeTrace(bytes + "x").status()));
}

TEST(ReplayTraceTest, HugeRecordCountDoesNotAllocate) {
  std::string bytes = EncodeTrace(SomeSamples(1));
  SetLe(bytes, 16, ~0ull / 2, 8);
  auto decoded = DecodeTrace(bytes);
  EXPECT_TRUE(absl::IsDataLoss(decoded.status())) << decoded.status();
}

TEST(ReplayTraceTest, CorruptHeaders) {
  const std::string good = EncodeTrace(SomeSamples(2));
  std::string s = good;
  s[0] = 'X';
  EXPECT_TRUE(absl::IsInvalidArgument(DecodeTrace(s).status()));
  s = good;
  SetLe(s, 8, 2, 2);  // version 2
  EXPECT_TRUE(absl::IsUnimplemented(DecodeTrace(s).status()));
  s = good;
  SetLe(s, 12, 40, 2);  // other record size
  EXPECT_TRUE(absl::IsUnimplemented(DecodeTrace(s).status()));
  s = good;
  SetLe(s, 14, 1, 2);  // unknown flag
  EXPECT_TRUE(absl::IsInvalidArgument(DecodeTrace(s).status()));
  s = good;
  s[kTraceHeaderBytes + 9] ^= 0x10;  // bit flip in a vaddr
  auto st = DecodeTrace(s).status();
  EXPECT_TRUE(absl::IsDataLoss(st));
  EXPECT_THAT(std::string(st.message()), ::testing::HasSubstr("checksum"));
}

TEST(ReplayTraceTest, CorruptFieldsNameTheRecord) {
  const std::string good = EncodeTrace(SomeSamples(3));
  const size_t r1 = kTraceHeaderBytes + kTraceRecordBytes;  // record 1
  struct Case {
    size_t off;
    uint64_t value;
    int bytes;
    const char* message;
  } cases[] = {
      {r1 + 0, 0, 8, "goes back"},          // time runs backwards (set up below)
      {r1 + 8, 0, 8, "vaddr"},              // null address
      {r1 + 8, 1ull << 60, 8, "vaddr"},     // kernel half
      {r1 + 16, 0, 4, "pid"},
      {r1 + 16, kTraceMaxPid + 1, 4, "pid"},
      {r1 + 20, 0, 4, "weight"},
      {r1 + 24, 2, 1, "kind"},
      {r1 + 31, 1, 1, "reserved"},
      {r1 + 0, 1ull << 63, 8, "negative"},
  };
  for (const Case& c : cases) {
    std::string s = good;
    SetLe(s, c.off, c.value, c.bytes);
    if (c.off == r1 && c.value == 0) {
      // Record 0 is at t=0; make record 1 go back from record 0.
      SetLe(s, kTraceHeaderBytes, 5000, 8);
      SetLe(s, r1, 10, 8);
    }
    FixChecksum(s);
    const absl::Status st = DecodeTrace(s).status();
    EXPECT_TRUE(absl::IsInvalidArgument(st)) << c.message << ": " << st;
    EXPECT_THAT(std::string(st.message()), ::testing::HasSubstr("record"));
    EXPECT_THAT(std::string(st.message()), ::testing::HasSubstr(c.message));
  }
}

TEST(ReplayTraceTest, ValidateSample) {
  Sample s{1, 4096, AccessKind::kLoad, 1, 10};
  EXPECT_TRUE(ValidateSample(s, 0).ok());
  EXPECT_FALSE(ValidateSample(s, 11).ok());
  s.pid = -1;
  EXPECT_FALSE(ValidateSample(s, 0).ok());
}

}  // namespace
}  // namespace tiervm::placement
