// PlacementLoop against fakes: a SystemView over an in-memory process
// table whose node meminfo follows FakePageMoveSyscall, a scripted sample
// source, a recording /dev/hballoon, FakeClock.
#include "daemon/hplaced/placement_loop.h"

#include <algorithm>
#include <cerrno>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon/adapters/fake_hballoon_dev.h"
#include "daemon/adapters/fake_move_pages.h"
#include "placement/clock.h"

namespace tiervm::hplaced {
namespace {

using adapters::FakePageMoveSyscall;
using placement::kBasePageBytes;
using placement::Sample;

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kPage = kBasePageBytes;
constexpr int kFmem = 0, kSmem = 1;
constexpr Pid kPid = 100, kSelf = 7;
constexpr placement::Vaddr kCold = 0x7f0000000000ull;  // 16 MiB, starts on FMEM
constexpr placement::Vaddr kHot = 0x7f1000000000ull;   // 4 MiB, starts on SMEM
constexpr uint64_t kColdBytes = 16 * kMiB, kHotBytes = 4 * kMiB;
constexpr uint64_t kFmemCap = 20 * kMiB, kSmemCap = 64 * kMiB;

class FakeSystem final : public SystemView {
 public:
  explicit FakeSystem(const FakePageMoveSyscall* mem) : mem_(mem) {}
  struct Proc {
    std::string comm;
    std::vector<Vma> vmas;
    uint64_t start_time_ticks = 1;
    bool kernel_thread = false;
  };
  std::map<Pid, Proc> procs;
  adapters::ProcessFilter last_filter;
  int list_calls = 0;
  int maps_reads = 0;
  int stat_reads = 0;  // what /proc/PID/stat reads the listing would do
  int meminfo_reads = 0;
  int free_reads = 0;

  absl::StatusOr<adapters::ProcessListing> ListProcesses(
      const adapters::ProcessFilter& filter) override {
    ++list_calls;
    last_filter = filter;
    adapters::ProcessListing l;
    for (const auto& [pid, p] : procs) {
      if (filter.deny_pids.contains(pid)) {
        ++l.denied;
        continue;
      }
      if (filter.known_kernel_threads.contains(pid)) {
        l.kernel_thread_pids.push_back(pid);
        continue;
      }
      ++stat_reads;
      if (p.kernel_thread) {
        l.kernel_thread_pids.push_back(pid);
        continue;
      }
      if (filter.deny_comms.contains(p.comm)) {
        ++l.denied;
        continue;
      }
      uint64_t vsize = 0;
      for (const Vma& v : p.vmas) vsize += v.end - v.start;
      l.processes.push_back({pid, 1, p.comm, 'R', p.start_time_ticks, vsize});
    }
    return l;
  }
  absl::StatusOr<std::vector<Vma>> PlaceableVmas(Pid pid, const adapters::PlaceOptions&) override {
    ++maps_reads;
    auto it = procs.find(pid);
    if (it == procs.end()) return absl::NotFoundError("gone");
    return it->second.vmas;
  }
  absl::StatusOr<adapters::NodeMeminfo> NodeMeminfo(int node, MeminfoDetail) override {
    adapters::NodeMeminfo m;
    m.node = node;
    m.total_bytes = node == kFmem ? kFmemCap : kSmemCap;
    m.free_bytes = mem_->free_bytes(node);
    m.used_bytes = m.total_bytes - m.free_bytes;
    m.anon_bytes = m.used_bytes;  // the fake's pages are all anonymous
    ++meminfo_reads;
    return m;
  }
  absl::StatusOr<uint64_t> FreeMemoryBytes() override {
    ++free_reads;
    return mem_->free_bytes(kFmem) + mem_->free_bytes(kSmem);
  }
  absl::StatusOr<adapters::MemoryPressure> Pressure() override {
    adapters::MemoryPressure p;
    p.some.total_us = 1234;
    p.full.total_us = 56;
    p.has_full = true;
    return p;
  }

 private:
  const FakePageMoveSyscall* mem_;
};

// Returns what the test queued for the next Read; an error once `fail` is set.
class ScriptedSource final : public placement::SampleSource {
 public:
  std::deque<Sample> queue;
  absl::Status fail;
  std::function<void()> on_read;  // e.g. charge CPU to the clock
  absl::StatusOr<size_t> Read(absl::Span<Sample> out) override {
    if (!fail.ok()) return fail;
    if (on_read) on_read();
    size_t n = 0;
    while (n < out.size() && !queue.empty()) {
      out[n++] = queue.front();
      queue.pop_front();
    }
    return n;
  }
  bool Exhausted() const override { return false; }
};

class RecordingControl final : public SourceControl {
 public:
  bool baseline = false;
  uint64_t passes = 0;
  bool ScansInPasses() const override { return baseline; }
  uint64_t Passes() const override { return passes; }
  ScanTargets targets;
  int set_targets_calls = 0;
  std::vector<double> scan_rates;
  uint64_t pages_per_take = 0;
  void SetTargets(const ScanTargets& t) override {
    targets = t;
    ++set_targets_calls;
  }
  void SetRates(uint64_t, double scan) override { scan_rates.push_back(scan); }
  uint64_t TakePagesScanned() override { return pages_per_take; }
};

// The telemetry sink and balloon view: records SUBMIT_STATS messages.
class RecordingHballoon final : public adapters::HballoonDev {
 public:
  hballoon_info info{};
  std::vector<std::vector<virtio_hballoon_stat>> submitted;
  RecordingHballoon() {
    info.num_nodes = 2;
    for (uint32_t i = 0; i < 2; ++i) {
      info.nodes[i].node = i;
      info.nodes[i].flags = HBALLOON_NODE_F_ACTIVE;
      info.nodes[i].tier = i;
      info.nodes[i].node_pages = static_cast<uint32_t>((i == 0 ? kFmemCap : kSmemCap) / kPage);
    }
  }
  absl::StatusOr<hballoon_info> GetInfo() override { return info; }
  absl::StatusOr<uint32_t> SubmitStats(absl::Span<const virtio_hballoon_stat> stats) override {
    if (stats.empty() || stats.size() > VIRTIO_HBALLOON_MAX_STATS) {
      return absl::InvalidArgumentError("bad record count");
    }
    submitted.emplace_back(stats.begin(), stats.end());
    return static_cast<uint32_t>(submitted.size());
  }
  absl::Status ScanYoung(hballoon_scan&, absl::Span<hballoon_scan_range>) override {
    return absl::UnimplementedError("not in this fake");
  }
  absl::Status Locate(hballoon_scan&, absl::Span<hballoon_scan_range>) override {
    return absl::UnimplementedError("not in this fake");
  }
};

class LoopTest : public ::testing::Test {
 protected:
  LoopTest() : mem({kFmemCap, kSmemCap}), system(&mem) {
    for (uint64_t off = 0; off < kColdBytes; off += kPage) mem.AddPage(kPid, kCold + off, kPage, kFmem);
    for (uint64_t off = 0; off < kHotBytes; off += kPage) mem.AddPage(kPid, kHot + off, kPage, kSmem);
    system.procs[kPid] = {"work", {{kCold, kCold + kColdBytes}, {kHot, kHot + kHotBytes}}};
    system.procs[kSelf] = {"hplaced", {{0x10000000, 0x10000000 + 4 * kMiB}}};
    config.planner.headroom_bytes = 1 * kMiB;
    config.telemetry_interval_ms = 2000;
    mem.on_move = [this] {
      max_fmem_used = std::max(max_fmem_used, mem.used_bytes(kFmem));
    };
  }

  PlacementLoop MakeLoop(bool with_source = true) {
    LoopDeps d;
    d.system = &system;
    d.source = with_source ? &source : nullptr;
    d.source_control = with_source ? &control : nullptr;
    d.syscall = &mem;
    d.hballoon = &hb;
    d.clock = &clock;
    return PlacementLoop(config, d, kSelf);
  }

  // One A-bit-like pass: a sample for every page of [start, start+bytes).
  void Touch(placement::Vaddr start, uint64_t bytes) {
    for (uint64_t off = 0; off < bytes; off += kPage) {
      source.queue.push_back(Sample{kPid, start + off, placement::AccessKind::kLoad, 1,
                                    clock.MonotonicNs()});
    }
  }
  void Tick(PlacementLoop& loop) {
    ASSERT_TRUE(loop.Tick().ok());
    clock.Advance(1'000'000'000, 2'000'000);  // 1 s tick, 2 ms CPU
  }
  uint64_t HotOnFmem(placement::Vaddr start, uint64_t bytes) const {
    uint64_t n = 0;
    for (uint64_t off = 0; off < bytes; off += kPage) n += mem.NodeOf(kPid, start + off) == kFmem;
    return n * kPage;
  }

  HplacedConfig config;
  FakePageMoveSyscall mem;
  FakeSystem system;
  ScriptedSource source;
  RecordingControl control;
  RecordingHballoon hb;
  placement::FakeClock clock;
  uint64_t max_fmem_used = 0;
};

TEST_F(LoopTest, PromotesHotRegionWithoutOverflowingFmem) {
  PlacementLoop loop = MakeLoop();
  Touch(kCold, kColdBytes);  // the fill touched everything once
  for (int t = 0; t < 6; ++t) {
    Touch(kHot, kHotBytes);
    Tick(loop);
  }
  EXPECT_EQ(HotOnFmem(kHot, kHotBytes), kHotBytes);
  const LoopCounters& c = loop.counters();
  EXPECT_EQ(c.promoted_pages, kHotBytes / kPage);
  // FMEM was full but for 4 MiB: only what the headroom needs is demoted.
  EXPECT_EQ(c.demoted_pages, (kHotBytes + config.planner.headroom_bytes - 4 * kMiB) / kPage);
  EXPECT_LE(static_cast<double>(c.promoted_pages + c.demoted_pages) / c.promoted_pages, 2.0);
  EXPECT_LE(max_fmem_used, kFmemCap - config.planner.headroom_bytes);
  EXPECT_EQ(mem.capacity_refusals(), 0u);
  EXPECT_EQ(c.errors, 0u) << c.last_error;
  EXPECT_EQ(c.epochs, 6u);
  EXPECT_EQ(c.processes, 1u);
  // Stable: further ticks with the same hot set move nothing.
  const uint64_t moved = c.promoted_pages + c.demoted_pages;
  for (int t = 0; t < 3; ++t) {
    Touch(kHot, kHotBytes);
    Tick(loop);
  }
  EXPECT_EQ(loop.counters().promoted_pages + loop.counters().demoted_pages, moved);
}

TEST_F(LoopTest, DeniesItselfAndListedCommsAndForgetsExitedProcesses) {
  config.maps_refresh_ms = 1000;
  PlacementLoop loop = MakeLoop();
  Tick(loop);
  EXPECT_TRUE(system.last_filter.deny_pids.contains(kSelf));
  EXPECT_TRUE(system.last_filter.deny_comms.contains("hplaced"));
  EXPECT_EQ(control.targets.size(), 1u);
  EXPECT_TRUE(control.targets.contains(kPid));
  EXPECT_EQ(loop.tracker().process_count(), 1u);
  system.procs.erase(kPid);
  mem.RemoveProcess(kPid);
  Tick(loop);
  EXPECT_EQ(loop.tracker().process_count(), 0u);
  EXPECT_TRUE(control.targets.empty());
  EXPECT_EQ(loop.counters().errors, 0u) << loop.counters().last_error;
}

TEST_F(LoopTest, SamplesOfANewProcessTriggerAMapsRead) {
  config.maps_refresh_ms = 3'600'000;
  PlacementLoop loop = MakeLoop();
  Tick(loop);
  const int lists = system.list_calls;
  system.procs[200] = {"late", {{kHot, kHot + kHotBytes}}};
  mem.AddPage(200, kHot, kPage, kSmem);
  source.queue.push_back(Sample{200, kHot, placement::AccessKind::kLoad, 1, 0});
  Tick(loop);
  EXPECT_EQ(system.list_calls, lists + 1);
  EXPECT_EQ(loop.tracker().process_count(), 2u);
}

// Memory a process maps between listings is known as soon as the memory
// in use has grown by refresh_growth_mib, not only at the next
// maps_refresh_ms: here areas written on SMEM.  Growth below the mark,
// and migration (which moves memory between the nodes), do not list
// again; the SMEM node's meminfo is not read for it (sysinfo is).
TEST_F(LoopTest, MemoryGrowthTriggersAListing) {
  config.maps_refresh_ms = 3'600'000;
  config.refresh_growth_mib = 8;
  PlacementLoop loop = MakeLoop();
  Tick(loop);
  Tick(loop);
  const int lists = system.list_calls;
  const int meminfo0 = system.meminfo_reads;
  constexpr placement::Vaddr kNew = 0x7f2000000000ull;
  // The process writes [from, to) on SMEM, in an area ending at `to`.
  auto write = [this](placement::Vaddr area, placement::Vaddr from, placement::Vaddr to) {
    std::vector<Vma>& vmas = system.procs[kPid].vmas;
    if (vmas.back().start == area) {
      vmas.back().end = to;
    } else {
      vmas.push_back({area, to});
    }
    for (uint64_t a = from; a < to; a += kPage) mem.AddPage(kPid, a, kPage, kSmem);
  };
  // 4 MiB: under the mark.
  write(kNew, kNew, kNew + 4 * kMiB);
  Tick(loop);
  EXPECT_EQ(system.list_calls, lists);
  EXPECT_EQ(control.targets.at(kPid).size(), 2u);
  // 8 MiB more: 12 MiB since the listing, past the mark.
  write(kNew, kNew + 4 * kMiB, kNew + 12 * kMiB);
  Tick(loop);
  EXPECT_EQ(system.list_calls, lists + 1);
  EXPECT_EQ(loop.counters().maps_refreshes_growth, 1u);
  ASSERT_EQ(control.targets.at(kPid).size(), 3u);
  EXPECT_EQ(control.targets.at(kPid).back().end, kNew + 12 * kMiB);
  // Nothing new: no further listing, whatever moves between the nodes.
  for (int t = 0; t < 3; ++t) {
    Touch(kNew, 12 * kMiB);
    Tick(loop);
  }
  EXPECT_EQ(system.list_calls, lists + 1);
  EXPECT_EQ(loop.counters().errors, 0u) << loop.counters().last_error;
  EXPECT_GT(system.free_reads, 0);
  // FMEM's meminfo once a tick (5 ticks), telemetry's two every 2 s.
  EXPECT_LE(system.meminfo_reads - meminfo0, 5 + 2 * 3);
  // Off: the same growth waits for maps_refresh_ms.
  config.refresh_growth_mib = 0;
  PlacementLoop off = MakeLoop();
  Tick(off);
  const int lists_off = system.list_calls;
  constexpr placement::Vaddr kMore = 0x7f3000000000ull;
  write(kMore, kMore, kMore + 16 * kMiB);
  Tick(off);
  EXPECT_EQ(system.list_calls, lists_off);
}

// A listing reads the stat of processes only (kernel threads are
// remembered) and the maps of a process only when its vsize or start time
// moved; full_refresh_ms re-reads everything.
TEST_F(LoopTest, RefreshReadsOnlyWhatMayHaveChanged) {
  config.maps_refresh_ms = 1000;
  config.full_refresh_ms = 10'000;
  for (Pid k = 1000; k < 1010; ++k) system.procs[k] = {"kworker", {}, 1, true};
  PlacementLoop loop = MakeLoop();
  Tick(loop);  // full: 10 kthreads + work (hplaced is denied by pid)
  EXPECT_EQ(system.stat_reads, 11);
  EXPECT_EQ(system.maps_reads, 1);
  Tick(loop);  // nothing changed: the work process's stat only
  EXPECT_EQ(system.stat_reads, 12);
  EXPECT_EQ(system.maps_reads, 1);
  EXPECT_EQ(loop.counters().maps_unchanged, 1u);
  // The process maps a new area: its vsize moves, its maps are read.
  constexpr placement::Vaddr kNew = 0x7f2000000000ull;
  system.procs[kPid].vmas.push_back({kNew, kNew + kMiB});
  Tick(loop);
  EXPECT_EQ(system.maps_reads, 2);
  EXPECT_EQ(control.targets.at(kPid).size(), 3u);
  // A reused pid (another start time, the same size) is a new process.
  system.procs[kPid].start_time_ticks = 99;
  Tick(loop);
  EXPECT_EQ(system.maps_reads, 3);
  // The full refresh reads every stat and every maps again.
  const int stats = system.stat_reads, maps = system.maps_reads;
  clock.Advance(10'000'000'000, 0);
  Tick(loop);
  EXPECT_EQ(system.stat_reads - stats, 11);
  EXPECT_EQ(system.maps_reads - maps, 1);
  EXPECT_EQ(loop.counters().errors, 0u) << loop.counters().last_error;
}

TEST_F(LoopTest, RaisedBalloonTargetDemotesColdestFirst) {
  PlacementLoop loop = MakeLoop();
  Touch(kCold, kColdBytes);
  for (int t = 0; t < 6; ++t) {
    Touch(kHot, kHotBytes);
    // Part of the cold region stays warm: it must outlive the colder rest.
    Touch(kCold, 2 * kMiB);
    Tick(loop);
  }
  ASSERT_EQ(HotOnFmem(kHot, kHotBytes), kHotBytes);
  ASSERT_EQ(HotOnFmem(kCold, 2 * kMiB), 2 * kMiB);
  // The host wants 8 MiB of FMEM back.
  hb.info.nodes[0].target_pages = static_cast<uint32_t>(8 * kMiB / kPage);
  const uint64_t demoted0 = loop.counters().demoted_pages;
  Touch(kHot, kHotBytes);
  Touch(kCold, 2 * kMiB);
  Tick(loop);
  EXPECT_EQ(loop.counters().balloon_pending_bytes, 8 * kMiB);
  EXPECT_GE(mem.free_bytes(kFmem), 8 * kMiB + config.planner.headroom_bytes);
  // Only as much as the balloon needs, all of it cold.
  EXPECT_LE((loop.counters().demoted_pages - demoted0) * kPage, 8 * kMiB + 4 * kMiB);
  EXPECT_EQ(HotOnFmem(kHot, kHotBytes), kHotBytes);
  EXPECT_EQ(HotOnFmem(kCold, 2 * kMiB), 2 * kMiB);
  // The balloon takes its pages (modelled as another owner's pages on
  // FMEM): nothing pending, nothing more to move.
  hb.info.nodes[0].actual_pages = hb.info.nodes[0].target_pages;
  for (uint64_t off = 0; off < 8 * kMiB; off += kPage) mem.AddPage(999, kCold + off, kPage, kFmem);
  const uint64_t moved = loop.counters().promoted_pages + loop.counters().demoted_pages;
  Touch(kHot, kHotBytes);
  Tick(loop);
  EXPECT_EQ(loop.counters().balloon_pending_bytes, 0u);
  // Everything hot is on FMEM already and the cold pages stay put.
  EXPECT_EQ(loop.counters().promoted_pages + loop.counters().demoted_pages, moved);
}

TEST_F(LoopTest, TelemetryRecordsEveryInterval) {
  PlacementLoop loop = MakeLoop();
  Touch(kCold, kColdBytes);
  for (int t = 0; t < 5; ++t) {
    Touch(kHot, kHotBytes);
    Tick(loop);
  }
  // Ticks at t = 0..4 s, interval 2 s: sent at 0, 2 and 4.
  ASSERT_EQ(hb.submitted.size(), 3u);
  EXPECT_EQ(loop.counters().telemetry_sent, 3u);
  std::map<std::pair<int, int>, uint64_t> last;
  for (const virtio_hballoon_stat& s : hb.submitted.back()) last[{s.tag, s.node}] = s.val;
  EXPECT_EQ((last[{VIRTIO_HBALLOON_STAT_FREE_BYTES, 0}]), mem.free_bytes(kFmem));
  EXPECT_EQ((last[{VIRTIO_HBALLOON_STAT_TOTAL_BYTES, 1}]), kSmemCap);
  EXPECT_EQ((last[{VIRTIO_HBALLOON_STAT_PSI_SOME_US, VIRTIO_HBALLOON_STAT_NODE_ANY}]), 1234u);
  EXPECT_EQ((last[{VIRTIO_HBALLOON_STAT_PSI_FULL_US, VIRTIO_HBALLOON_STAT_NODE_ANY}]), 56u);
  EXPECT_EQ((last[{VIRTIO_HBALLOON_STAT_PROMOTED_PAGES, VIRTIO_HBALLOON_STAT_NODE_ANY}]),
            loop.counters().promoted_pages);
  EXPECT_EQ((last[{VIRTIO_HBALLOON_STAT_DEMOTED_PAGES, VIRTIO_HBALLOON_STAT_NODE_ANY}]),
            loop.counters().demoted_pages);
  EXPECT_TRUE(last.contains({VIRTIO_HBALLOON_STAT_BUDGET_PPM, VIRTIO_HBALLOON_STAT_NODE_ANY}));
  // The hot region is on FMEM now: few sampled accesses hit SMEM.
  EXPECT_LT((last[{VIRTIO_HBALLOON_STAT_SMEM_SHARE_PPM, VIRTIO_HBALLOON_STAT_NODE_ANY}]),
            100'000u);
  // Curve: 16 points, non-decreasing, ending at 100 %; the hot 4 MiB of
  // 20 MiB cover most of the weight.
  uint64_t prev_x = 0, prev_y = 0;
  for (int i = 0; i < static_cast<int>(kMaxCurvePoints); ++i) {
    ASSERT_TRUE(last.contains({VIRTIO_HBALLOON_STAT_HOT_BYTES, i}));
    const uint64_t x = last[{VIRTIO_HBALLOON_STAT_HOT_BYTES, i}];
    const uint64_t y = last[{VIRTIO_HBALLOON_STAT_HOT_SHARE_PPM, i}];
    EXPECT_GT(x, prev_x);
    EXPECT_GE(y, prev_y);
    prev_x = x;
    prev_y = y;
  }
  EXPECT_EQ(prev_y, 1'000'000u);
  EXPECT_GT((last[{VIRTIO_HBALLOON_STAT_HOT_SHARE_PPM, 3}]), 850'000u);  // 5 MiB
  EXPECT_FALSE(last.contains({VIRTIO_HBALLOON_STAT_HOT_BYTES, 16}));
}

TEST(BuildTelemetry, NoSamplesMeansNoCurveAndNoShare) {
  TelemetryInputs in;
  adapters::NodeMeminfo n0;
  n0.node = 0;
  n0.free_bytes = 5;
  n0.total_bytes = 10;
  in.nodes = {n0};
  in.promoted_pages = 3;
  in.budget_use_fraction = 0.5;
  std::vector<virtio_hballoon_stat> r = BuildTelemetry(in);
  std::map<int, uint64_t> by_tag;
  for (const auto& s : r) {
    EXPECT_EQ(s.reserved, 0u);
    by_tag[s.tag] = s.val;
  }
  EXPECT_FALSE(by_tag.contains(VIRTIO_HBALLOON_STAT_HOT_BYTES));
  EXPECT_FALSE(by_tag.contains(VIRTIO_HBALLOON_STAT_SMEM_SHARE_PPM));
  EXPECT_FALSE(by_tag.contains(VIRTIO_HBALLOON_STAT_PSI_SOME_US));
  EXPECT_EQ(by_tag[VIRTIO_HBALLOON_STAT_FREE_BYTES], 5u);
  EXPECT_EQ(by_tag[VIRTIO_HBALLOON_STAT_PROMOTED_PAGES], 3u);
  EXPECT_EQ(by_tag[VIRTIO_HBALLOON_STAT_BUDGET_PPM], 500'000u);
  EXPECT_LE(r.size(), static_cast<size_t>(VIRTIO_HBALLOON_MAX_STATS));
}

TEST_F(LoopTest, BudgetLowersTheScanRateWhenTheDaemonCostsTooMuch) {
  PlacementLoop loop = MakeLoop();
  control.pages_per_take = 1 << 20;  // 1 Mi pages/s at 20 ns: 2 % of a CPU
  for (int t = 0; t < 12; ++t) Tick(loop);
  ASSERT_GE(control.scan_rates.size(), 10u);
  EXPECT_LT(control.scan_rates.back(), control.scan_rates.front());
  EXPECT_TRUE(loop.counters().budget.over_budget || loop.counters().budget.smoothed_pct > 1.0);
}

// With the floor rate off, migration is paid from the CPU budget: with
// every moved 4 KiB page costing 1 ms of the daemon's CPU (a slow TCG
// guest), a 10 % budget with a 1 s bucket paces the promotion of the hot
// region over many ticks, and at no point has the daemon spent more than
// the start-up tick + budget * T + the bucket + one move_pages batch (the
// executor's check) + one tick's fixed cost.
TEST_F(LoopTest, MigrationIsPacedByTheCpuBudget) {
  config.planner.min_rate_mib_per_s = 0;
  config.budget.budget_pct = 10;
  config.budget.burst_s = 1;
  config.max_batch_pages = 16;
  const int64_t page_cpu_ns = 1'000'000;
  mem.on_move = [this, page_cpu_ns] {
    max_fmem_used = std::max(max_fmem_used, mem.used_bytes(kFmem));
    clock.Advance(0, page_cpu_ns);
  };
  PlacementLoop loop = MakeLoop();
  Touch(kCold, kColdBytes);
  const int64_t cpu0 = clock.OwnCpuNs();
  const double bucket_ns = 0.10 * 1e9;
  int ticks = 0;
  for (; ticks < 60 && HotOnFmem(kHot, kHotBytes) < kHotBytes; ++ticks) {
    Touch(kHot, kHotBytes);
    Tick(loop);
    // Tick `ticks` ran at `ticks` s (Tick() then advanced the clock 1 s);
    // the budget window started in the first one, at 0 s.
    const double t_ns = static_cast<double>(ticks) * 1e9;
    const double spent = static_cast<double>(clock.OwnCpuNs() - cpu0);
    const double startup = static_cast<double>(loop.counters().cpu_startup_ns);
    ASSERT_LE(spent, startup + 0.10 * t_ns + bucket_ns + 16 * page_cpu_ns + 2e6 + 1e6)
        << "tick " << ticks;
  }
  const LoopCounters& c = loop.counters();
  EXPECT_EQ(HotOnFmem(kHot, kHotBytes), kHotBytes) << "after " << ticks << " ticks";
  // 1,024 promotions at 1 ms cannot fit in fewer than ~10 s of 10 %.
  EXPECT_GE(ticks, 10);
  EXPECT_GT(c.budget_limited_ticks + c.budget_skipped_ticks, 0u);
  // The learnt cost: 256 pages per MiB at 1 ms each.
  EXPECT_NEAR(c.move_cost_ns_per_mib, 256e6, 256e6 * 0.2);
  EXPECT_LE(max_fmem_used, kFmemCap - config.planner.headroom_bytes);
  EXPECT_EQ(c.errors, 0u) << c.last_error;
  const std::string status = loop.StatusJson();
  EXPECT_NE(status.find("\"budget_credit_ms\""), std::string::npos);
  EXPECT_NE(status.find("\"move_cost_us_per_mib\""), std::string::npos);
}

// Out of credit (a budget far below what the daemon costs, as under TCG),
// placement is not starved: the floor rate still promotes the hot region,
// its CPU beyond the allowance is counted but not charged, and the debt
// stays bounded.  With the floor off, nothing moves.
class NoCreditTest : public LoopTest {
 protected:
  void Run(double floor_mib_per_s) {
    config.planner.min_rate_mib_per_s = floor_mib_per_s;
    config.budget.budget_pct = 0.1;
    config.budget.burst_s = 0;  // no bucket: only what a window earns
    mem.on_move = [this] { clock.Advance(0, 20'000); };  // 20 us a page
    PlacementLoop loop = MakeLoop();
    Touch(kCold, kColdBytes);
    for (int t = 0; t < 8; ++t) {
      Touch(kHot, kHotBytes);
      ASSERT_TRUE(loop.Tick().ok());
      clock.Advance(1'000'000'000, 50'000'000);  // 5 % of a CPU elsewhere
    }
    const LoopCounters& c = loop.counters();
    EXPECT_GE(c.budget_skipped_ticks, 3u);
    EXPECT_GT(c.samples, 0u);
    // Bounded debt: budget * max_debt_s.
    EXPECT_GE(c.budget.credit_ns,
              -static_cast<int64_t>(0.001 * config.budget.max_debt_s * 1e9));
    if (floor_mib_per_s > 0) {
      EXPECT_EQ(HotOnFmem(kHot, kHotBytes), kHotBytes);
      EXPECT_GT(c.floor_ticks, 0u);
      // Moves cost CPU the allowance did not cover: counted, not charged.
      EXPECT_GT(c.cpu_floor_move_ns, 0);
    } else {
      EXPECT_EQ(c.promoted_pages, 0u);
      EXPECT_EQ(c.floor_ticks, 0u);
    }
  }
};

TEST_F(NoCreditTest, TheFloorStillPlaces) { Run(32); }
TEST_F(NoCreditTest, WithoutTheFloorNothingMoves) { Run(0); }

// Sampling that costs more than its share of the budget even at the
// slowest scan rate (each scan ioctl waits for IPIs under TCG) runs on a
// duty cycle: after a read costing N times the share, N - 1 ticks without
// reads, at most max_sampling_gap_ticks (the sampling floor).  It never
// stops for good, and its average cost is bounded by what the duty cycle
// allows, not by the bounded (and forgiven) debt.
TEST_F(LoopTest, CostlySamplingRunsOnADutyCycleButNeverStops) {
  config.budget.budget_pct = 1;
  config.budget.burst_s = 2;
  config.max_sampling_gap_ticks = 10;
  PlacementLoop loop = MakeLoop();
  const int64_t cpu0 = clock.OwnCpuNs();
  // Every read costs 50 ms (5 % of a CPU at one read per second).
  int reads = 0;
  source.on_read = [this, &reads] {
    ++reads;
    clock.Advance(0, 50'000'000);
  };
  const int kTicks = 200;
  uint64_t samples_at_150 = 0;
  for (int t = 0; t < kTicks; ++t) {
    Touch(kHot, 64 * kPage);
    ASSERT_TRUE(loop.Tick().ok());
    clock.Advance(1'000'000'000, 0);
    if (t == 150) samples_at_150 = loop.counters().samples;
  }
  const LoopCounters& c = loop.counters();
  // Two 50 ms reads per sampled tick against a 5 ms share: 10 ticks off.
  EXPECT_GE(c.sampling_skipped_ticks, static_cast<uint64_t>(kTicks * 8 / 11));
  EXPECT_GT(c.samples, samples_at_150);  // still sampling at the end
  const double spent = static_cast<double>(clock.OwnCpuNs() - cpu0);
  EXPECT_LE(spent, (kTicks / 11 + 2) * 100e6);
  // Without the duty cycle it would have been every other tick (bounded
  // debt, forgiven): ~200 reads.
  EXPECT_LE(reads, (kTicks / 11 + 2) * 2);
}

// The sampling floor at its default (3): however costly a read and
// however deep the debt, no more than 3 ticks in a row go without one, so
// a hot set that appears is sampled within 4 ticks on a slow or loaded
// machine too; the reads it forced are counted.
TEST_F(LoopTest, SamplingFloorBoundsTheGapBetweenReads) {
  config.budget.budget_pct = 1;
  config.budget.burst_s = 2;
  PlacementLoop loop = MakeLoop();
  // Every read costs 400 ms: the duty cycle alone would skip 79 ticks,
  // and the debt pauses sampling too.
  std::vector<int> read_ticks;
  int tick = 0;
  source.on_read = [this, &read_ticks, &tick] {
    if (read_ticks.empty() || read_ticks.back() != tick) read_ticks.push_back(tick);
    clock.Advance(0, 200'000'000);
  };
  const int kTicks = 60;
  for (tick = 0; tick < kTicks; ++tick) {
    Touch(kHot, 64 * kPage);
    ASSERT_TRUE(loop.Tick().ok());
    clock.Advance(1'000'000'000, 0);
  }
  ASSERT_FALSE(read_ticks.empty());
  EXPECT_EQ(read_ticks.front(), 0);
  for (size_t i = 1; i < read_ticks.size(); ++i) {
    EXPECT_LE(read_ticks[i] - read_ticks[i - 1], 4) << "reads at ticks " << read_ticks[i - 1]
                                                    << " and " << read_ticks[i];
  }
  EXPECT_GE(read_ticks.size(), static_cast<size_t>(kTicks / 4));
  const LoopCounters& c = loop.counters();
  EXPECT_GT(c.sampling_floor_reads, 0u);
  EXPECT_GT(c.sampling_skipped_ticks + c.budget_paused_ticks, static_cast<uint64_t>(kTicks / 2));
  // Debt stays bounded (budget * max_debt_s) even with the forced reads.
  EXPECT_GE(c.budget.credit_ns,
            -static_cast<int64_t>(0.01 * config.budget.max_debt_s * 1e9));
}

// move_pages moves go to `mem` (capacity, meminfo) and are mirrored into
// the fake driver, so HBALLOON_IOC_LOCATE sees what move_pages did.
class MirroredMoves final : public adapters::PageMoveSyscall {
 public:
  MirroredMoves(FakePageMoveSyscall& mem, adapters::FakeHballoonDev& dev) : mem_(mem), dev_(dev) {}
  long MovePages(Pid pid, absl::Span<const placement::Vaddr> pages, absl::Span<const int> nodes,
                 absl::Span<int> status) override {
    if (nodes.empty()) ++queries;
    const long r = mem_.MovePages(pid, pages, nodes, status);
    for (size_t i = 0; r >= 0 && i < nodes.size(); ++i) {
      if (status[i] == nodes[i]) {
        EXPECT_TRUE(dev_.Move(pid, pages[i], nodes[i]).ok());
      }
    }
    return r;
  }
  int queries = 0;

 private:
  FakePageMoveSyscall& mem_;
  adapters::FakeHballoonDev& dev_;
};

// With a module that has HBALLOON_IOC_LOCATE, pages are located through it
// (no move_pages queries), THPs are seen whole and move as one page each,
// and the promoted/demoted counters still count 4 KiB pages.
TEST(LoopLocator, HballoonLocatorMovesThpsWholeWithoutQueries) {
  constexpr uint64_t kHuge = placement::kHugePageBytes;
  FakePageMoveSyscall mem({kFmemCap, kSmemCap});
  adapters::FakeHballoonDev dev;
  dev.info.num_nodes = 2;
  for (uint32_t i = 0; i < 2; ++i) {
    dev.info.nodes[i].node = i;
    dev.info.nodes[i].flags = HBALLOON_NODE_F_ACTIVE;
  }
  for (uint64_t off = 0; off < kColdBytes; off += kHuge) {
    mem.AddPage(kPid, kCold + off, kHuge, kFmem);
    dev.MapHuge(kPid, kCold + off, kFmem);
  }
  for (uint64_t off = 0; off < kHotBytes; off += kHuge) {
    mem.AddPage(kPid, kHot + off, kHuge, kSmem);
    dev.MapHuge(kPid, kHot + off, kSmem);
  }
  // hplaced's own probe page: the fake knows no such pid -> NotFound,
  // which still shows the ioctl exists.
  FakeSystem system(&mem);
  system.procs[kPid] = {"work", {{kCold, kCold + kColdBytes}, {kHot, kHot + kHotBytes}}};
  MirroredMoves moves(mem, dev);
  ScriptedSource source;
  placement::FakeClock clock;
  HplacedConfig config;
  config.planner.headroom_bytes = 1 * kMiB;
  LoopDeps d;
  d.system = &system;
  d.source = &source;
  d.syscall = &moves;
  d.hballoon = &dev;
  d.clock = &clock;
  PlacementLoop loop(config, d, kSelf);
  for (uint64_t off = 0; off < kColdBytes; off += kPage) {
    source.queue.push_back(Sample{kPid, kCold + off, placement::AccessKind::kLoad, 1, 0});
  }
  for (int t = 0; t < 6; ++t) {
    for (uint64_t off = 0; off < kHotBytes; off += kPage) {
      source.queue.push_back(
          Sample{kPid, kHot + off, placement::AccessKind::kLoad, 1, clock.MonotonicNs()});
    }
    ASSERT_TRUE(loop.Tick().ok());
    clock.Advance(1'000'000'000, 2'000'000);
  }
  const LoopCounters& c = loop.counters();
  EXPECT_EQ(c.locator, "hballoon");
  EXPECT_EQ(moves.queries, 0);
  EXPECT_GT(dev.locate_calls(), 0u);
  EXPECT_GT(c.locate_pages, 0u);
  for (uint64_t off = 0; off < kHotBytes; off += kHuge) {
    EXPECT_EQ(mem.NodeOf(kPid, kHot + off), kFmem);
  }
  EXPECT_EQ(c.promoted_pages, kHotBytes / kPage);  // 2 THPs = 1,024 pages
  EXPECT_LE(c.applied_moves, 2u + 2u);  // 2 promotions, <= 2 THP demotions
  EXPECT_EQ(c.errors, 0u) << c.last_error;
}

TEST_F(LoopTest, WithoutTheLocateIoctlAutoFallsBackAndHballoonIsAnError) {
  {
    PlacementLoop loop = MakeLoop();  // RecordingHballoon: Unimplemented
    Tick(loop);
    EXPECT_EQ(loop.counters().locator, "move_pages");
  }
  config.locator = "hballoon";
  PlacementLoop loop = MakeLoop();
  const absl::Status st = loop.Tick();
  EXPECT_EQ(st.code(), absl::StatusCode::kUnimplemented) << st;
  EXPECT_NE(st.message().find("hballoon"), absl::string_view::npos);
}

TEST_F(LoopTest, BrokenSourceIsFatalUnlessOptional) {
  {
    PlacementLoop loop = MakeLoop();
    source.fail = absl::DataLossError("ring lost");
    absl::Status s = loop.Tick();
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("sample source"));
  }
  LoopDeps d;
  d.system = &system;
  d.source = &source;
  d.source_control = &control;
  d.source_optional = true;
  d.syscall = &mem;
  d.clock = &clock;
  PlacementLoop loop(config, d, kSelf);
  EXPECT_TRUE(loop.Tick().ok());
  EXPECT_EQ(loop.counters().errors, 1u);
  clock.Advance(1'000'000'000, 0);
  EXPECT_TRUE(loop.Tick().ok());  // goes on without the source
  EXPECT_EQ(loop.counters().errors, 1u);
}

TEST_F(LoopTest, WithoutSamplesOnlyTheHeadroomIsKeptFree) {
  // 4 MiB free now, under a quarter of the headroom: with the restore of
  // such dips configured (the default leaves them to the kernel), 14 MiB
  // must go once the dip has lasted restore_after_ticks ticks.
  config.planner.headroom_bytes = 18 * kMiB;
  config.planner.restore_after_ticks = 3;
  PlacementLoop loop = MakeLoop(/*with_source=*/false);
  Tick(loop);
  Tick(loop);
  EXPECT_EQ(loop.counters().demoted_pages, 0u);
  Tick(loop);
  EXPECT_EQ(loop.counters().promoted_pages, 0u);
  EXPECT_EQ(loop.counters().demoted_pages, 14 * kMiB / kPage);
  EXPECT_EQ(mem.free_bytes(kFmem), 18 * kMiB);
  EXPECT_THAT(loop.StatusJson(), ::testing::HasSubstr("\"demoted_pages\":3584"));
}

// Free FMEM a little under the headroom (above half of it) is the kernel's
// churn: nothing is demoted for it.
TEST_F(LoopTest, ASmallDipUnderTheHeadroomDemotesNothing) {
  config.planner.headroom_bytes = 14 * kMiB;  // 4 MiB free: above the 3.5 MiB mark
  PlacementLoop loop = MakeLoop(/*with_source=*/false);
  Tick(loop);
  Tick(loop);
  EXPECT_EQ(loop.counters().demoted_pages, 0u);
  EXPECT_EQ(mem.free_bytes(kFmem), 4 * kMiB);
}

TEST_F(LoopTest, ScanningSourceFirstPassesOverANewProcessAreDropped) {
  control.baseline = true;
  control.passes = 5;
  PlacementLoop loop = MakeLoop();
  Touch(kCold, kColdBytes);  // everything young since it was mapped
  Touch(kHot, kHotBytes);
  Tick(loop);
  EXPECT_EQ(loop.counters().samples_baseline, (kColdBytes + kHotBytes) / kPage);
  EXPECT_EQ(loop.counters().promoted_pages, 0u);
  control.passes = 6;  // the pass under way ends: still history
  Touch(kHot, kHotBytes);
  Tick(loop);
  EXPECT_EQ(loop.counters().samples_baseline, (kColdBytes + 2 * kHotBytes) / kPage);
  control.passes = 7;  // a full pass after the process appeared
  for (int t = 0; t < 4; ++t) {
    Touch(kHot, kHotBytes);
    Tick(loop);
  }
  EXPECT_EQ(loop.counters().samples_baseline, (kColdBytes + 2 * kHotBytes) / kPage);
  EXPECT_EQ(HotOnFmem(kHot, kHotBytes), kHotBytes);
}

// An accessed-bit pass spans several ticks and sees each page once.  Decay
// per tick would rank a hot range scanned three ticks ago below data
// touched once and seen young just now, and exchange the hot pages for it;
// an epoch waits for the pass, so the hot set stays.
TEST_F(LoopTest, AScanPassSpanningTicksIsOneEpoch) {
  control.baseline = true;
  PlacementLoop loop = MakeLoop();
  Tick(loop);          // the process appears: its first two passes are history
  control.passes = 2;  // ... and are over
  constexpr int kTicksPerPass = 4;
  const auto pass = [&](bool touch_cold_at_end) {
    for (int t = 0; t < kTicksPerPass; ++t) {
      if (t == 0) Touch(kHot, kHotBytes);  // the scan reaches the hot range
      if (t == kTicksPerPass - 1) {
        if (touch_cold_at_end) Touch(kCold, kColdBytes);  // touched once
        ++control.passes;                                 // the pass ends
      }
      Tick(loop);
    }
  };
  for (int p = 0; p < 4; ++p) pass(false);
  ASSERT_EQ(HotOnFmem(kHot, kHotBytes), kHotBytes);
  EXPECT_EQ(loop.counters().epochs, 5u);  // the baseline passes, then 4
  pass(true);
  EXPECT_EQ(HotOnFmem(kHot, kHotBytes), kHotBytes);
  for (int p = 0; p < 2; ++p) pass(false);
  EXPECT_EQ(HotOnFmem(kHot, kHotBytes), kHotBytes);
  EXPECT_EQ(loop.counters().epochs, 8u);
}

TEST_F(LoopTest, DataTouchedOnceStopsBeingHotOnceFaint) {
  for (double threshold : {4.0, 0.0}) {
    config.planner.min_hot_weight_per_mib = threshold;
    PlacementLoop loop = MakeLoop();
    Touch(kHot, kHotBytes);  // once (256 per MiB), then never again
    Tick(loop);
    EXPECT_EQ(loop.counters().hot_bytes, kHotBytes);
    // Seven halvings: 2 per MiB, below 4.
    for (int t = 0; t < 7; ++t) Tick(loop);
    if (threshold > 0) {
      EXPECT_EQ(loop.counters().hot_bytes, 0u);
    } else {
      EXPECT_EQ(loop.counters().hot_bytes, kHotBytes);  // faint but still "hot"
    }
  }
}

// Refuses moves to FMEM with -ENOMEM per page for the next `fail_calls`
// such calls; everything else goes to the fake.
class EnomemOnPromote final : public adapters::PageMoveSyscall {
 public:
  explicit EnomemOnPromote(FakePageMoveSyscall& inner) : inner_(inner) {}
  int fail_calls = 0;
  long MovePages(Pid pid, absl::Span<const placement::Vaddr> pages, absl::Span<const int> nodes,
                 absl::Span<int> status) override {
    if (!nodes.empty() && nodes[0] == kFmem && fail_calls > 0) {
      --fail_calls;
      for (size_t i = 0; i < pages.size(); ++i) status[i] = -ENOMEM;
      return static_cast<long>(pages.size());
    }
    return inner_.MovePages(pid, pages, nodes, status);
  }

 private:
  FakePageMoveSyscall& inner_;
};

TEST_F(LoopTest, EnomemGrowsTheHeadroomAndCleanTicksShrinkIt) {
  config.planner.enomem_step_bytes = 2 * kMiB;
  config.planner.enomem_max_extra_bytes = 3 * kMiB;
  EnomemOnPromote sys(mem);
  sys.fail_calls = 2;
  LoopDeps d;
  d.system = &system;
  d.source = &source;
  d.syscall = &sys;
  d.clock = &clock;
  PlacementLoop loop(config, d, kSelf);
  Touch(kCold, kColdBytes);
  Touch(kHot, kHotBytes);
  Tick(loop);  // promotions refused
  EXPECT_GT(loop.counters().no_mem, 0u);
  EXPECT_EQ(loop.counters().headroom_bytes, config.planner.headroom_bytes);
  Touch(kHot, kHotBytes);
  Tick(loop);  // refused again, planned with 2 MiB more headroom
  EXPECT_EQ(loop.counters().headroom_bytes, config.planner.headroom_bytes + 2 * kMiB);
  Touch(kHot, kHotBytes);
  Tick(loop);  // capped at 3 MiB extra; promotions go through now
  EXPECT_EQ(loop.counters().headroom_bytes, config.planner.headroom_bytes + 3 * kMiB);
  EXPECT_GE(mem.free_bytes(kFmem), config.planner.headroom_bytes + 3 * kMiB);
  for (int t = 0; t < 8; ++t) {
    Touch(kHot, kHotBytes);
    Tick(loop);
  }
  EXPECT_EQ(loop.counters().headroom_bytes, config.planner.headroom_bytes);  // shrunk back
  EXPECT_EQ(HotOnFmem(kHot, kHotBytes), kHotBytes);
  EXPECT_EQ(mem.capacity_refusals(), 0u);
}

TEST_F(LoopTest, AnExitingProcessIsDroppedWithoutAnError) {
  config.maps_refresh_ms = 3'600'000;
  PlacementLoop loop = MakeLoop();
  Touch(kHot, kHotBytes);
  Tick(loop);
  ASSERT_EQ(loop.tracker().process_count(), 1u);
  // Exiting: its maps read empty and move_pages says EINVAL (no mm).
  system.procs[kPid].vmas.clear();
  mem.FailCall(kPid, EINVAL);
  clock.Advance(20'000'000'000, 0);  // every cached residency is stale
  Touch(kHot, kHotBytes);
  Tick(loop);
  EXPECT_EQ(loop.tracker().process_count(), 0u);
  EXPECT_EQ(loop.counters().errors, 0u) << loop.counters().last_error;
}

// Queried pages over ticks [from, to) (move_pages calls without nodes).
uint64_t QueriedPages(const FakePageMoveSyscall& mem, size_t from_call) {
  uint64_t n = 0;
  for (size_t i = from_call; i < mem.calls().size(); ++i) {
    if (mem.calls()[i].dest_node == -1) n += mem.calls()[i].pages;
  }
  return n;
}

TEST_F(LoopTest, WindowedPlanningStillPromotesEverythingAndCachingCutsQueries) {
  config.planner.locate_window_pages = 256;  // 1 MiB windows: the hot range needs 4 ticks
  config.planner.locate_refresh_ticks = 8;
  PlacementLoop loop = MakeLoop();
  Touch(kCold, kColdBytes);
  for (int t = 0; t < 12; ++t) {
    Touch(kHot, kHotBytes);
    Tick(loop);
  }
  EXPECT_EQ(HotOnFmem(kHot, kHotBytes), kHotBytes);
  EXPECT_LE(max_fmem_used, kFmemCap - config.planner.headroom_bytes);
  EXPECT_EQ(mem.capacity_refusals(), 0u);
  // Steady state: nothing moves, so ranges are re-queried only every 8 ticks.
  const size_t c0 = mem.calls().size();
  for (int t = 0; t < 8; ++t) {
    Touch(kHot, kHotBytes);
    Tick(loop);
  }
  const uint64_t cached = QueriedPages(mem, c0);
  const uint64_t all_pages = (kColdBytes + kHotBytes) / kPage;
  EXPECT_GT(cached, 0u);
  EXPECT_LE(cached, 2 * all_pages);  // about one full locate in 8 ticks, not 8
}

}  // namespace
}  // namespace tiervm::hplaced
