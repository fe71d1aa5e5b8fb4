#include "daemon/adapters/procfs.h"

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
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

// A whole line as 6.1 writes it (52 fields).
constexpr char kFullStat[] =
    "4242 (redis-server) S 1 4242 4242 0 -1 4194560 917 0 0 0 12 7 0 0 20 0 5 0 "
    "987654 110886912 2263 18446744073709551615 1 1 0 0 0 0 0 4096 16897 0 0 0 17 1 "
    "0 0 0 0 0 0 0 0 0 0 0 0 0\n";

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
  // Start time and vsize: there in real lines, optional in short ones.
  EXPECT_EQ(info->vsize_bytes, 0u);
  auto no_tail = ParseStat("7 (c) S 1 1 1 0 -1 0", "stat", &kthread);
  ASSERT_TRUE(no_tail.ok()) << no_tail.status();
  EXPECT_EQ(no_tail->start_time_ticks, 0u);
  auto full = ParseStat(kFullStat, "stat", &kthread);
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->start_time_ticks, 987654u);
  EXPECT_EQ(full->vsize_bytes, 110886912u);
  EXPECT_FALSE(kthread);
  auto short_line = ParseStat(Stat(7, "c", 'S', 1, 0), "stat", &kthread);
  ASSERT_TRUE(short_line.ok());
  EXPECT_EQ(short_line->start_time_ticks, 12345u);
  EXPECT_EQ(short_line->vsize_bytes, 0u);
  for (const char* bad : {"", "7 comm S 1", "7 (x", "x (c) S 1 1 1 0 -1 0", "7 (c) S",
                          "7 (c) SS 1 1 1 0 -1 0", "7 (c) S 1 1 1", "7 (c) S 1 1 1 0 -1 z",
                          "7 (c) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 -5 100",
                          "7 (c) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 1x0"}) {
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

  EXPECT_EQ(list->kernel_thread_pids, (std::vector<Pid>{2, 15}));
  // Known kernel threads are counted without reading their stat (here a
  // pid whose stat would not parse).
  filter.known_kernel_threads = {2, 15, 104};
  auto again = ListProcesses(tree.root(), filter);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->kernel_threads, 3u);
  EXPECT_TRUE(again->errors.empty());
  EXPECT_EQ(again->processes.size(), 2u);

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

// ------------------------------------------------------------- zoneinfo --

// This host's /proc/zoneinfo (Debian 12 host, one node, 2 CPUs), with the
// per-node and per-zone nr_* stats cut to their first two lines.
constexpr char kHostZoneinfo[] =
    "Node 0, zone      DMA\n"
    "  per-node stats\n"
    "      nr_inactive_anon 247844\n"
    "      nr_active_anon 245\n"
    "  pages free     3840\n"
    "        boost    0\n"
    "        min      10\n"
    "        low      13\n"
    "        high     16\n"
    "        promo    19\n"
    "        spanned  4095\n"
    "        present  3998\n"
    "        managed  3840\n"
    "        cma      0\n"
    "        protection: (0, 3019, 24137, 24137, 24137)\n"
    "      nr_free_pages 3840\n"
    "      nr_free_pages_blocks 3584\n"
    "  pagesets\n"
    "    cpu: 0\n"
    "              count:    0\n"
    "              high:     0\n"
    "              batch:    1\n"
    "              high_min: 6\n"
    "              high_max: 240\n"
    "  vm stats threshold: 4\n"
    "    cpu: 1\n"
    "              count:    0\n"
    "              high:     0\n"
    "              batch:    1\n"
    "              high_min: 6\n"
    "              high_max: 240\n"
    "  vm stats threshold: 4\n"
    "  node_unreclaimable:  0\n"
    "  start_pfn:           1\n"
    "Node 0, zone    DMA32\n"
    "  pages free     772850\n"
    "        boost    0\n"
    "        min      2112\n"
    "        low      2884\n"
    "        high     3656\n"
    "        promo    4428\n"
    "        spanned  1044480\n"
    "        present  782336\n"
    "        managed  772917\n"
    "        cma      0\n"
    "        protection: (0, 0, 21117, 21117, 21117)\n"
    "      nr_free_pages 772850\n"
    "      nr_free_pages_blocks 768000\n"
    "  pagesets\n"
    "    cpu: 0\n"
    "              count:    21\n"
    "              high:     1442\n"
    "              batch:    63\n"
    "              high_min: 1442\n"
    "              high_max: 48307\n"
    "  vm stats threshold: 24\n"
    "    cpu: 1\n"
    "              count:    42\n"
    "              high:     1442\n"
    "              batch:    63\n"
    "              high_min: 1442\n"
    "              high_max: 48307\n"
    "  vm stats threshold: 24\n"
    "  node_unreclaimable:  0\n"
    "  start_pfn:           4096\n"
    "Node 0, zone   Normal\n"
    "  pages free     897461\n"
    "        boost    0\n"
    "        min      14773\n"
    "        low      20179\n"
    "        high     25585\n"
    "        promo    30991\n"
    "        spanned  5505024\n"
    "        present  5505024\n"
    "        managed  5406170\n"
    "        cma      0\n"
    "        protection: (0, 0, 0, 0, 0)\n"
    "      nr_free_pages 897461\n"
    "      nr_free_pages_blocks 507392\n"
    "  pagesets\n"
    "    cpu: 0\n"
    "              count:    1564\n"
    "              high:     10089\n"
    "              batch:    63\n"
    "              high_min: 10089\n"
    "              high_max: 337885\n"
    "  vm stats threshold: 36\n"
    "    cpu: 1\n"
    "              count:    4673\n"
    "              high:     17277\n"
    "              batch:    63\n"
    "              high_min: 10089\n"
    "              high_max: 337885\n"
    "  vm stats threshold: 36\n"
    "  node_unreclaimable:  0\n"
    "  start_pfn:           1048576\n"
    "Node 0, zone  Movable\n"
    "  pages free     0\n"
    "        boost    0\n"
    "        min      32\n"
    "        low      32\n"
    "        high     32\n"
    "        promo    32\n"
    "        spanned  0\n"
    "        present  0\n"
    "        managed  0\n"
    "        cma      0\n"
    "        protection: (0, 0, 0, 0, 0)\n"
    "Node 0, zone   Device\n"
    "  pages free     0\n"
    "        boost    0\n"
    "        min      0\n"
    "        low      0\n"
    "        high     0\n"
    "        promo    0\n"
    "        spanned  0\n"
    "        present  0\n"
    "        managed  0\n"
    "        cma      0\n"
    "        protection: (0, 0, 0, 0, 0)\n";

// A 6.1 guest like the VM test's: node 0 = 512 MiB FMEM (DMA + DMA32),
// node 1 = SMEM (DMA32 only).  Node 0's MemFree is (3840 + 2300) pages =
// 24560 KiB, 15 MiB of it in ZONE_DMA.  Empty zones in all the forms the
// parser accepts: full block with zeros (Normal), a short block without
// watermarks but "present 0" (Movable), a bare header (Device).
constexpr char kGuestZoneinfo[] =
    "Node 0, zone      DMA\n"
    "  per-node stats\n"
    "      nr_inactive_anon 1200\n"
    "      nr_active_anon 3400\n"
    "  pages free     3840\n"
    "        boost    0\n"
    "        min      20\n"
    "        low      25\n"
    "        high     30\n"
    "        spanned  4095\n"
    "        present  3998\n"
    "        managed  3840\n"
    "        cma      0\n"
    "        protection: (0, 1930, 3000, 3000, 3000)\n"
    "      nr_free_pages 3840\n"
    "  pagesets\n"
    "    cpu: 0\n"
    "              count: 0\n"
    "              high:  0\n"
    "              batch: 1\n"
    "  vm stats threshold: 2\n"
    "  node_unreclaimable:  0\n"
    "  start_pfn:           1\n"
    "Node 0, zone    DMA32\n"
    "  pages free     2300\n"
    "        boost    0\n"
    "        min      500\n"
    "        low      625\n"
    "        high     750\n"
    "        spanned  126976\n"
    "        present  126976\n"
    "        managed  122000\n"
    "        cma      0\n"
    "        protection: (0, 0, 0, 0, 0)\n"
    "      nr_free_pages 2300\n"
    "  pagesets\n"
    "    cpu: 0\n"
    "              count: 31\n"
    "              high:  186\n"
    "              batch: 31\n"
    "  vm stats threshold: 6\n"
    "  node_unreclaimable:  0\n"
    "  start_pfn:           4096\n"
    "Node 0, zone   Normal\n"
    "  pages free     0\n"
    "        boost    0\n"
    "        min      0\n"
    "        low      0\n"
    "        high     0\n"
    "        spanned  0\n"
    "        present  0\n"
    "        managed  0\n"
    "        cma      0\n"
    "        protection: (0, 0, 0, 0, 0)\n"
    "Node 0, zone  Movable\n"
    "  pages free     0\n"
    "        present  0\n"
    "        managed  0\n"
    "        protection: (0, 0, 0, 0, 0)\n"
    "Node 0, zone   Device\n"
    "Node 1, zone      DMA\n"
    "  per-node stats\n"
    "      nr_inactive_anon 10\n"
    "  pages free     0\n"
    "        min      0\n"
    "        low      0\n"
    "        high     0\n"
    "        spanned  0\n"
    "        present  0\n"
    "        managed  0\n"
    "        protection: (0, 0, 0, 0, 0)\n"
    "Node 1, zone    DMA32\n"
    "  pages free     200000\n"
    "        boost    0\n"
    "        min      1200\n"
    "        low      1500\n"
    "        high     1800\n"
    "        spanned  262144\n"
    "        present  262144\n"
    "        managed  250000\n"
    "        cma      0\n"
    "        protection: (0, 0, 0, 0, 0)\n"
    "  pagesets\n"
    "    cpu: 0\n"
    "              count: 3\n"
    "              high:  378\n"
    "              batch: 63\n"
    "  vm stats threshold: 12\n"
    "  node_unreclaimable:  0\n"
    "  start_pfn:           131072\n";

TEST(ParseZoneinfo, HostFixture) {
  auto z = ParseZoneinfo(kHostZoneinfo, "zoneinfo");
  ASSERT_TRUE(z.ok()) << z.status();
  ASSERT_EQ(z->size(), 5u);
  const ZoneInfo& dma = (*z)[0];
  EXPECT_EQ(dma.node, 0);
  EXPECT_EQ(dma.zone, "DMA");
  EXPECT_EQ(dma.free_pages, 3840u);
  EXPECT_EQ(dma.min_pages, 10u);
  EXPECT_EQ(dma.low_pages, 13u);
  EXPECT_EQ(dma.high_pages, 16u);  // not a pageset's "high:"
  EXPECT_EQ(dma.managed_pages, 3840u);
  EXPECT_THAT(dma.protection_pages, ElementsAre(0, 3019, 24137, 24137, 24137));
  EXPECT_EQ((*z)[1].zone, "DMA32");
  EXPECT_EQ((*z)[1].free_pages, 772850u);
  EXPECT_EQ((*z)[2].zone, "Normal");
  EXPECT_EQ((*z)[2].low_pages, 20179u);
  EXPECT_EQ((*z)[2].managed_pages, 5406170u);
  EXPECT_EQ((*z)[3].zone, "Movable");
  EXPECT_EQ((*z)[3].low_pages, 32u);  // empty zone with watermarks: kept
  EXPECT_EQ((*z)[4].zone, "Device");
  // DMA:    3840 - 13 - 24137 < 0                  ->       0
  // DMA32:  772850 - 2884 - 21117                  ->  748849
  // Normal: 897461 - 20179 - 0                     ->  877282
  // Movable, Device: 0 free                        ->       0
  // (748849 + 877282) pages * 4096 = 1626131 * 4096 = 6660632576 bytes.
  EXPECT_EQ(UsableFreeBytes(*z, 0), 6660632576u);
  EXPECT_EQ(UsableFreeBytes(*z, 1), 0u);  // no such node
}

TEST(ParseZoneinfo, GuestFixtureDmaHeldBack) {
  auto z = ParseZoneinfo(kGuestZoneinfo, "zoneinfo");
  ASSERT_TRUE(z.ok()) << z.status();
  ASSERT_EQ(z->size(), 7u);
  EXPECT_EQ((*z)[3].zone, "Movable");  // short block
  EXPECT_EQ((*z)[3].free_pages, 0u);
  EXPECT_EQ((*z)[3].low_pages, 0u);
  EXPECT_THAT((*z)[3].protection_pages, ElementsAre(0, 0, 0, 0, 0));
  EXPECT_EQ((*z)[4], (ZoneInfo{0, "Device", 0, 0, 0, 0, 0, {}}));  // bare header
  EXPECT_EQ((*z)[5].node, 1);
  EXPECT_EQ((*z)[6].managed_pages, 250000u);
  // Node 0, MemFree = (3840 + 2300) * 4096 = 25149440 bytes, but:
  //   DMA:   3840 - 25 - max(0, 1930, 3000, 3000, 3000) = 815 pages
  //   DMA32: 2300 - 625 - 0                              = 1675 pages
  //   (815 + 1675) * 4096 = 2490 * 4096 = 10199040 bytes.
  EXPECT_EQ(UsableFreeBytes(*z, 0), 10199040u);
  // Node 1: DMA32 200000 - 1500 = 198500 pages * 4096 = 813056000 bytes.
  EXPECT_EQ(UsableFreeBytes(*z, 1), 813056000u);
}

TEST(UsableFreeBytes, ClampsAndSaturates) {
  std::vector<ZoneInfo> zones = {
      // free == low + reserve: nothing (the allocator needs strictly more).
      {0, "DMA", 100, 10, 40, 50, 100, {0, 60}},
      // free below low: nothing, and no wrap-around.
      {0, "DMA32", 30, 10, 40, 50, 100, {}},
      {0, "Normal", 1000, 10, 40, 50, 1000, {}},
      {1, "Normal", 7, 0, 0, 0, 7, {0}},
  };
  EXPECT_EQ(UsableFreeBytes(zones, 0), (1000u - 40u) * 4096u);
  EXPECT_EQ(UsableFreeBytes(zones, 1), 7u * 4096u);
  EXPECT_EQ(UsableFreeBytes(zones, 2), 0u);
  EXPECT_EQ(UsableFreeBytes({}, 0), 0u);
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  std::vector<ZoneInfo> huge = {{0, "A", kMax, 0, 1, 0, 0, {kMax}},  // low + reserve wraps
                                {0, "B", kMax, 0, 0, 0, 0, {}},
                                {0, "C", kMax, 0, 0, 0, 0, {}}};
  EXPECT_EQ(UsableFreeBytes(huge, 0), kMax);
}

TEST(ParseZoneinfo, Errors) {
  const std::string ok_block =
      "Node 0, zone Normal\n  pages free 10\n min 1\n low 2\n high 3\n";
  const std::pair<const char*, const char*> bad[] = {
      {"", "zoneinfo:1:"},                                          // no zone
      {"\n\n", "zoneinfo:3:"},                                      // no zone
      {"  pages free 10\nNode 0, zone Normal\n", "zoneinfo:1:"},   // before header
      {"Node 0 zone Normal\n", "zoneinfo:1:"},                      // no comma
      {"Node x, zone Normal\n", "zoneinfo:1:"},
      {"Node -1, zone Normal\n", "zoneinfo:1:"},
      {"Node 1024, zone Normal\n", "zoneinfo:1:"},                  // out of range
      {"Node 99999999999999999999, zone Normal\n", "zoneinfo:1:"},  // overflow
      {"Node 0, Normal\n", "zoneinfo:1:"},
      {"Node 0, zone\n", "zoneinfo:1:"},
      {"Node 0, zone Normal x\n", "zoneinfo:1:"},
      {"Nodes 0, zone Normal\n", "zoneinfo:1:"},
      // Missing watermarks in a populated zone: the header's line.
      {"Node 0, zone Normal\n  pages free 10\n min 1\n low 2\n present 5\n", "zoneinfo:1:"},
      {"Node 0, zone DMA\n min 1\n low 2\n high 3\n", "zoneinfo:1:"},
      {"Node 0, zone DMA\n  pages free 1\n low 2\n high 3\n managed 7\n", "zoneinfo:1:"},
      {"Node 0, zone DMA\n  pages free 1\n min 2\n high 3\n", "zoneinfo:1:"},
      {"Node 0, zone DMA\n spanned 0\n", "zoneinfo:1:"},  // only skipped keys: not empty
      // Non-numeric and overflowing values.
      {"Node 0, zone N\n  pages free ten\n", "zoneinfo:2:"},
      {"Node 0, zone N\n  pages free\n", "zoneinfo:2:"},
      {"Node 0, zone N\n  pages free -1\n", "zoneinfo:2:"},
      {"Node 0, zone N\n  pages free 1 2\n", "zoneinfo:2:"},
      {"Node 0, zone N\n  min 0x10\n", "zoneinfo:2:"},
      {"Node 0, zone N\n  low 99999999999999999999\n", "zoneinfo:2:"},
      {"Node 0, zone N\n  high 4503599627370496\n", "zoneinfo:2:"},  // 2^52: bytes overflow
      {"Node 0, zone N\n  managed 1.5\n", "zoneinfo:2:"},
      {"Node 0, zone N\n  present many\n", "zoneinfo:2:"},
      {"Node 0, zone N\n  protection: 0, 1\n", "zoneinfo:2:"},
      {"Node 0, zone N\n  protection: ()\n", "zoneinfo:2:"},
      {"Node 0, zone N\n  protection: (0, , 1)\n", "zoneinfo:2:"},
      {"Node 0, zone N\n  protection: (0, -1)\n", "zoneinfo:2:"},
      {"Node 0, zone N\n  protection: (0, 4503599627370496)\n", "zoneinfo:2:"},
      {"Node 0, zone N\n  protection: (0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0)\n", "zoneinfo:2:"},
      // Repeats.
      {"Node 0, zone N\n  pages free 1\n  pages free 1\n", "zoneinfo:3:"},
      {"Node 0, zone N\n min 1\n min 1\n", "zoneinfo:3:"},
      {"Node 0, zone N\n low 1\n low 1\n", "zoneinfo:3:"},
      {"Node 0, zone N\n high 1\n high 1\n", "zoneinfo:3:"},
      {"Node 0, zone N\n managed 1\n managed 1\n", "zoneinfo:3:"},
      {"Node 0, zone N\n protection: (0)\n protection: (0)\n", "zoneinfo:3:"},
  };
  for (const auto& [text, where] : bad) {
    auto r = ParseZoneinfo(text, "zoneinfo");
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(where)) << text;
  }
  // A zone listed twice; the error names the second header's line.
  auto r = ParseZoneinfo(ok_block + ok_block, "zoneinfo");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("zoneinfo:6:"));
  // The same zone name on another node is fine, as is node 1023.
  r = ParseZoneinfo(ok_block + "Node 1023, zone Normal\n present 0\n", "zoneinfo");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->back().node, 1023);
  // The last populated block is checked too (not only at the next header).
  r = ParseZoneinfo(ok_block + "Node 1, zone Normal\n  pages free 10\n", "zoneinfo");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("zoneinfo:6:"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("'min'"));
}

TEST(ParseZoneinfo, RandomGarbageNeverCrashes) {
  // Mutations of the real text and raw random bytes: ok or a file:line
  // error, and any accepted zone is within the documented bounds.
  std::mt19937_64 rng(12345);
  const std::string base = kGuestZoneinfo;
  const char alphabet[] = "Node zone,:()0123456789 \n\tpagesfreminlowhighmanagedprotection-x";
  size_t accepted = 0;
  for (int iter = 0; iter < 4000; ++iter) {
    std::string text;
    if (iter % 4 == 0) {
      const size_t len = rng() % 300;
      for (size_t i = 0; i < len; ++i) text.push_back(static_cast<char>(rng() & 0xff));
    } else {
      text = base;
      const int edits = 1 + static_cast<int>(rng() % 6);
      for (int e = 0; e < edits; ++e) {
        const size_t pos = rng() % (text.size() + 1);
        switch (rng() % 3) {
          case 0:
            text.insert(pos, 1, alphabet[rng() % (sizeof(alphabet) - 1)]);
            break;
          case 1:
            if (pos < text.size()) text.erase(pos, 1 + rng() % 20);
            break;
          default:
            if (pos < text.size()) text[pos] = alphabet[rng() % (sizeof(alphabet) - 1)];
        }
      }
    }
    auto r = ParseZoneinfo(text, "fz");
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_TRUE(absl::StartsWith(r.status().message(), "fz:")) << r.status();
      continue;
    }
    ++accepted;
    ASSERT_FALSE(r->empty());
    for (const ZoneInfo& z : *r) {
      EXPECT_GE(z.node, 0);
      EXPECT_LT(z.node, 1024);
      EXPECT_FALSE(z.zone.empty());
      EXPECT_LE(z.free_pages, std::numeric_limits<uint64_t>::max() / 4096);
      (void)UsableFreeBytes(*r, z.node);
    }
  }
  // Single-character edits of a valid file are often still valid.
  EXPECT_GT(accepted, 0u);
}

TEST(ReadZoneinfo, FixtureTreeMissingAndRealHost) {
  TestTree tree;
  EXPECT_EQ(ReadZoneinfo(tree.root()).status().code(), absl::StatusCode::kNotFound);
  tree.Write("proc/zoneinfo", kGuestZoneinfo);
  auto z = ReadZoneinfo(tree.root());
  ASSERT_TRUE(z.ok()) << z.status();
  EXPECT_EQ(z->size(), 7u);
  tree.Write("proc/zoneinfo", "Node 0, zone N\n min x\n");
  z = ReadZoneinfo(tree.root());
  ASSERT_FALSE(z.ok());
  EXPECT_THAT(std::string(z.status().message()),
              HasSubstr(tree.root() + "/proc/zoneinfo:2:"));
  // Larger than the bound: refused, not truncated.
  tree.Write("proc/zoneinfo", std::string(kMaxZoneinfoBytes + 1, ' '));
  EXPECT_EQ(ReadZoneinfo(tree.root()).status().code(), absl::StatusCode::kResourceExhausted);
  // This machine's own file parses, and usable never exceeds free.
  auto real = ReadZoneinfo("");
  ASSERT_TRUE(real.ok()) << real.status();
  ASSERT_FALSE(real->empty());
  uint64_t free_bytes = 0;
  for (const ZoneInfo& zone : *real) {
    if (zone.node == 0) free_bytes += zone.free_pages * 4096;
  }
  EXPECT_LE(UsableFreeBytes(*real, 0), free_bytes);
}

}  // namespace
}  // namespace tiervm::adapters
