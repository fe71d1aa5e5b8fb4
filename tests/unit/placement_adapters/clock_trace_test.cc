#include <time.h>

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon/adapters/real_clock.h"
#include "daemon/adapters/trace_file.h"
#include "placement/replay_trace.h"
#include "test_tree.h"

namespace tiervm::adapters {
namespace {

using ::testing::HasSubstr;
using placement::Sample;
using testing::TestTree;

TEST(RealClock, MonotonicAndCpuAdvance) {
  RealClock clock;
  const int64_t t0 = clock.MonotonicNs(), c0 = clock.OwnCpuNs();
  EXPECT_GT(t0, 0);
  EXPECT_GE(c0, 0);
  volatile uint64_t x = 0;
  int64_t c1 = c0;
  // Burn CPU until the process clock moves (it has at least µs resolution).
  for (int i = 0; i < 1000 && c1 == c0; ++i) {
    for (int j = 0; j < 100000; ++j) x = x + static_cast<uint64_t>(j);
    c1 = clock.OwnCpuNs();
  }
  EXPECT_GT(c1, c0);
  const int64_t t1 = clock.MonotonicNs();
  EXPECT_GE(t1, t0);
  EXPECT_GE(t1 - t0, 0);
  struct timespec ts;
  ASSERT_EQ(::clock_gettime(CLOCK_MONOTONIC, &ts), 0);
  const int64_t now = static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
  EXPECT_LE(t1, now);
}

std::vector<Sample> Samples() {
  std::vector<Sample> s(3);
  for (int i = 0; i < 3; ++i) {
    s[i].pid = 10 + i;
    s[i].vaddr = 0x7f0000000000ull + static_cast<uint64_t>(i) * 4096;
    s[i].weight = 1;
    s[i].time_ns = i;
  }
  return s;
}

TEST(TraceFile, ReadsAndReplays) {
  TestTree tree;
  const std::string path = tree.Write("t.trace", placement::EncodeTrace(Samples()));
  auto samples = ReadTraceFile(path);
  ASSERT_TRUE(samples.ok()) << samples.status();
  EXPECT_EQ(*samples, Samples());
  auto src = OpenReplayFile(path);
  ASSERT_TRUE(src.ok()) << src.status();
  EXPECT_EQ(src->remaining(), 3u);
}

TEST(TraceFile, Errors) {
  TestTree tree;
  const std::string good = placement::EncodeTrace(Samples());
  EXPECT_EQ(ReadTraceFile(tree.root() + "/missing").status().code(), absl::StatusCode::kNotFound);
  const std::string big = tree.Write("big.trace", good);
  auto r = ReadTraceFile(big, good.size() - 1);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("big.trace"));
  EXPECT_TRUE(ReadTraceFile(big, good.size()).ok());
  const std::string cut = tree.Write("cut.trace", good.substr(0, good.size() - 1));
  r = ReadTraceFile(cut);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("cut.trace: "));
  EXPECT_FALSE(OpenReplayFile(cut).ok());
  // A directory is not a trace.
  EXPECT_FALSE(ReadTraceFile(tree.root()).ok());
}

}  // namespace
}  // namespace tiervm::adapters
