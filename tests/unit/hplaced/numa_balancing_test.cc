// NumaBalancingGuard against a temp file standing in for
// /proc/sys/kernel/numa_balancing and another for its state file: turned
// off and restored, the other party's later choice kept, "keep" and
// unreadable or garbled files never written, the sysctl reader's errors;
// and a guard killed before it could restore (a forked child that
// _exit()s: no destructor runs): the restarted guard takes the original
// from the state file, not the 0 the killed one left, and
// RestoreLeftOver() (`hplaced --restore-numa-balancing`) puts it back.
#include "daemon/hplaced/numa_balancing.h"

#include <sys/stat.h>
#include <sys/wait.h>
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
    state_ = dir_ + "/run/numa_balancing";
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  void Put(const std::string& text) {
    std::ofstream out(path_, std::ios::trunc);
    out << text;
  }
  std::string Get() { return Read(path_); }
  static std::string Read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  bool StateExists() const { return std::filesystem::exists(state_); }
  // A guard that is SIGKILLed: it runs in a child that never gets to its
  // destructor or Restore().
  void StartAndKill(const std::string& mode = "off") {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      NumaBalancingGuard g(mode, path_, state_);
      ::_exit(g.state().turned_off ? 0 : 1);
    }
    int st = 0;
    ASSERT_EQ(::waitpid(pid, &st, 0), pid);
    ASSERT_TRUE(WIFEXITED(st));
  }
  std::string dir_, path_, state_;
};

TEST_F(NumaBalancingTest, OffTurnsItOffAndRestores) {
  Put("2\n");
  {
    NumaBalancingGuard g("off", path_, state_);
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
  { NumaBalancingGuard g("off", path_, state_); }
  EXPECT_EQ(Get(), "1\n");
}

TEST_F(NumaBalancingTest, AlreadyOffIsLeftAlone) {
  Put("0\n");
  NumaBalancingGuard g("off", path_, state_);
  EXPECT_EQ(g.state().before, 0);
  EXPECT_FALSE(g.state().turned_off);
  Put("1\n");  // someone turned it on later: not ours to undo
  ASSERT_TRUE(g.Restore().ok());
  EXPECT_EQ(Get(), "1\n");
}

TEST_F(NumaBalancingTest, SomebodyElsesValueIsKeptAtExit) {
  Put("1\n");
  NumaBalancingGuard g("off", path_, state_);
  EXPECT_EQ(Get(), "0\n");
  Put("2\n");
  ASSERT_TRUE(g.Restore().ok());
  EXPECT_EQ(Get(), "2\n");
}

TEST_F(NumaBalancingTest, KeepOnlyReads) {
  Put("1\n");
  NumaBalancingGuard g("keep", path_, state_);
  EXPECT_EQ(g.state().before, 1);
  EXPECT_FALSE(g.state().turned_off);
  EXPECT_EQ(Get(), "1\n");
}

TEST_F(NumaBalancingTest, MissingFileIsNoted) {
  NumaBalancingGuard g("off", path_, state_);
  EXPECT_FALSE(g.state().before.has_value());
  EXPECT_FALSE(g.state().turned_off);
  EXPECT_THAT(g.state().problem, HasSubstr("NOT_FOUND"));
  EXPECT_FALSE(std::filesystem::exists(path_));
}

TEST_F(NumaBalancingTest, GarbledFileIsNeverWritten) {
  for (const char* text : {"", "abc\n", "1 2\n", "99999999999999999999\n", "0x1\n"}) {
    Put(text);
    NumaBalancingGuard g("off", path_, state_);
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
  NumaBalancingGuard g("off", path, state_);
  EXPECT_EQ(g.state().before, *want);
  EXPECT_FALSE(g.state().turned_off);
  EXPECT_THAT(g.state().problem, HasSubstr(path));
  EXPECT_EQ(*adapters::ReadSysctlInt(path), *want);
}

// The original is on disk before the 0 is written, and gone once it is
// back.
TEST_F(NumaBalancingTest, OffSavesTheOriginalFirstAndRemovesItAtRestore) {
  Put("2\n");
  NumaBalancingGuard g("off", path_, state_);
  EXPECT_EQ(Get(), "0\n");
  EXPECT_EQ(Read(state_), "2\n");  // its directory was made
  EXPECT_FALSE(g.state().adopted);
  ASSERT_TRUE(g.Restore().ok());
  EXPECT_EQ(Get(), "2\n");
  EXPECT_FALSE(StateExists());
  EXPECT_FALSE(std::filesystem::exists(state_ + ".tmp"));
}

// Issue 13, defect 8: hplaced SIGKILLed, then started again.
TEST_F(NumaBalancingTest, RestartAfterKillTakesTheSavedOriginal) {
  Put("1\n");
  StartAndKill();
  EXPECT_EQ(Get(), "0\n");  // the killed guard left it off
  NumaBalancingGuard g("off", path_, state_);
  EXPECT_EQ(g.state().before, 1);  // not the 0 it found
  EXPECT_TRUE(g.state().adopted);
  EXPECT_TRUE(g.state().turned_off);
  EXPECT_EQ(Get(), "0\n");
  EXPECT_EQ(Read(state_), "1\n");  // still saved while it runs
  ASSERT_TRUE(g.Restore().ok());
  EXPECT_EQ(Get(), "1\n");
  EXPECT_FALSE(StateExists());
}

// A restart loop: every start is killed; the original survives them all.
TEST_F(NumaBalancingTest, RepeatedKillsKeepTheOriginal) {
  Put("3\n");
  for (int i = 0; i < 5; ++i) {
    StartAndKill();
    EXPECT_EQ(Get(), "0\n") << i;
    EXPECT_EQ(Read(state_), "3\n") << i;
  }
  { NumaBalancingGuard g("off", path_, state_); }  // a clean run at last
  EXPECT_EQ(Get(), "3\n");
  EXPECT_FALSE(StateExists());
}

// ExecStopPost=: `hplaced --restore-numa-balancing` after the kill.
TEST_F(NumaBalancingTest, RestoreLeftOverPutsItBack) {
  Put("2\n");
  StartAndKill();
  ASSERT_TRUE(NumaBalancingGuard::RestoreLeftOver(path_, state_).ok());
  EXPECT_EQ(Get(), "2\n");
  EXPECT_FALSE(StateExists());
  // Nothing left: a second run (or one after a clean exit) does nothing.
  Put("0\n");
  ASSERT_TRUE(NumaBalancingGuard::RestoreLeftOver(path_, state_).ok());
  EXPECT_EQ(Get(), "0\n");
  // A restarted guard then finds the sysctl at its original again.
  Put("2\n");
  NumaBalancingGuard g("off", path_, state_);
  EXPECT_EQ(g.state().before, 2);
  EXPECT_FALSE(g.state().adopted);
}

// The user set a value after the kill: theirs is kept, the stale file goes.
TEST_F(NumaBalancingTest, AValueSetAfterTheKillIsKept) {
  Put("1\n");
  StartAndKill();
  Put("2\n");
  ASSERT_TRUE(NumaBalancingGuard::RestoreLeftOver(path_, state_).ok());
  EXPECT_EQ(Get(), "2\n");
  EXPECT_FALSE(StateExists());

  StartAndKill();
  EXPECT_EQ(Read(state_), "2\n");
  Put("3\n");
  {
    NumaBalancingGuard g("off", path_, state_);
    EXPECT_EQ(g.state().before, 3);
    EXPECT_FALSE(g.state().adopted);
    EXPECT_EQ(Read(state_), "3\n");
  }
  EXPECT_EQ(Get(), "3\n");
  EXPECT_FALSE(StateExists());
}

// The config changed to "keep" after the kill: the killed run's 0 is not
// the user's, so it is put back.
TEST_F(NumaBalancingTest, KeepAfterAKillRestores) {
  Put("1\n");
  StartAndKill();
  NumaBalancingGuard g("keep", path_, state_);
  EXPECT_EQ(Get(), "1\n");
  EXPECT_EQ(g.state().before, 1);
  EXPECT_FALSE(g.state().turned_off);
  EXPECT_FALSE(StateExists());
}

TEST_F(NumaBalancingTest, GarbledStateFileIsDropped) {
  Put("0\n");
  std::filesystem::create_directories(dir_ + "/run");
  std::ofstream(state_) << "x\n";
  NumaBalancingGuard g("off", path_, state_);
  EXPECT_EQ(g.state().before, 0);
  EXPECT_FALSE(g.state().adopted);
  EXPECT_THAT(g.state().problem, HasSubstr(state_));
  EXPECT_FALSE(StateExists());
  EXPECT_EQ(Get(), "0\n");
  // --restore-numa-balancing reports it (the unit's ExecStopPost= fails).
  std::ofstream(state_) << "x\n";
  EXPECT_FALSE(NumaBalancingGuard::RestoreLeftOver(path_, state_).ok());
  EXPECT_FALSE(StateExists());
  EXPECT_EQ(Get(), "0\n");
}

// No state file can be written: still turned off (and back at a clean
// exit), with the problem noted.
TEST_F(NumaBalancingTest, UnsaveableStateStillTurnsOff) {
  Put("1\n");
  const std::string blocked = path_ + "/state";  // under a regular file
  NumaBalancingGuard g("off", path_, blocked);
  EXPECT_TRUE(g.state().turned_off);
  EXPECT_THAT(g.state().problem, HasSubstr(path_));
  EXPECT_EQ(Get(), "0\n");
  ASSERT_TRUE(g.Restore().ok());
  EXPECT_EQ(Get(), "1\n");
}

TEST_F(NumaBalancingTest, RestoreLeftOverWithoutTheSysctlIsFine) {
  EXPECT_TRUE(NumaBalancingGuard::RestoreLeftOver(path_, state_).ok());
  EXPECT_FALSE(std::filesystem::exists(path_));
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
