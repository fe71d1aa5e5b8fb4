// Micro benchmarks for the placement library's hot paths.
//
//   BM_IngestSample       ns per sample into a tracker holding 2,048 ranges
//                         (goal: <= 50 ns; 1% of a vCPU at 20 k samples/s
//                         leaves 500 ns per sample for everything)
//   BM_IngestManyPids     same, samples interleaved over 16 processes
//   BM_EndEpoch           merge/split/decay over 2,048 ranges
//   BM_ClassifyAndPlan    snapshot -> classification -> exchange plan
//   BM_ClassifyPageLevel  the same with 131,072 page counts (Zipf over a
//                         512 MiB heap of 64 ranges, 4 KiB pages): every
//                         range page-resolved
#include <algorithm>
#include <memory>
#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "placement/classifier.h"
#include "placement/exchange_planner.h"
#include "placement/range_tracker.h"

namespace tiervm::placement {
namespace {

constexpr Vaddr kBase = 0x7f0000000000ull;
constexpr int kRanges = 2048;

// 2,048 separate 2 MiB VMAs per tracker -> exactly 2,048 ranges that cannot
// merge (gaps between them), spread over `pids` processes.
RangeTracker MakeTracker(int pids) {
  RangeTrackerConfig c;
  c.max_ranges = kRanges;
  RangeTracker t(c);
  for (int p = 0; p < pids; ++p) {
    std::vector<Vma> vmas;
    for (int i = 0; i < kRanges / pids; ++i) {
      const Vaddr a = kBase + static_cast<Vaddr>(i) * 4 * kHugePageBytes;
      vmas.push_back({a, a + kHugePageBytes});
    }
    if (!t.SetVmas(100 + p, vmas).ok()) std::abort();
  }
  return t;
}

std::vector<Sample> MakeSamples(int pids, size_t n) {
  std::mt19937_64 rng(1);
  std::vector<Sample> out(n);
  const int per_pid = kRanges / pids;
  for (Sample& s : out) {
    // 80% of samples on 10% of the ranges, like a skewed workload.
    const int r = rng() % 10 < 8 ? static_cast<int>(rng() % (per_pid / 10 + 1))
                                 : static_cast<int>(rng() % per_pid);
    s.pid = 100 + static_cast<Pid>(rng() % pids);
    s.vaddr = kBase + static_cast<Vaddr>(r) * 4 * kHugePageBytes + rng() % kHugePageBytes;
    s.kind = rng() % 4 ? AccessKind::kLoad : AccessKind::kStore;
    s.weight = 1;
  }
  return out;
}

void IngestBench(benchmark::State& state, int pids) {
  RangeTracker t = MakeTracker(pids);
  const std::vector<Sample> samples = MakeSamples(pids, 1 << 16);
  size_t i = 0;
  for (auto _ : state) {
    t.Ingest(samples[i]);
    i = (i + 1) & (samples.size() - 1);
  }
  if (t.range_count() != kRanges) state.SkipWithError("range count changed");
  state.SetItemsProcessed(state.iterations());
  state.counters["ranges"] = static_cast<double>(t.range_count());
}

void BM_IngestSample(benchmark::State& state) { IngestBench(state, 1); }
BENCHMARK(BM_IngestSample);

void BM_IngestManyPids(benchmark::State& state) { IngestBench(state, 16); }
BENCHMARK(BM_IngestManyPids);

void BM_EndEpoch(benchmark::State& state) {
  const std::vector<Sample> samples = MakeSamples(1, 1 << 14);
  for (auto _ : state) {
    state.PauseTiming();
    RangeTracker t = MakeTracker(1);
    t.Ingest(samples);
    state.ResumeTiming();
    benchmark::DoNotOptimize(t.EndEpoch());
  }
}
BENCHMARK(BM_EndEpoch)->Unit(benchmark::kMicrosecond);

// 2,048 ranges of one 2 MiB page each (THP or 512 base pages, by argument),
// half on each tier, hot ones on SMEM: a full swap is wanted.
void BM_ClassifyAndPlan(benchmark::State& state) {
  const uint64_t page = state.range(0) ? kHugePageBytes : kBasePageBytes;
  const int ranges = state.range(0) ? kRanges : 256;
  std::vector<RangeStats> rs;
  InMemoryPageLocator loc;
  for (int i = 0; i < ranges; ++i) {
    RangeStats r;
    r.pid = 1;
    r.start = kBase + static_cast<Vaddr>(i) * kHugePageBytes;
    r.end = r.start + kHugePageBytes;
    const bool hot = i % 2 == 0;
    r.weight = hot ? 100 + i : 0;
    r.sub_weight.fill(r.weight / kSubBlocks);
    rs.push_back(r);
    loc.AddPages(1, r.start, r.end, page, hot ? Tier::kSmem : Tier::kFmem);
  }
  const TrackerSnapshot snap(1, rs);
  const uint64_t cap = static_cast<uint64_t>(ranges / 2) * kHugePageBytes;
  PlannerConfig pc;
  pc.rate_limit_mib_per_s = 1 << 20;
  uint64_t moved = 0;
  for (auto _ : state) {
    auto c = Classify(snap, loc, {cap, 0});
    auto plan = PlanExchange(snap, *c, loc, FmemState{0, 0}, pc);
    moved = plan->moved_bytes();
    benchmark::DoNotOptimize(moved);
  }
  state.counters["moved_MiB"] = static_cast<double>(moved >> 20);
  state.counters["ranges"] = ranges;
}
BENCHMARK(BM_ClassifyAndPlan)->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond);

void BM_ClassifyPageLevel(benchmark::State& state) {
  constexpr int kHeapRanges = 64;
  constexpr uint64_t kRangeBytes = 8 * kHugePageBytes;
  constexpr uint64_t kPagesPerRange = kRangeBytes / kBasePageBytes;
  constexpr uint64_t kCounted = 131072;
  std::mt19937_64 rng(7);
  auto pages = std::make_shared<PageHeatMap>();
  std::vector<RangeStats> rs(kHeapRanges);
  InMemoryPageLocator loc;
  for (int i = 0; i < kHeapRanges; ++i) {
    rs[i].pid = 1;
    rs[i].start = kBase + static_cast<Vaddr>(i) * kRangeBytes;
    rs[i].end = rs[i].start + kRangeBytes;
    // First touch: the first quarter of the heap on FMEM.
    loc.AddPages(1, rs[i].start, rs[i].end, kBasePageBytes,
                 i < kHeapRanges / 4 ? Tier::kFmem : Tier::kSmem);
  }
  // Page p (of all, in a random order) is counted ~ 1000 / (p + 1).
  std::vector<uint64_t> order(kHeapRanges * kPagesPerRange);
  for (uint64_t i = 0; i < order.size(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  for (uint64_t k = 0; k < kCounted; ++k) {
    const float count = std::max(0.1f, 1000.0f / static_cast<float>(k + 1));
    const uint64_t page = order[k];
    (*pages)[(kBase / kBasePageBytes) + page] = count;
    RangeStats& r = rs[page / kPagesPerRange];
    r.weight += count;
  }
  for (RangeStats& r : rs) {
    r.sub_weight.fill(r.weight / kSubBlocks);
    for (uint64_t k = 0; k < kCounted; ++k) {
      const Vaddr a = kBase + order[k] * kBasePageBytes;
      if (a < r.start || a >= r.end) continue;
      const double c = (*pages)[a / kBasePageBytes];
      ++r.page_counted;
      r.page_sum += c;
      r.page_sum_sq += c * c;
    }
  }
  const TrackerSnapshot snap(1, rs, PageHeat{{1, pages}});
  const uint64_t cap = kHeapRanges / 4 * kRangeBytes;
  PlannerConfig pc;
  pc.rate_limit_mib_per_s = 64;  // what hplaced's floor rate moves in half a second
  size_t resolved = 0;
  uint64_t moved = 0;
  for (auto _ : state) {
    auto c = Classify(snap, loc, {cap, 0});
    auto plan = PlanExchange(snap, *c, loc, FmemState{0, 0}, pc);
    resolved = c->page_resolved_ranges;
    moved = plan->moved_bytes();
    benchmark::DoNotOptimize(moved);
  }
  state.counters["resolved"] = static_cast<double>(resolved);
  state.counters["moved_MiB"] = static_cast<double>(moved >> 20);
}
BENCHMARK(BM_ClassifyPageLevel)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tiervm::placement

BENCHMARK_MAIN();
