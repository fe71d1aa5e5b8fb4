#include "daemon/adapters/procfs.h"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "test_tree.h"

namespace tiervm::adapters {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::TestTree;

constexpr char kMaps[] =
    "55d0c0a00000-55d0c0a28000 r--p 00000000 08:01 1835017                    /usr/bin/cat\n"
    "55d0c0a28000-55d0c0a3c000 r-xp 00028000 08:01 1835017                    /usr/bin/cat\n"
    "55d0c1000000-55d0c1400000 rw-p 00000000 00:00 0                          [heap]\n"
    "7f0000000000-7f0000200000 rw-p 00000000 00:00 0 \n"
    "7f0000200000-7f0000201000 ---p 00000000 00:00 0 \n"
    "7f0000201000-7f0000400000 rw-p 00000000 00:00 0                          [anon:jemalloc]\n"
    "7f1000000000-7f1000200000 rw-s 00000000 00:01 4242                       /memfd:buf (deleted)\n"
    "7f2000000000-7f2000100000 rw-p 00000000 08:01 77                         /tmp/my file (deleted)\n"
    "7f3000000000-7f3000002000 r--p 00000000 00:00 0                          [vvar]\n"
    "7f3000002000-7f3000004000 r-xp 00000000 00:00 0                          [vdso]\n"
    "7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0                          [stack]\n"
    "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n";

TEST(ParseMaps, KindsPathsAndFlags) {
  auto maps = ParseMaps(kMaps, "maps");
  ASSERT_TRUE(maps.ok()) << maps.status();
  ASSERT_EQ(maps->size(), 12u);
  const auto& m = *maps;
  EXPECT_EQ(m[0].start, 0x55d0c0a00000u);
  EXPECT_EQ(m[0].end, 0x55d0c0a28000u);
  EXPECT_EQ(m[0].kind, MapKind::kFile);
  EXPECT_EQ(m[0].path, "/usr/bin/cat");
  EXPECT_EQ(m[1].offset, 0x28000u);
  EXPECT_EQ(m[1].dev_major, 8u);
  EXPECT_EQ(m[1].dev_minor, 1u);
  EXPECT_EQ(m[1].inode, 1835017u);
  EXPECT_TRUE(m[1].exec);
  EXPECT_EQ(m[2].kind, MapKind::kHeap);
  EXPECT_EQ(m[3].kind, MapKind::kAnonymous);
  EXPECT_EQ(m[3].path, "");
  EXPECT_FALSE(m[4].read || m[4].write || m[4].exec);
  EXPECT_EQ(m[5].kind, MapKind::kAnonymous);  // named anonymous
  EXPECT_EQ(m[6].kind, MapKind::kFile);
  EXPECT_TRUE(m[6].shared);
  EXPECT_TRUE(m[6].deleted);
  EXPECT_EQ(m[6].path, "/memfd:buf");
  EXPECT_EQ(m[7].path, "/tmp/my file");  // spaces in a path
  EXPECT_TRUE(m[7].deleted);
  EXPECT_EQ(m[8].kind, MapKind::kSpecial);
  EXPECT_EQ(m[10].kind, MapKind::kStack);
  EXPECT_EQ(m[11].start, 0xffffffffff600000u);
}

TEST(ParseMaps, PlaceableDefaultIsPrivateAnonymousHeapStack) {
  auto maps = ParseMaps(kMaps, "maps");
  ASSERT_TRUE(maps.ok());
  EXPECT_THAT(PlaceableVmas(*maps),
              ElementsAre(Vma{0x55d0c1000000, 0x55d0c1400000}, Vma{0x7f0000000000, 0x7f0000200000},
                          Vma{0x7f0000201000, 0x7f0000400000},
                          Vma{0x7ffc00000000, 0x7ffc00021000}));
  PlaceOptions all{.file_backed = true, .shared = true};
  // Everything but the guard page, [vvar], [vdso] and [vsyscall].
  EXPECT_EQ(PlaceableVmas(*maps, all).size(), 8u);
  PlaceOptions shared{.file_backed = false, .shared = true};
  EXPECT_EQ(PlaceableVmas(*maps, shared).size(), 5u);  // + the memfd
}

TEST(ParseMaps, HugeRangesAndEmptyFile) {
  auto maps = ParseMaps(
      "000000001000-7ffffffff000 rw-p 00000000 00:00 0\n"
      "fffffffffffff000-fffffffffffff000 rw-p 00000000 00:00 0\n",
      "m");
  EXPECT_FALSE(maps.ok());  // second line is empty
  EXPECT_THAT(std::string(maps.status().message()), HasSubstr("m:2:"));
  maps = ParseMaps("1000-1fffffffffffff000 rw-p 00000000 00:00 0\n", "m");
  EXPECT_FALSE(maps.ok());  // 17 hex digits
  maps = ParseMaps("000000001000-7ffffffff000 rw-p 00000000 00:00 0\n", "m");
  ASSERT_TRUE(maps.ok());
  EXPECT_EQ((*maps)[0].end - (*maps)[0].start, 0x7ffffffff000u - 0x1000u);
  EXPECT_EQ(PlaceableVmas(*maps).size(), 1u);
  // A range ending above the 57-bit user limit is never placed.
  maps = ParseMaps("1000-ffffffffffff000 rw-p 00000000 00:00 0\n", "m");
  ASSERT_TRUE(maps.ok());
  EXPECT_TRUE(PlaceableVmas(*maps).empty());
  maps = ParseMaps("", "m");
  ASSERT_TRUE(maps.ok());
  EXPECT_TRUE(maps->empty());
}

TEST(ParseMaps, GarbageLinesNameFileAndLine) {
  const std::string good = "1000-2000 rw-p 00000000 00:00 0\n";
  const char* bad[] = {
      "garbage",
      "1000-2000",
      "1000 rw-p 00000000 00:00 0",
      "1000-zz00 rw-p 00000000 00:00 0",
      "2000-1000 rw-p 00000000 00:00 0",
      "1000-1000 rw-p 00000000 00:00 0",
      "1001-2000 rw-p 00000000 00:00 0",
      "1000-2000 rwxq 00000000 00:00 0",
      "1000-2000 rw- 00000000 00:00 0",
      "1000-2000 rw-p 0000g000 00:00 0",
      "1000-2000 rw-p 00000000 0000 0",
      "1000-2000 rw-p 00000000 00:00 -1",
      "1000-2000 rw-p 00000000 00:00",
      "-2000 rw-p 00000000 00:00 0",
      "",
      "1800-3000 rw-p 00000000 00:00 0",  // overlaps line 1
      "0000-1000 rw-p 00000000 00:00 0",  // precedes line 1
  };
  for (const char* line : bad) {
    auto maps = ParseMaps(good + line + "\n", "/proc/42/maps");
    ASSERT_FALSE(maps.ok()) << line;
    EXPECT_EQ(maps.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(maps.status().message()), HasSubstr("/proc/42/maps:2: ")) << line;
  }
  // No newline at the end is fine; NULs and binary are errors, not crashes.
  EXPECT_TRUE(ParseMaps("1000-2000 rw-p 00000000 00:00 0", "m").ok());
  EXPECT_FALSE(ParseMaps(std::string("1000-2000 rw-p 0\0 00:00 0\n", 26), "m").ok());
}

TEST(ReadMaps, FromFixtureTreeAndMissingProcess) {
  TestTree tree;
  tree.Write("proc/42/maps", kMaps);
  auto maps = ReadMaps(tree.root(), 42);
  ASSERT_TRUE(maps.ok()) << maps.status();
  EXPECT_EQ(maps->size(), 12u);
  auto gone = ReadMaps(tree.root(), 43);
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(gone.status().message()), HasSubstr("/proc/43/maps"));
}

std::string Stat(int pid, const std::string& comm, char state, int ppid, unsigned flags) {
  return absl::StrCat(pid, " (", comm, ") ", std::string(1, state), " ", ppid, " ", pid,
                      " ", pid, " 0 -1 ", flags, " 100 0 0 0 0 0 0 0 20 0 1 0 12345\n");
}

TEST(ParseStat, CommWithSpacesAndParens) {
  bool kthread = true;
  auto info = ParseStat(Stat(7, "a) (b c", 'S', 1, 0x400000), "stat", &kthread);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->pid, 7);
  EXPECT_EQ(info->comm, "a) (b c");
  EXPECT_EQ(info->state, 'S');
  EXPECT_EQ(info->ppid, 1);
  EXPECT_FALSE(kthread);
  ASSERT_TRUE(ParseStat(Stat(9, "kworker/0:1", 'I', 2, 0x04208060), "stat", &kthread).ok());
  EXPECT_TRUE(kthread);
  for (const char* bad : {"", "7 comm S 1", "7 (x", "x (c) S 1 1 1 0 -1 0", "7 (c) S",
                          "7 (c) SS 1 1 1 0 -1 0", "7 (c) S 1 1 1", "7 (c) S 1 1 1 0 -1 z"}) {
    auto r = ParseStat(bad, "/proc/7/stat", &kthread);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("/proc/7/stat:1: ")) << bad;
  }
}

TEST(ListProcesses, FixtureTree) {
  TestTree tree;
  tree.Write("proc/1/stat", Stat(1, "systemd", 'S', 0, 0x400100));
  tree.Write("proc/2/stat", Stat(2, "kthreadd", 'S', 0, 0x208040));
  tree.Write("proc/15/stat", Stat(15, "ksoftirqd/0", 'S', 2, 0x4208040));
  tree.Write("proc/100/stat", Stat(100, "redis-server", 'R', 1, 0x400000));
  tree.Write("proc/101/stat", Stat(101, "sshd", 'S', 1, 0x400100));
  tree.Write("proc/102/stat", Stat(102, "defunct", 'Z', 100, 0x400000));
  tree.Write("proc/103/stat", Stat(103, "hplaced", 'S', 1, 0x400000));
  tree.Write("proc/104/stat", "garbage\n");
  tree.Write("proc/105/maps", "");  // no stat: exited while listing
  tree.Write("proc/1000/stat", Stat(1000, "memcached", 'S', 1, 0x400000));
  tree.Write("proc/self/stat", Stat(1000, "memcached", 'S', 1, 0x400000));
  tree.Write("proc/meminfo", "MemTotal: 1 kB\n");
  tree.Write("proc/0012x/stat", "");
  ProcessFilter filter;
  filter.deny_comms = {"sshd", "systemd"};
  filter.deny_pids = {103};
  auto list = ListProcesses(tree.root(), filter);
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->processes.size(), 2u);
  EXPECT_EQ(list->processes[0].pid, 100);
  EXPECT_EQ(list->processes[0].comm, "redis-server");
  EXPECT_EQ(list->processes[1].pid, 1000);
  EXPECT_EQ(list->kernel_threads, 2u);
  EXPECT_EQ(list->denied, 3u);
  EXPECT_EQ(list->zombies, 1u);
  EXPECT_EQ(list->vanished, 1u);
  ASSERT_EQ(list->errors.size(), 1u);
  EXPECT_THAT(std::string(list->errors[0].message()), HasSubstr("/proc/104/stat:1:"));

  EXPECT_EQ(ListProcesses(tree.root() + "/nonexistent", {}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(ListProcesses, RealProcIncludesSelf) {
  auto list = ListProcesses("", {});
  ASSERT_TRUE(list.ok()) << list.status();
  bool found = false;
  for (const ProcessInfo& p : list->processes) found |= p.pid == ::getpid();
  EXPECT_TRUE(found);
}

TEST(ParsePressure, GoodAndBad) {
  auto p = ParsePressure(
      "some avg10=1.50 avg60=0.25 avg300=0.00 total=123456\n"
      "full avg10=0.75 avg60=0.10 avg300=0.01 total=6543\n",
      "psi");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_DOUBLE_EQ(p->some.avg10, 1.5);
  EXPECT_DOUBLE_EQ(p->some.avg60, 0.25);
  EXPECT_EQ(p->some.total_us, 123456u);
  EXPECT_TRUE(p->has_full);
  EXPECT_DOUBLE_EQ(p->full.avg300, 0.01);
  EXPECT_EQ(p->full.total_us, 6543u);
  // Only "some", and an unknown extra key: accepted.
  p = ParsePressure("some avg10=0.00 avg60=0.00 avg300=0.00 total=0 avg5=1\n", "psi");
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->has_full);
  const char* bad[] = {
      "",
      "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
      "some avg10=0.00 avg60=0.00 total=0\n",
      "some avg10=x avg60=0.00 avg300=0.00 total=0\n",
      "some avg10=101 avg60=0.00 avg300=0.00 total=0\n",
      "some avg10=nan avg60=0.00 avg300=0.00 total=0\n",
      "some avg10=0.00 avg60=0.00 avg300=0.00 total=-1\n",
      "some avg10=0.00 avg60=0.00 avg300=0.00 total\n",
      "some avg10=0 avg60=0 avg300=0 total=0\nsome avg10=0 avg60=0 avg300=0 total=0\n",
      "some avg10=0 avg60=0 avg300=0 total=0\nhalf avg10=0\n",
  };
  for (const char* text : bad) {
    auto r = ParsePressure(text, "/proc/pressure/memory");
    EXPECT_FALSE(r.ok()) << text;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("/proc/pressure/memory:")) << text;
  }
}

TEST(ParsePressure, FixtureAndRealFile) {
  TestTree tree;
  tree.Write("proc/pressure/memory",
             "some avg10=0.00 avg60=0.00 avg300=0.00 total=5\n"
             "full avg10=0.00 avg60=0.00 avg300=0.00 total=3\n");
  auto p = ReadMemoryPressure(tree.root());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->full.total_us, 3u);
  // The real file, when the kernel has PSI (not every test host does).
  auto real = ReadMemoryPressure("");
  EXPECT_TRUE(real.ok() || absl::IsNotFound(real.status()) ||
              real.status().code() == absl::StatusCode::kInternal)
      << real.status();
}

constexpr char kNodeMeminfo[] =
    "Node 1 MemTotal:        8388608 kB\n"
    "Node 1 MemFree:         4194304 kB\n"
    "Node 1 MemUsed:         4194304 kB\n"
    "Node 1 Active:           100000 kB\n"
    "Node 1 Inactive:          50000 kB\n"
    "Node 1 FilePages:         20000 kB\n"
    "Node 1 AnonPages:         30000 kB\n"
    "Node 1 HugePages_Total:     16\n"
    "Node 1 HugePages_Free:       8\n";

TEST(ParseNodeMeminfo, GoodAndBad) {
  auto m = ParseNodeMeminfo(kNodeMeminfo, "meminfo", 1);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->total_bytes, 8ull << 30);
  EXPECT_EQ(m->free_bytes, 4ull << 30);
  EXPECT_EQ(m->used_bytes, 4ull << 30);
  EXPECT_EQ(m->active_bytes, 100000ull * 1024);
  EXPECT_EQ(m->anon_bytes, 30000ull * 1024);
  EXPECT_EQ(m->file_bytes, 20000ull * 1024);
  EXPECT_EQ(m->fields.at("HugePages_Total"), 16u);
  // MemUsed is derived when absent.
  m = ParseNodeMeminfo("Node 0 MemTotal: 10 kB\nNode 0 MemFree: 4 kB\n", "mi", 0);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->used_bytes, 6u * 1024);
  const char* bad[] = {
      "Node 0 MemTotal: 10 kB\nNode 0 MemFree: 4 kB\n",  // wrong node (asked 1)
      "Node 1 MemTotal: 10 kB\n",                        // no MemFree
      "Node 1 MemTotal: 10 kB\nNode 1 MemFree: 11 kB\n",
      "Node 1 MemTotal 10 kB\nNode 1 MemFree: 4 kB\n",
      "Node 1 MemTotal: ten kB\nNode 1 MemFree: 4 kB\n",
      "Node 1 MemTotal: 10 MB\nNode 1 MemFree: 4 kB\n",
      "Node 1 MemTotal: 10 kB x\nNode 1 MemFree: 4 kB\n",
      "Node 1 MemTotal: 99999999999999999999 kB\nNode 1 MemFree: 4 kB\n",
      "Node 1 MemTotal: 18014398509481984 kB\nNode 1 MemFree: 4 kB\n",
      "Node 1 MemTotal: 10 kB\nNode 1 MemTotal: 10 kB\nNode 1 MemFree: 4 kB\n",
      "Nod 1 MemTotal: 10 kB\n",
      "",
  };
  for (const char* text : bad) {
    auto r = ParseNodeMeminfo(text, "node1/meminfo", 1);
    EXPECT_FALSE(r.ok()) << text;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("node1/meminfo:")) << text;
  }
}

TEST(ParseNodeMeminfo, FixtureTreeNodesAndRealNode0) {
  TestTree tree;
  tree.Write("sys/devices/system/node/node1/meminfo", kNodeMeminfo);
  tree.Write("sys/devices/system/node/online", "0-1\n");
  auto m = ReadNodeMeminfo(tree.root(), 1);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->node, 1);
  EXPECT_EQ(ReadNodeMeminfo(tree.root(), 0).status().code(), absl::StatusCode::kNotFound);
  auto nodes = ReadOnlineNodes(tree.root());
  ASSERT_TRUE(nodes.ok());
  EXPECT_THAT(*nodes, ElementsAre(0, 1));
  // The real machine has node 0 (NUMA kernels); skip otherwise.
  auto real = ReadNodeMeminfo("", 0);
  if (real.ok()) {
    EXPECT_GT(real->total_bytes, 0u);
  }
}

TEST(ParseNodeList, Forms) {
  EXPECT_THAT(*ParseNodeList("0\n", "f"), ElementsAre(0));
  EXPECT_THAT(*ParseNodeList("0-2,4,6-7\n", "f"), ElementsAre(0, 1, 2, 4, 6, 7));
  EXPECT_TRUE(ParseNodeList("\n", "f")->empty());
  for (const char* bad : {"a", "1-0", "0,0", "2,1", "0-", "-1", "0-99999", "0,,1"}) {
    EXPECT_FALSE(ParseNodeList(bad, "f").ok()) << bad;
  }
}

}  // namespace
}  // namespace tiervm::adapters
