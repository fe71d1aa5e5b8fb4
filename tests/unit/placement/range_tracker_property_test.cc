// Property tests: random sample streams and random VMA churn, checking the
// tracker's invariants after every epoch.
#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "placement/range_tracker.h"
#include "test_util.h"

namespace tiervm::placement {
namespace {

using testing::kMiB;

struct World {
  std::vector<Pid> pids;
  absl::flat_hash_map<Pid, std::vector<Vma>> vmas;
};

// Sorted, disjoint ranges; each inside one of the pid's VMAs; within budget;
// sub-blocks sum to the weight.
void CheckInvariants(const RangeTracker& t, const World& w) {
  const TrackerSnapshot s = t.Snapshot();
  ASSERT_LE(s.ranges().size(), t.config().max_ranges);
  ASSERT_EQ(s.ranges().size(), t.range_count());
  for (size_t i = 0; i < s.ranges().size(); ++i) {
    const RangeStats& r = s.ranges()[i];
    ASSERT_LT(r.start, r.end);
    if (i > 0) {
      const RangeStats& p = s.ranges()[i - 1];
      ASSERT_TRUE(p.pid < r.pid || (p.pid == r.pid && p.end <= r.start));
    }
    const auto& vmas = w.vmas.at(r.pid);
    // Contiguous VMAs form one span; find the span holding r.start.
    bool inside = false;
    for (size_t v = 0; v < vmas.size() && !inside; ++v) {
      Vaddr a = vmas[v].start, b = vmas[v].end;
      size_t u = v;
      while (u + 1 < vmas.size() && vmas[u + 1].start == b) b = vmas[++u].end;
      inside = a <= r.start && r.end <= b;
    }
    ASSERT_TRUE(inside) << "range outside VMAs";
    double sum = 0;
    for (double x : r.sub_weight) {
      ASSERT_GE(x, 0);
      sum += x;
    }
    ASSERT_NEAR(sum, r.weight, 1e-9 * std::max(1.0, r.weight));
    ASSERT_GE(r.store_weight, 0);
    ASSERT_LE(r.store_weight, r.weight * (1 + 1e-9) + 1e-12);
  }
}

std::vector<Vma> RandomVmas(std::mt19937_64& rng) {
  std::vector<Vma> out;
  Vaddr pos = testing::kBase;
  const int n = std::uniform_int_distribution<int>(1, 6)(rng);
  for (int i = 0; i < n; ++i) {
    pos += std::uniform_int_distribution<uint64_t>(0, 3)(rng) * kMiB;  // gap or none
    const uint64_t len = std::uniform_int_distribution<uint64_t>(1, 64)(rng) * kMiB;
    out.push_back({pos, pos + len});
    pos += len;
  }
  return out;
}

// A sample in a random VMA; 80% of them in a per-pid hot window.
Sample RandomSample(std::mt19937_64& rng, const World& w, int64_t t) {
  const Pid pid = w.pids[rng() % w.pids.size()];
  const auto& vmas = w.vmas.at(pid);
  const Vma& v = vmas[rng() % vmas.size()];
  const uint64_t len = v.end - v.start;
  uint64_t off;
  if (rng() % 10 < 8) {
    const uint64_t hot = std::max<uint64_t>(len / 16, 4096);
    off = (static_cast<uint64_t>(pid) * 7919 * kMiB) % (len - hot + 1) + rng() % hot;
  } else {
    off = rng() % len;
  }
  return Sample{pid, v.start + off, rng() % 4 ? AccessKind::kLoad : AccessKind::kStore,
                static_cast<uint32_t>(1 + rng() % 8), t};
}

class RangeTrackerProperty : public ::testing::TestWithParam<int> {};

TEST_P(RangeTrackerProperty, RandomStreamsKeepInvariantsAndConserveWeight) {
  std::mt19937_64 rng(GetParam());
  RangeTrackerConfig c;
  c.min_range_bytes = (rng() % 2) ? kHugePageBytes : 256 << 10;
  c.min_span_bytes = kBasePageBytes;  // every sample lands in a range
  c.max_ranges = 24 + rng() % 64;  // >= 3 pids x 6 spans: no span dropped
  c.decay_factor = 0.5 + 0.5 * std::uniform_real_distribution<double>(0, 1)(rng);
  c.split_min_weight = 8;
  RangeTracker t(c);
  World w;
  for (Pid pid = 10; pid < 13; ++pid) {
    w.pids.push_back(pid);
    // Same layout for all pids keeps spans >= min_span_bytes (1 MiB units).
    w.vmas[pid] = RandomVmas(rng);
    ASSERT_TRUE(t.SetVmas(pid, w.vmas[pid]).ok());
  }
  double expected = 0;
  int64_t now = 0;
  for (int epoch = 0; epoch < 40; ++epoch) {
    const int n = 500 + static_cast<int>(rng() % 2000);
    for (int i = 0; i < n; ++i) {
      const Sample s = RandomSample(rng, w, now++);
      expected += s.weight;
      t.Ingest(s);
    }
    t.EndEpoch();
    expected *= c.decay_factor;
    CheckInvariants(t, w);
    // Splits and merges move weight around but never create or lose it.
    ASSERT_NEAR(t.Snapshot().total_weight(), expected, 1e-6 * std::max(1.0, expected));
  }
  EXPECT_EQ(t.stats().samples_unmapped, 0u);
  EXPECT_EQ(t.stats().samples_unknown_pid, 0u);
  EXPECT_GT(t.stats().splits, 0u);
}

TEST_P(RangeTrackerProperty, MunmapChurnAndExitsKeepInvariants) {
  std::mt19937_64 rng(1000 + GetParam());
  RangeTrackerConfig c;
  c.max_ranges = 8 + rng() % 40;
  c.split_min_weight = 4;
  RangeTracker t(c);
  World w;
  Pid next_pid = 100;
  for (int i = 0; i < 3; ++i) {
    const Pid pid = next_pid++;
    w.pids.push_back(pid);
    w.vmas[pid] = RandomVmas(rng);
    ASSERT_TRUE(t.SetVmas(pid, w.vmas[pid]).ok());
  }
  for (int epoch = 0; epoch < 60; ++epoch) {
    for (int i = 0; i < 1000; ++i) t.Ingest(RandomSample(rng, w, epoch));
    const double before = t.Snapshot().total_weight();
    switch (rng() % 4) {
      case 0: {  // a process exits, another starts
        const size_t k = rng() % w.pids.size();
        ASSERT_TRUE(t.RemoveProcess(w.pids[k]).ok());
        w.vmas.erase(w.pids[k]);
        w.pids[k] = next_pid++;
        w.vmas[w.pids[k]] = RandomVmas(rng);
        ASSERT_TRUE(t.SetVmas(w.pids[k], w.vmas[w.pids[k]]).ok());
        break;
      }
      case 1: {  // munmap part of a VMA (maybe splitting it in two)
        const Pid pid = w.pids[rng() % w.pids.size()];
        auto& vmas = w.vmas[pid];
        const size_t v = rng() % vmas.size();
        const uint64_t pages = (vmas[v].end - vmas[v].start) / 4096;
        const Vaddr a = vmas[v].start + (rng() % pages) * 4096;
        const Vaddr b = std::min(vmas[v].end, a + (1 + rng() % pages) * 4096);
        std::vector<Vma> next;
        for (size_t u = 0; u < vmas.size(); ++u) {
          if (u != v) {
            next.push_back(vmas[u]);
            continue;
          }
          if (vmas[u].start < a) next.push_back({vmas[u].start, a});
          if (b < vmas[u].end) next.push_back({b, vmas[u].end});
        }
        if (next.empty()) next.push_back({testing::kBase, testing::kBase + 4 * kMiB});
        vmas = next;
        ASSERT_TRUE(t.SetVmas(pid, vmas).ok());
        break;
      }
      case 2: {  // mmap a new area above the others
        const Pid pid = w.pids[rng() % w.pids.size()];
        auto& vmas = w.vmas[pid];
        const Vaddr start = vmas.back().end + (rng() % 3) * kMiB;
        vmas.push_back({start, start + (1 + rng() % 32) * kMiB});
        ASSERT_TRUE(t.SetVmas(pid, vmas).ok());
        break;
      }
      default:
        break;
    }
    if (rng() % 4 != 3) {
      // Churn only drops weight (unmapped parts, exited processes).
      ASSERT_LE(t.Snapshot().total_weight(), before * (1 + 1e-9) + 1e-9);
    }
    t.EndEpoch();
    CheckInvariants(t, w);
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, RangeTrackerProperty, ::testing::Range(1, 21));

}  // namespace
}  // namespace tiervm::placement
