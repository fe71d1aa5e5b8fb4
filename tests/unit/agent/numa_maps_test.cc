// /proc/PID/numa_maps parsing (ParseNumaMaps) and the procfs reader on a
// fixture tree and on this test process itself.
#include "adapters/procfs/numa_maps.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tiervm::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

// A QEMU-like process: its binary, a heap, guest RAM bound to host node 1
// in 4 KiB pages with THP, a 2 MiB hugetlbfs backend on node 0 and a
// mapping with nothing resident.
constexpr char kQemuLike[] =
    "55d4a0a00000 default file=/usr/bin/qemu-system-x86_64 mapped=900 mapmax=2 N0=900 "
    "kernelpagesize_kB=4\n"
    "55d4a2000000 default heap anon=300 dirty=300 active=0 N0=200 N1=100 "
    "kernelpagesize_kB=4\n"
    "7f0000000000 bind:1 anon=262144 dirty=262144 active=0 N1=262144 kernelpagesize_kB=4\n"
    "7f2000000000 bind:0 file=/dev/hugepages/qemu_back_mem.smem huge dirty=512 N0=512 "
    "kernelpagesize_kB=2048\n"
    "7f4000000000 default anon=0\n"
    "7ffd00000000 default stack anon=8 dirty=8 N0=8 kernelpagesize_kB=4\n";

TEST(NumaMapsTest, SumsNodeCountsTimesPageSize) {
  absl::StatusOr<NumaResidency> r = ParseNumaMaps(kQemuLike);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->lines, 6u);
  EXPECT_EQ(r->skipped_lines, 0u);
  EXPECT_THAT(r->node_bytes,
              ElementsAre(Pair(0, (900u + 200 + 8) * 4096 + 512ull * 2 * 1024 * 1024),
                          Pair(1, (100ull + 262144) * 4096)));
  EXPECT_EQ(r->BytesOn(std::vector<int>{1}), (100ull + 262144) * 4096);
  EXPECT_EQ(r->BytesOn(std::vector<int>{2}), 0u);
}

TEST(NumaMapsTest, EmptyTextIsNothingResident) {
  absl::StatusOr<NumaResidency> r = ParseNumaMaps("");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->node_bytes.empty());
  EXPECT_EQ(r->lines, 0u);
}

TEST(NumaMapsTest, PathWithSpacesDoesNotAddNodeCounts) {
  // The kernel does not escape spaces in file= paths; only the fields
  // after the path are node counts.
  absl::StatusOr<NumaResidency> r = ParseNumaMaps(
      "7f0000000000 default file=/tmp/evil N0=999999 name mapped=2 N0=2 kernelpagesize_kB=4\n");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->node_bytes, ElementsAre(Pair(0, 2u * 4096)));
}

TEST(NumaMapsTest, MalformedLinesAreSkippedAndCounted) {
  const std::string text = absl::StrCat(
      kQemuLike,
      "garbage\n",                                                      // no address/policy
      "7f5000000000 default anon=4 N0=4\n",                             // no page size
      "7f5100000000 default anon=4 N0=x kernelpagesize_kB=4\n",         // bad count
      "7f5200000000 default anon=4 N2048=4 kernelpagesize_kB=4\n",      // node out of range
      "7f5300000000 default anon=4 N0=4 kernelpagesize_kB=0\n",         // zero page size
      "7f5400000000 default anon=1 N0=18446744073709551615 kernelpagesize_kB=4\n",  // overflow
      "zzzz default N0=4 kernelpagesize_kB=4\n");                       // bad address
  absl::StatusOr<NumaResidency> r = ParseNumaMaps(text);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->lines, 6u);
  EXPECT_EQ(r->skipped_lines, 7u);
  EXPECT_THAT(r->first_error, HasSubstr("garbage"));
  // Exactly the good lines' sums.
  absl::StatusOr<NumaResidency> good = ParseNumaMaps(kQemuLike);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(r->node_bytes, good->node_bytes);
}

TEST(NumaMapsTest, NodeTotalOverflowSkipsTheWholeLine) {
  absl::StatusOr<NumaResidency> r = ParseNumaMaps(
      "7f0000000000 default anon=1 N0=4503599627370495 kernelpagesize_kB=4\n"
      "7f1000000000 default anon=1 N1=1 N0=4503599627370495 kernelpagesize_kB=4\n");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->skipped_lines, 1u);
  EXPECT_THAT(r->first_error, HasSubstr("overflows"));
  EXPECT_THAT(r->node_bytes, ElementsAre(Pair(0, 4503599627370495ull * 4096)));
}

TEST(NumaMapsTest, NothingReadableIsAnError) {
  absl::StatusOr<NumaResidency> r = ParseNumaMaps("not numa_maps\nat all\n");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("no readable line"));
}

TEST(NumaMapsTest, LongGarbageLineIsCutInTheError) {
  const std::string line(100000, 'x');
  absl::StatusOr<NumaResidency> r = ParseNumaMaps(line);
  ASSERT_FALSE(r.ok());
  EXPECT_LT(r.status().message().size(), 400u);
}

TEST(NumaMapsTest, OversizedTextIsRefused) {
  const std::string text(kMaxNumaMapsBytes + 1, '\n');
  absl::StatusOr<NumaResidency> r = ParseNumaMaps(text);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(NumaMapsTest, BinaryJunkNeverCrashes) {
  std::string junk;
  for (int i = 0; i < 4096; ++i) junk.push_back(static_cast<char>((i * 7919) & 0xff));
  absl::StatusOr<NumaResidency> r = ParseNumaMaps(junk);
  if (r.ok()) {
    EXPECT_GT(r->skipped_lines + r->lines, 0u);
  }
}

TEST(NumaMapsReaderTest, ReadsFixtureAndReportsMissingProcess) {
  char t[] = "/tmp/tiervm-numa-XXXXXX";
  const std::string root = ::mkdtemp(t);
  ASSERT_EQ(std::system(absl::StrCat("mkdir -p ", root, "/proc/4242").c_str()), 0);
  std::ofstream(root + "/proc/4242/numa_maps") << kQemuLike;
  ProcfsNumaMapsReader reader(root + "/");
  absl::StatusOr<NumaResidency> r = reader.Read(4242);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->BytesOn(std::vector<int>{1}), (100ull + 262144) * 4096);
  EXPECT_EQ(reader.Read(4243).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(reader.Read(0).status().code(), absl::StatusCode::kInvalidArgument);
  std::system(absl::StrCat("rm -rf ", root).c_str());
}

TEST(NumaMapsReaderTest, SeesThisProcessTouchMemory) {
  ProcfsNumaMapsReader reader("/");
  absl::StatusOr<NumaResidency> before = reader.Read(::getpid());
  if (!before.ok() && absl::IsNotFound(before.status())) {
    GTEST_SKIP() << "no /proc/self/numa_maps (kernel without CONFIG_NUMA)";
  }
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->skipped_lines, 0u) << before->first_error;
  uint64_t total_before = 0;
  for (const auto& [n, b] : before->node_bytes) total_before += b;
  // Touch 64 MiB; resident memory must grow by about that.
  constexpr size_t kTouch = size_t{64} << 20;
  std::vector<char> buf(kTouch);
  std::memset(buf.data(), 1, buf.size());
  absl::StatusOr<NumaResidency> after = reader.Read(::getpid());
  ASSERT_TRUE(after.ok()) << after.status();
  uint64_t total_after = 0;
  for (const auto& [n, b] : after->node_bytes) total_after += b;
  EXPECT_GE(total_after, total_before + kTouch - (4u << 20));
  EXPECT_NE(buf[kTouch - 1], 0);
}

}  // namespace
}  // namespace tiervm::agent
