// ProcfsSystemView over a fixture tree: NodeMeminfo fills
// usable_free_bytes from /proc/zoneinfo when it can, and leaves it unset
// (without failing) when zoneinfo is missing or malformed.
#include "daemon/hplaced/system_view.h"

#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "../placement_adapters/test_tree.h"

namespace tiervm::hplaced {
namespace {

using adapters::testing::TestTree;

// Node 0: MemFree 24560 kB = 6140 pages (3840 in DMA, 2300 in DMA32).
constexpr char kNode0Meminfo[] =
    "Node 0 MemTotal:         524288 kB\n"
    "Node 0 MemFree:           24560 kB\n";
// Node 1: MemFree 4000 kB, less than its zones' usable pages below.
constexpr char kNode1Meminfo[] =
    "Node 1 MemTotal:        1048576 kB\n"
    "Node 1 MemFree:            4000 kB\n";

constexpr char kZoneinfo[] =
    "Node 0, zone      DMA\n"
    "  pages free     3840\n"
    "        min      20\n"
    "        low      25\n"
    "        high     30\n"
    "        managed  3840\n"
    "        protection: (0, 1930, 3000, 3000, 3000)\n"
    "Node 0, zone    DMA32\n"
    "  pages free     2300\n"
    "        min      500\n"
    "        low      625\n"
    "        high     750\n"
    "        managed  122000\n"
    "        protection: (0, 0, 0, 0, 0)\n"
    "Node 1, zone    DMA32\n"
    "  pages free     200000\n"
    "        min      1200\n"
    "        low      1500\n"
    "        high     1800\n"
    "        managed  250000\n"
    "        protection: (0, 0, 0, 0, 0)\n";

TEST(ProcfsSystemView, NodeMeminfoFillsUsableFreeFromZoneinfo) {
  TestTree tree;
  tree.Write("sys/devices/system/node/node0/meminfo", kNode0Meminfo);
  tree.Write("sys/devices/system/node/node1/meminfo", kNode1Meminfo);
  ProcfsSystemView view(tree.root());

  // No zoneinfo: meminfo alone, usable unset.
  auto m = view.NodeMeminfo(0, MeminfoDetail::kWithUsableFree);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->free_bytes, 24560u * 1024);
  EXPECT_FALSE(m->usable_free_bytes.has_value());

  tree.Write("proc/zoneinfo", kZoneinfo);
  m = view.NodeMeminfo(0, MeminfoDetail::kWithUsableFree);
  ASSERT_TRUE(m.ok()) << m.status();
  // DMA (3840 - 25 - 3000) + DMA32 (2300 - 625) = 815 + 1675 = 2490 pages
  // = 10199040 bytes, of MemFree 25149440.
  ASSERT_TRUE(m->usable_free_bytes.has_value());
  EXPECT_EQ(*m->usable_free_bytes, 10199040u);

  // Basic: meminfo only, zoneinfo not read.
  m = view.NodeMeminfo(0, MeminfoDetail::kBasic);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->free_bytes, 24560u * 1024);
  EXPECT_FALSE(m->usable_free_bytes.has_value());

  // Node 1's zones say 198500 pages usable, but MemFree (4000 kB) is the
  // newer reading: the smaller wins.
  m = view.NodeMeminfo(1, MeminfoDetail::kWithUsableFree);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_TRUE(m->usable_free_bytes.has_value());
  EXPECT_EQ(*m->usable_free_bytes, 4000u * 1024);

  // Malformed zoneinfo: meminfo still works, usable unset.
  tree.Write("proc/zoneinfo", "Node 0, zone DMA\n  pages free lots\n");
  m = view.NodeMeminfo(0, MeminfoDetail::kWithUsableFree);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_FALSE(m->usable_free_bytes.has_value());

  // A missing node's meminfo is still an error.
  EXPECT_FALSE(view.NodeMeminfo(2, MeminfoDetail::kWithUsableFree).ok());
}

// sysinfo's free memory: the running kernel's, between 0 and MemTotal
// (the test tree's root does not apply).
TEST(ProcfsSystemView, FreeMemoryIsTheKernelsFreeRam) {
  ProcfsSystemView view("/nonexistent");
  absl::StatusOr<uint64_t> free = view.FreeMemoryBytes();
  ASSERT_TRUE(free.ok()) << free.status();
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  uint64_t total_kib = 0;
  while (meminfo >> key) {
    if (key == "MemTotal:") {
      meminfo >> total_kib;
      break;
    }
  }
  ASSERT_GT(total_kib, 0u);
  EXPECT_GT(*free, 0u);
  EXPECT_LE(*free, total_kib * 1024);
}

}  // namespace
}  // namespace tiervm::hplaced
