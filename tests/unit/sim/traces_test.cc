// Trace generators and the lackey recorder's parser/sampler.
#include <cstdio>
#include <algorithm>
#include <fstream>
#include <map>
#include <vector>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "placement/replay_trace.h"
#include "traces/generators.h"
#include "traces/lackey_sampler.h"

namespace tiervm::traces {
namespace {

TEST(Generators, GupsHotFractionAndInitPass) {
  GenCommon c;
  c.records = 100000;
  GupsSpec s;
  s.footprint_bytes = 64 << 20;
  s.hot_bytes = 8 << 20;
  s.hot_frac = 0.9;
  auto r = GenerateGups(c, s);
  ASSERT_TRUE(r.ok());
  const uint64_t init = (64 << 20) / 4096;
  ASSERT_EQ(r->size(), init + c.records);
  for (uint64_t i = 0; i < init; ++i) ASSERT_EQ((*r)[i].vaddr, c.base + i * 4096);
  uint64_t hot = 0;
  const uint64_t hot_start = c.base + (56 << 20);
  int64_t prev = 0;
  for (size_t i = init; i < r->size(); ++i) {
    const auto& x = (*r)[i];
    ASSERT_GE(x.vaddr, c.base);
    ASSERT_LT(x.vaddr, c.base + (64 << 20));
    ASSERT_GE(x.time_ns, prev);
    ASSERT_EQ(x.weight, c.weight);
    prev = x.time_ns;
    hot += x.vaddr >= hot_start;
  }
  // 0.9 + 0.1 * 1/8 of the uniform part lands in the hot set.
  EXPECT_NEAR(static_cast<double>(hot) / c.records, 0.9125, 0.01);
  // Determinism.
  auto r2 = GenerateGups(c, s);
  EXPECT_EQ(*r, *r2);
  s.hot_bytes = 0;
  EXPECT_FALSE(GenerateGups(c, s).ok());
}

TEST(Generators, PhaseShiftMovesTheHotSet) {
  GenCommon c;
  c.records = 30000;
  c.init_pass = false;
  GupsSpec s;
  s.footprint_bytes = 64 << 20;
  s.hot_bytes = 8 << 20;
  s.hot_frac = 1.0;
  s.phases = 3;
  s.phase_records = 10000;
  auto r = GenerateGups(c, s);
  ASSERT_TRUE(r.ok());
  for (int p = 0; p < 3; ++p) {
    const uint64_t lo = c.base + (64 << 20) - (8ull << 20) * (p + 1);
    for (int i = 0; i < 10000; ++i) {
      const uint64_t v = (*r)[p * 10000 + i].vaddr;
      ASSERT_GE(v, lo);
      ASSERT_LT(v, lo + (8 << 20));
    }
  }
}

TEST(Generators, ZipfIsSkewedAndScanSweeps) {
  GenCommon c;
  c.records = 200000;
  c.init_pass = false;
  ZipfKvSpec z;
  z.keys = 1 << 14;
  auto r = GenerateZipfKv(c, z);
  ASSERT_TRUE(r.ok());
  std::map<uint64_t, uint64_t> per_page;
  for (const auto& x : *r) ++per_page[x.vaddr / 4096];
  std::vector<uint64_t> counts;
  for (auto& [p, n] : per_page) counts.push_back(n);
  std::sort(counts.rbegin(), counts.rend());
  uint64_t top = 0, all = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    all += counts[i];
    if (i < counts.size() / 10) top += counts[i];
  }
  EXPECT_GT(static_cast<double>(top) / all, 0.3);  // hot 10 % of pages take > 30 %
  ScanHotSpec sc;
  sc.footprint_bytes = 4 << 20;
  sc.hot_bytes = 1 << 20;
  sc.hot_frac = 0;
  auto s = GenerateScanHot(c, sc);
  ASSERT_TRUE(s.ok());
  for (size_t i = 0; i < 2048; ++i) ASSERT_EQ((*s)[i].vaddr, c.base + (i % 1024) * 4096);
}

TEST(Generators, WriteTraceFileRoundTrips) {
  GenCommon c;
  c.records = 1000;
  GupsSpec s;
  s.footprint_bytes = 4 << 20;
  s.hot_bytes = 1 << 20;
  auto r = GenerateGups(c, s);
  ASSERT_TRUE(r.ok());
  const std::string path = ::testing::TempDir() + "/gups.tvmt";
  ASSERT_TRUE(WriteTraceFile(path, *r).ok());
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  auto back = placement::DecodeTrace(ss.str());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, *r);
  std::vector<placement::Sample> bad = *r;
  bad[3].weight = 0;
  EXPECT_FALSE(WriteTraceFile(path, bad).ok());
}

TEST(LackeySampler, ParsesSamplesAndWeighs) {
  LackeySamplerConfig c;
  c.llc_bytes = 0;  // every access is a miss
  c.period = 4;
  c.jitter_frac = 0;
  LackeySampler s(c);
  s.Line("==4242== Lackey, an example Valgrind tool");
  for (int i = 0; i < 100; ++i) {
    s.Line("I  0401a6c2,3");
    char buf[64];
    std::snprintf(buf, sizeof buf, " %c 1ffefff%03x,8", "LSM"[i % 3], i * 8);
    s.Line(buf);
  }
  auto out = s.Finish();
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->size(), 25u);
  uint64_t w = 0;
  for (const auto& x : *out) {
    EXPECT_EQ(x.pid, 4242);
    w += x.weight;
  }
  EXPECT_EQ(w, 100u);
  EXPECT_EQ(s.stats().instructions, 100u);
  EXPECT_EQ(s.stats().loads, 34u);
  EXPECT_EQ(s.stats().bad_lines, 0u);
  EXPECT_EQ((*out)[0].vaddr, 0x1ffefff018ull);
  EXPECT_EQ((*out)[0].kind, placement::AccessKind::kLoad);  // the 4th access, i = 3, is an L
}

TEST(LackeySampler, CacheFiltersRepeatsAndRejectsGarbage) {
  LackeySamplerConfig c;
  c.llc_bytes = 64 * 1024;
  c.period = 1;
  c.jitter_frac = 0;
  c.pid = 9;
  LackeySampler s(c);
  for (int rep = 0; rep < 10; ++rep) {
    for (int i = 0; i < 100; ++i) {
      char buf[64];
      std::snprintf(buf, sizeof buf, " L %x,8", 0x10000 + i * 64);
      s.Line(buf);
    }
  }
  EXPECT_EQ(s.stats().misses, 100u);  // 6.4 KiB fits: only cold misses
  LackeySampler bad(c);
  for (int i = 0; i < 10; ++i) bad.Line(" L 1000,8");
  bad.Line("garbage");
  bad.Line(" Q 1000,8");
  bad.Line(" L zz,8");
  EXPECT_EQ(bad.stats().bad_lines, 3u);
  EXPECT_FALSE(bad.Finish().ok());  // 3 of 13 lines bad
  LackeySampler empty(c);
  EXPECT_FALSE(empty.Finish().ok());
}

}  // namespace
}  // namespace tiervm::traces
