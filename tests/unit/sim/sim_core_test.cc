// Simulator core: latency arithmetic, span building, accounting.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sim/models.h"
#include "sim/sim.h"

namespace tiervm::sim {
namespace {

constexpr uint64_t kBase = 0x7f0000000000ull;

Sample S(uint64_t vaddr, uint32_t weight = 1) {
  Sample s;
  s.pid = 7;
  s.vaddr = vaddr;
  s.weight = weight;
  return s;
}

TEST(LatencyModel, MigrationCostArithmetic) {
  LatencyModel m;
  m.migrate_fixed_ns = 2000;
  m.copy_gb_per_s_4k = 4.096;  // 4096 bytes in 1000 ns
  m.copy_gb_per_s_2m = 2.097152;
  EXPECT_DOUBLE_EQ(m.MigrateNs(4096), 3000);
  EXPECT_DOUBLE_EQ(m.MigrateNs(2 << 20), 2000 + 1e6);
  EXPECT_EQ(m.AccessNs(Tier::kFmem), m.fmem_ns);
  EXPECT_EQ(m.AccessNs(Tier::kSmem), m.smem_ns);
  m.smem_ns = 0;
  EXPECT_FALSE(m.Validate().ok());
}

TEST(SimTrace, SpansAreHugePageAlignedAndMerged) {
  std::vector<Sample> r = {S(kBase + 5), S(kBase + (2 << 20) + 4096), S(kBase + (10 << 20))};
  auto t = SimTrace::Build("t", r, 4096);
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->spans.size(), 2u);
  EXPECT_EQ(t->spans[0].start, kBase);
  EXPECT_EQ(t->spans[0].end, kBase + (4 << 20));
  EXPECT_EQ(t->spans[1].start, kBase + (10 << 20));
  EXPECT_EQ(t->num_pages, 1536u);
  EXPECT_EQ(t->touched_pages, 3u);
  EXPECT_EQ(t->page_of[1], 513u);
  EXPECT_EQ(t->PageAddr(513), kBase + (2 << 20) + 4096);
  EXPECT_EQ(t->PageOf(7, kBase + (5 << 20)), -1);
  EXPECT_EQ(t->PageOf(8, kBase), -1);
  EXPECT_FALSE(SimTrace::Build("t", r, 8192).ok());
  EXPECT_FALSE(SimTrace::Build("t", {}, 4096).ok());
}

TEST(Simulation, AccountsLatencyHitsAndCapacity) {
  // Two pages, FMEM holds one: first touch puts page A on FMEM, B on SMEM.
  std::vector<Sample> r = {S(kBase, 3), S(kBase + 4096, 2), S(kBase, 1)};
  auto t = SimTrace::Build("t", r, 4096);
  ASSERT_TRUE(t.ok());
  SimConfig c;
  c.fmem_capacity_pages = 1;
  c.window_accesses = 2;
  Simulation sim(&*t, c);
  FirstTouchPolicy ft;
  ASSERT_TRUE(sim.Run(ft).ok());
  const Metrics& m = sim.metrics();
  EXPECT_EQ(m.accesses, 6u);
  EXPECT_EQ(m.fmem_accesses, 4u);
  EXPECT_DOUBLE_EQ(m.modelled_ns, 4 * c.latency.fmem_ns + 2 * c.latency.smem_ns);
  EXPECT_EQ(m.promotions + m.demotions, 0u);
  EXPECT_EQ(sim.fmem_used_pages(), 1u);
  // Windows close at multiples of 2 accesses, a record never split.
  ASSERT_EQ(m.win_accesses.size(), 3u);
  EXPECT_EQ(m.win_accesses[0], 3u);
  EXPECT_EQ(m.win_accesses[1], 2u);
  EXPECT_EQ(m.win_accesses[2], 1u);
  // Move: full FMEM refuses a promotion and counts it.
  EXPECT_FALSE(sim.Move(1, Tier::kFmem));
  EXPECT_EQ(sim.metrics().failed_promotions, 1u);
  EXPECT_TRUE(sim.Move(0, Tier::kSmem));
  EXPECT_TRUE(sim.Move(1, Tier::kFmem));
  EXPECT_DOUBLE_EQ(sim.metrics().migrate_ns, 2 * c.latency.MigrateNs(4096));
}

// Swaps pages 0 and 1 on every access of record 1 and 3 (a ping-pong).
class PingPong final : public Policy {
 public:
  std::string Name() const override { return "pingpong"; }
  double OnAccess(Simulation& sim, uint64_t index, uint32_t page) override {
    (void)page;
    if (index % 2 == 1) {
      const uint32_t down = sim.state(0) == PageState::kFmem ? 0 : 1;
      sim.Move(down, Tier::kSmem);
      sim.Move(1 - down, Tier::kFmem);
    }
    return 0;
  }
};

TEST(Simulation, CountsBouncesAndScoresAgainstTheReferenceSets) {
  std::vector<Sample> r = {S(kBase), S(kBase + 4096), S(kBase), S(kBase + 4096)};
  auto t = SimTrace::Build("t", r, 4096);
  ASSERT_TRUE(t.ok());
  SimConfig c;
  c.fmem_capacity_pages = 1;
  // Two epochs of two accesses: the reference puts page 0 on FMEM in the
  // first, page 1 in the second.
  const std::vector<std::vector<uint32_t>> sets = {{0}, {1}};
  const std::vector<uint64_t> first = {0, 2};
  c.reference_sets = &sets;
  c.reference_first_access = &first;
  Simulation sim(&*t, c);
  PingPong p;
  ASSERT_TRUE(sim.Run(p).ok());
  // Record 1 moves 0 down and 1 up; record 3 moves 1 down again (within
  // the bounce window: modelled time is microseconds) and 0 up.
  EXPECT_EQ(sim.metrics().promotions, 2u);
  EXPECT_EQ(sim.metrics().promotions_bounced, 1u);
  // End of epoch 0 (after record 1): page 1 on FMEM, the set is {0}; end
  // of epoch 1: page 0 on FMEM, the set is {1}.
  ASSERT_EQ(sim.metrics().epoch_precision.size(), 2u);
  EXPECT_EQ(sim.metrics().epoch_precision[0], 0);
  EXPECT_EQ(sim.metrics().epoch_recall[1], 0);
  // Without reference sets nothing is scored.
  SimConfig plain;
  plain.fmem_capacity_pages = 1;
  Simulation sim2(&*t, plain);
  PingPong p2;
  ASSERT_TRUE(sim2.Run(p2).ok());
  EXPECT_TRUE(sim2.metrics().epoch_precision.empty());
}

TEST(Simulation, HugePagesMoveWholeAndCostMore) {
  std::vector<Sample> r = {S(kBase + 5), S(kBase + (2 << 20) - 1), S(kBase + (2 << 20))};
  auto t = SimTrace::Build("thp", r, 2 << 20);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->num_pages, 2u);
  EXPECT_EQ(t->touched_pages, 2u);
  EXPECT_EQ(t->page_of[0], t->page_of[1]);
  SimConfig c;
  c.fmem_capacity_pages = 1;
  Simulation sim(&*t, c);
  FirstTouchPolicy ft;
  ASSERT_TRUE(sim.Run(ft).ok());
  EXPECT_EQ(sim.metrics().fmem_accesses, 2u);
  ASSERT_TRUE(sim.Move(0, Tier::kSmem));
  EXPECT_DOUBLE_EQ(sim.metrics().migrate_ns, c.latency.MigrateNs(2 << 20));
  EXPECT_GT(c.latency.MigrateNs(2 << 20), 100 * c.latency.MigrateNs(4096) / 2);
}

}  // namespace
}  // namespace tiervm::sim
