// Host procfs/sysfs readers on fixture trees.
#include "adapters/procfs/host_procfs.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tiervm::agent {
namespace {

using ::testing::HasSubstr;

class Fixture {
 public:
  Fixture() {
    char t[] = "/tmp/tiervm-procfs-XXXXXX";
    root_ = ::mkdtemp(t);
  }
  ~Fixture() { std::system(absl::StrCat("rm -rf ", root_).c_str()); }
  void Write(const std::string& rel, const std::string& text) {
    const std::string p = root_ + "/" + rel;
    std::system(absl::StrCat("mkdir -p $(dirname ", p, ")").c_str());
    std::ofstream(p) << text;
  }
  const std::string& root() const { return root_; }

 private:
  std::string root_;
};

TEST(HostProcfsTest, ReadsFixtures) {
  Fixture f;
  f.Write("proc/pressure/memory",
          "some avg10=1.50 avg60=0.75 avg300=0.10 total=123456\n"
          "full avg10=0.50 avg60=0.25 avg300=0.05 total=6543\n");
  f.Write("sys/devices/system/node/node0/meminfo",
          "Node 0 MemTotal:       16000000 kB\nNode 0 MemFree:         1048576 kB\n"
          "Node 0 MemUsed:        14951424 kB\n");
  f.Write("sys/devices/system/node/node2/meminfo", "Node 2 MemFree:    2048 kB\n");
  for (const auto& [k, v] : std::map<std::string, std::string>{
           {"pages_shared", "10\n"}, {"pages_sharing", "300\n"},
           {"pages_unshared", "7\n"}, {"full_scans", "4\n"}, {"run", "1\n"}}) {
    f.Write("sys/kernel/mm/ksm/" + k, v);
  }
  HostProcfs fs(f.root());
  absl::StatusOr<MemoryPsi> psi = fs.ReadMemoryPsi();
  ASSERT_TRUE(psi.ok()) << psi.status();
  EXPECT_DOUBLE_EQ(psi->some.avg10, 1.5);
  EXPECT_EQ(psi->some.total_us, 123456u);
  EXPECT_EQ(psi->full.total_us, 6543u);
  absl::StatusOr<uint64_t> free = fs.ReadFreeBytes({0, 2});
  ASSERT_TRUE(free.ok()) << free.status();
  EXPECT_EQ(*free, (1048576ull + 2048) * 1024);
  EXPECT_EQ(fs.ReadFreeBytes({1}).status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<KsmStats> ksm = fs.ReadKsm();
  ASSERT_TRUE(ksm.ok()) << ksm.status();
  EXPECT_EQ(ksm->pages_sharing, 300u);
  EXPECT_EQ(ksm->merged_bytes, 300u * 4096);
  EXPECT_TRUE(ksm->running);
}

TEST(HostProcfsTest, MissingAndMalformed) {
  Fixture f;
  HostProcfs fs(f.root());
  EXPECT_EQ(fs.ReadMemoryPsi().status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(fs.ReadKsm().status().code(), absl::StatusCode::kNotFound);
  f.Write("sys/kernel/mm/ksm/pages_shared", "x\n");
  EXPECT_THAT(std::string(fs.ReadKsm().status().message()), HasSubstr("not a number"));
  EXPECT_FALSE(ParseMemoryPsi("").ok());
  EXPECT_FALSE(ParseMemoryPsi("some avg10=x avg60=0 avg300=0 total=1\n").ok());
  EXPECT_FALSE(ParseMemoryPsi("some avg10=0 avg60=0 avg300=0\n").ok());
  EXPECT_FALSE(ParseMemoryPsi("weird line\n").ok());
  EXPECT_FALSE(ParseNodeMemFreeBytes("Node 0 MemTotal: 5 kB\n").ok());
  EXPECT_FALSE(ParseNodeMemFreeBytes("Node 0 MemFree: 5 MB\n").ok());
  EXPECT_FALSE(ParseNodeMemFreeBytes("Node 0 MemFree: 99999999999999999999 kB\n").ok());
}

TEST(HostProcfsTest, ThisHost) {
  // The real files on the machine running the test (when present).
  HostProcfs fs("/");
  if (absl::StatusOr<uint64_t> f = fs.ReadFreeBytes({0}); f.ok()) {
    EXPECT_GT(*f, 0u);
  }
  // PSI may be compiled out or disabled (psi=0): then an error, no crash.
  if (absl::StatusOr<MemoryPsi> p = fs.ReadMemoryPsi(); p.ok()) {
    EXPECT_GE(p->some.total_us, p->full.total_us);
  }
}

}  // namespace
}  // namespace tiervm::agent
