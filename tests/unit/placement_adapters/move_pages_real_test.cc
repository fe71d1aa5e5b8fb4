// The real move_pages(2) on this process.  Valid on a single-node machine:
// every page is on node 0 there, and moving a page to node 0 is a no-op that
// reports node 0.
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <gtest/gtest.h>

#include "daemon/adapters/move_pages.h"
#include "daemon/adapters/procfs.h"

namespace tiervm::adapters {
namespace {

using placement::kBasePageBytes;

class RealMovePagesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mem_ = ::mmap(nullptr, 4 * kBasePageBytes, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(mem_, MAP_FAILED);
    // Touch pages 0..2; page 3 stays unpopulated.
    std::memset(mem_, 1, 3 * kBasePageBytes);
    base_ = reinterpret_cast<Vaddr>(mem_);
    auto nodes = ReadOnlineNodes("");
    single_node_ = nodes.ok() && nodes->size() == 1 && (*nodes)[0] == 0;
  }
  void TearDown() override { ::munmap(mem_, 4 * kBasePageBytes); }

  void* mem_ = nullptr;
  Vaddr base_ = 0;
  bool single_node_ = true;
};

TEST_F(RealMovePagesTest, QueryModeFindsOwnPages) {
  LinuxPageMoveSyscall sys;
  Vaddr pages[4] = {base_, base_ + kBasePageBytes, base_ + 2 * kBasePageBytes,
                    base_ + 3 * kBasePageBytes};
  int status[4] = {-1, -1, -1, -1};
  const long r = sys.MovePages(::getpid(), pages, {}, absl::MakeSpan(status));
  ASSERT_EQ(r, 0) << std::strerror(static_cast<int>(-r));
  for (int i = 0; i < 3; ++i) {
    EXPECT_GE(status[i], 0);
    if (single_node_) {
      EXPECT_EQ(status[i], 0);
    }
  }
  EXPECT_TRUE(status[3] == -ENOENT || status[3] == -EFAULT) << status[3];
}

TEST_F(RealMovePagesTest, LocatorCountsOwnPagesOnNode0) {
  if (!single_node_) GTEST_SKIP() << "pages may live on another node";
  LinuxPageMoveSyscall sys;
  MovePagesLocator loc(sys, {.fmem_node = 0, .smem_node = 1});
  auto res = loc.Locate(::getpid(), base_, base_ + 4 * kBasePageBytes);
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->fmem_bytes, 3 * kBasePageBytes);
  EXPECT_EQ(res->smem_bytes, 0u);
}

TEST_F(RealMovePagesTest, MovingToNode0IsAppliedNoOp) {
  if (!single_node_) GTEST_SKIP() << "would really migrate";
  LinuxPageMoveSyscall sys;
  MovePagesExecutor exec(sys, {});
  placement::ExchangePlan plan;
  plan.rounds.push_back(
      {{}, {placement::PageMove{::getpid(), base_, kBasePageBytes, placement::Tier::kFmem, 0}}});
  MoverResult r = exec.Execute(plan);
  EXPECT_EQ(r.stop, MoverStop::kDone) << r.fatal;
  EXPECT_EQ(r.report.applied_moves, 1u);
  EXPECT_EQ(r.report.applied_bytes, kBasePageBytes);
}

TEST_F(RealMovePagesTest, ProcessGoneIsNotFound) {
  LinuxPageMoveSyscall sys;
  MovePagesLocator loc(sys, {});
  // Above PID_MAX_LIMIT (4194304): no such process.
  auto res = loc.Locate(0x7ffffff0, base_, base_ + kBasePageBytes);
  EXPECT_EQ(res.status().code(), absl::StatusCode::kNotFound) << res.status();
}

TEST_F(RealMovePagesTest, OwnMapsContainTheMapping) {
  auto maps = ReadMaps("", ::getpid());
  ASSERT_TRUE(maps.ok()) << maps.status();
  bool found = false;
  for (const MapsEntry& e : *maps) {
    if (e.start <= base_ && base_ + 4 * kBasePageBytes <= e.end) {
      found = true;
      EXPECT_TRUE(IsPlaceable(e, {}));
    }
  }
  EXPECT_TRUE(found);
  EXPECT_FALSE(PlaceableVmas(*maps).empty());
}

}  // namespace
}  // namespace tiervm::adapters
