// NumaBalancingGuard against a temp file standing in for
// /proc/sys/kernel/numa_balancing: turned off and restored, the other
// party's later choice kept, "keep" and unreadable or garbled files never
// written, and the sysctl reader's errors.
#include "daemon/hplaced/numa_balancing.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon/adapters/sysctl.h"

namespace tiervm::hplaced {
namespace {

using ::testing::HasSubstr;

class NumaBalancingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tiervm-nb-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/numa_balancing";
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  void Put(const std::string& text) {
    std::ofstream out(path_, std::ios::trunc);
    out << text;
  }
  std::string Get() {
    std::ifstream in(path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  std::string dir_, path_;
};

TEST_F(NumaBalancingTest, OffTurnsItOffAndRestores) {
  Put("2\n");
  {
    NumaBalancingGuard g("off", path_);
    EXPECT_EQ(Get(), "0\n");
    EXPECT_EQ(g.state().before, 2);
    EXPECT_TRUE(g.state().turned_off);
    EXPECT_EQ(g.state().problem, "");
    ASSERT_TRUE(g.Restore().ok());
    EXPECT_EQ(Get(), "2\n");
    EXPECT_FALSE(g.state().turned_off);
    // Idempotent: a second Restore (and the destructor) change nothing.
    Put("0\n");
    ASSERT_TRUE(g.Restore().ok());
    EXPECT_EQ(Get(), "0\n");
  }
  EXPECT_EQ(Get(), "0\n");
}

TEST_F(NumaBalancingTest, DestructorRestores) {
  Put("1\n");
  { NumaBalancingGuard g("off", path_); }
  EXPECT_EQ(Get(), "1\n");
}

TEST_F(NumaBalancingTest, AlreadyOffIsLeftAlone) {
  Put("0\n");
  NumaBalancingGuard g("off", path_);
  EXPECT_EQ(g.state().before, 0);
  EXPECT_FALSE(g.state().turned_off);
  Put("1\n");  // someone turned it on later: not ours to undo
  ASSERT_TRUE(g.Restore().ok());
  EXPECT_EQ(Get(), "1\n");
}

TEST_F(NumaBalancingTest, SomebodyElsesValueIsKeptAtExit) {
  Put("1\n");
  NumaBalancingGuard g("off", path_);
  EXPECT_EQ(Get(), "0\n");
  Put("2\n");
  ASSERT_TRUE(g.Restore().ok());
  EXPECT_EQ(Get(), "2\n");
}

TEST_F(NumaBalancingTest, KeepOnlyReads) {
  Put("1\n");
  NumaBalancingGuard g("keep", path_);
  EXPECT_EQ(g.state().before, 1);
  EXPECT_FALSE(g.state().turned_off);
  EXPECT_EQ(Get(), "1\n");
}

TEST_F(NumaBalancingTest, MissingFileIsNoted) {
  NumaBalancingGuard g("off", path_);
  EXPECT_FALSE(g.state().before.has_value());
  EXPECT_FALSE(g.state().turned_off);
  EXPECT_THAT(g.state().problem, HasSubstr("NOT_FOUND"));
  EXPECT_FALSE(std::filesystem::exists(path_));
}

TEST_F(NumaBalancingTest, GarbledFileIsNeverWritten) {
  for (const char* text : {"", "abc\n", "1 2\n", "99999999999999999999\n", "0x1\n"}) {
    Put(text);
    NumaBalancingGuard g("off", path_);
    EXPECT_FALSE(g.state().before.has_value()) << text;
    EXPECT_FALSE(g.state().turned_off) << text;
    EXPECT_THAT(g.state().problem, HasSubstr(path_)) << text;
    EXPECT_EQ(Get(), text);
  }
}

TEST_F(NumaBalancingTest, UnwritableFileIsNoted) {
  // Root ignores file modes, but not a read-only sysctl (mode 0444 in
  // /proc/sys: the kernel refuses the write for everyone).  A failed write
  // changes nothing, so the real file is safe to aim at.
  std::string path = path_;
  if (::geteuid() == 0) {
    path = "/proc/sys/kernel/ngroups_max";
    if (::access(path.c_str(), R_OK) != 0) GTEST_SKIP() << "no " << path;
  } else {
    Put("1\n");
    ASSERT_EQ(::chmod(path_.c_str(), 0444), 0);
  }
  absl::StatusOr<int64_t> want = adapters::ReadSysctlInt(path);
  ASSERT_TRUE(want.ok()) << want.status();
  ASSERT_NE(*want, 0);
  NumaBalancingGuard g("off", path);
  EXPECT_EQ(g.state().before, *want);
  EXPECT_FALSE(g.state().turned_off);
  EXPECT_THAT(g.state().problem, HasSubstr(path));
  EXPECT_EQ(*adapters::ReadSysctlInt(path), *want);
}

// The writer's failure path, for root too (which ignores file modes).
TEST_F(NumaBalancingTest, WriteErrorIsAStatus) {
  EXPECT_FALSE(adapters::WriteSysctlInt(dir_, 0).ok());
}

TEST_F(NumaBalancingTest, SysctlReaderAndWriter) {
  Put("  7 \n");
  absl::StatusOr<int64_t> v = adapters::ReadSysctlInt(path_);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, 7);
  Put("-3\n");
  EXPECT_EQ(*adapters::ReadSysctlInt(path_), -3);
  Put(std::string(100, '1'));
  EXPECT_EQ(adapters::ReadSysctlInt(path_).status().code(), absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(adapters::WriteSysctlInt(path_, 5).ok());
  EXPECT_EQ(Get(), "5\n");
  EXPECT_EQ(adapters::WriteSysctlInt(dir_ + "/none/x", 1).code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace tiervm::hplaced
