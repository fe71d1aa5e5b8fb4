// AbitSampleSource against FakeHballoonDev and a FakeClock: samples from
// young pages, clearing, round-robin with a bounded revisit period, the scan
// rate, THP samples, exited processes, short output spans, errors.
#include "daemon/adapters/abit_source.h"

#include <limits>
#include <map>
#include <set>
#include <vector>

#include "daemon/adapters/fake_hballoon_dev.h"
#include "gtest/gtest.h"
#include "placement/clock.h"

namespace tiervm::adapters {
namespace {

using placement::Sample;
using placement::Vma;

constexpr uint64_t kPg = 4096;
constexpr uint64_t kHuge = 2ull << 20;

// The fake clock stands still between reads unless a test advances it:
// scans back to back are allowed here (the interval has its own test).
std::unique_ptr<AbitSampleSource> Make(FakeHballoonDev* dev, placement::FakeClock* clock,
                                       AbitSourceOptions o = {}) {
  o.min_scan_interval_ms = 0;
  auto s = AbitSampleSource::Create(dev, clock, o);
  EXPECT_TRUE(s.ok()) << s.status();
  return std::move(*s);
}

std::vector<Sample> ReadAll(AbitSampleSource& src, size_t chunk = 4096) {
  std::vector<Sample> out, buf(chunk);
  for (;;) {
    auto n = src.Read(absl::MakeSpan(buf));
    EXPECT_TRUE(n.ok()) << n.status();
    if (!n.ok() || *n == 0) break;
    out.insert(out.end(), buf.begin(), buf.begin() + static_cast<long>(*n));
    if (*n < chunk) break;
  }
  return out;
}

TEST(AbitSource, OptionsAndTargetsValidated) {
  FakeHballoonDev dev;
  placement::FakeClock clock;
  EXPECT_FALSE(AbitSampleSource::Create(nullptr, &clock, {}).ok());
  AbitSourceOptions o;
  o.max_pages_per_read = 100;
  EXPECT_TRUE(absl::IsInvalidArgument(AbitSampleSource::Create(&dev, &clock, o).status()));
  o.max_pages_per_read = 64;
  o.scan_rate_pages_per_s = -1;
  EXPECT_TRUE(absl::IsInvalidArgument(AbitSampleSource::Create(&dev, &clock, o).status()));
  o.scan_rate_pages_per_s = 0;
  o.max_pass_s = -1;
  EXPECT_TRUE(absl::IsInvalidArgument(AbitSampleSource::Create(&dev, &clock, o).status()));
  o.max_pass_s = std::numeric_limits<double>::infinity();
  EXPECT_TRUE(absl::IsInvalidArgument(AbitSampleSource::Create(&dev, &clock, o).status()));
  o.max_pass_s = 0;
  o.min_scan_interval_ms = -1;
  EXPECT_TRUE(absl::IsInvalidArgument(AbitSampleSource::Create(&dev, &clock, o).status()));

  auto src = Make(&dev, &clock);
  EXPECT_TRUE(absl::IsInvalidArgument(src->SetTargets(1, {{0x1001, 0x3000}})));
  EXPECT_TRUE(absl::IsInvalidArgument(src->SetTargets(1, {{0x3000, 0x3000}})));
  EXPECT_TRUE(absl::IsInvalidArgument(src->SetTargets(1, {{0x1000, 0x5000}, {0x4000, 0x8000}})));
  EXPECT_TRUE(absl::IsInvalidArgument(src->SetTargets(0, {{0x1000, 0x2000}})));
  EXPECT_TRUE(absl::IsInvalidArgument(src->SetTargets(1, {{0x1000, 1ull << 58}})));
  // Unsorted and adjacent: sorted and joined.
  ASSERT_TRUE(src->SetTargets(1, {{0x5000, 0x8000}, {0x1000, 0x5000}, {0x10000, 0x11000}}).ok());
  EXPECT_EQ(src->TargetPages(), 8u);
  ASSERT_TRUE(src->SetTargets(1, {}).ok());
  EXPECT_EQ(src->TargetPages(), 0u);
}

TEST(AbitSource, YoungPagesBecomeSamplesOnce) {
  FakeHballoonDev dev;
  placement::FakeClock clock;
  clock.Advance(5'000'000, 0);
  const uint64_t base = 0x7f0000000000;
  dev.Map(42, base, 1000 * kPg);
  AbitSourceOptions o;
  o.coalesce_bytes = kPg;  // every page its own sample
  auto src = Make(&dev, &clock, o);
  ASSERT_TRUE(src->SetTargets(42, {{base, base + 1000 * kPg}}).ok());
  std::set<uint64_t> hot = {base, base + 17 * kPg, base + 999 * kPg};
  for (uint64_t a : hot) dev.Touch(42, a + 123);
  std::vector<Sample> got = ReadAll(*src);
  ASSERT_EQ(got.size(), 3u);
  for (const Sample& s : got) {
    EXPECT_EQ(s.pid, 42);
    EXPECT_TRUE(hot.contains(s.vaddr)) << std::hex << s.vaddr;
    EXPECT_EQ(s.weight, 1u);
    EXPECT_EQ(s.kind, placement::AccessKind::kLoad);
    EXPECT_EQ(s.time_ns, 5'000'000);
  }
  EXPECT_TRUE(ReadAll(*src).empty()) << "bits were cleared";
  EXPECT_EQ(src->stats().young_pages, 3u);
  EXPECT_EQ(src->stats().present_pages, 2000u);  // two scans
  EXPECT_FALSE(src->Exhausted());
}

// By default young pages come per 256 KiB block: one sample at the first
// young page, weighing the block's young pages; a block stops at a VMA
// joined to the one before it (a tracker range may end there).
TEST(AbitSource, YoungPagesAreCoalescedPerBlock) {
  FakeHballoonDev dev;
  placement::FakeClock clock;
  const uint64_t base = 0x7f0000000000;  // 256 KiB aligned
  dev.Map(42, base, 1000 * kPg);
  auto src = Make(&dev, &clock);
  // Two adjacent VMAs, joined for scanning: the second starts at page 100.
  ASSERT_TRUE(src->SetTargets(42, {{base, base + 100 * kPg}, {base + 100 * kPg, base + 1000 * kPg}})
                  .ok());
  for (uint64_t page : {0u, 17u, 63u, 64u, 98u, 99u, 100u, 101u, 999u}) dev.Touch(42, base + page * kPg);
  std::map<uint64_t, uint32_t> got;  // first young page -> weight
  uint64_t weight = 0;
  for (const Sample& s : ReadAll(*src)) {
    EXPECT_EQ(got.count((s.vaddr - base) / kPg), 0u);
    got[(s.vaddr - base) / kPg] = s.weight;
    weight += s.weight;
  }
  const std::map<uint64_t, uint32_t> want = {{0, 3}, {64, 3}, {100, 2}, {999, 1}};
  EXPECT_EQ(got, want);
  EXPECT_EQ(weight, src->stats().young_pages);
  // Validated: a power of two from one page to one bitmap word.
  AbitSourceOptions o;
  for (uint64_t bad : {uint64_t{0}, uint64_t{2048}, 3 * kPg, 128 * kPg}) {
    o.coalesce_bytes = bad;
    EXPECT_TRUE(absl::IsInvalidArgument(AbitSampleSource::Create(&dev, &clock, o).status())) << bad;
  }
}

TEST(AbitSource, NoClearKeepsBits) {
  FakeHballoonDev dev;
  placement::FakeClock clock;
  dev.Map(1, 0x100000, 64 * kPg);
  dev.Touch(1, 0x100000);
  AbitSourceOptions o;
  o.no_clear = true;
  auto src = Make(&dev, &clock, o);
  ASSERT_TRUE(src->SetTargets(1, {{0x100000, 0x100000 + 64 * kPg}}).ok());
  EXPECT_EQ(ReadAll(*src).size(), 1u);
  EXPECT_EQ(ReadAll(*src).size(), 1u);
}

TEST(AbitSource, RoundRobinRevisitsEveryPageEachPass) {
  FakeHballoonDev dev;
  placement::FakeClock clock;
  AbitSourceOptions o;
  o.max_pages_per_read = 256;
  o.coalesce_bytes = kPg;
  auto src = Make(&dev, &clock, o);
  // Three processes, several areas each (more than 64 in one of them).
  std::map<int, std::vector<Vma>> layout;
  uint64_t total = 0;
  for (int pid : {10, 20, 30}) {
    const int areas = pid == 20 ? 80 : 3;
    for (int i = 0; i < areas; ++i) {
      const uint64_t start = 0x10000000ull * pid + static_cast<uint64_t>(i) * 0x100000;
      const uint64_t pages = 7 + static_cast<uint64_t>(i % 5) * 13;
      layout[pid].push_back({start, start + pages * kPg});
      dev.Map(pid, start, pages * kPg);
      total += pages;
    }
    ASSERT_TRUE(src->SetTargets(pid, layout[pid]).ok());
  }
  EXPECT_EQ(src->TargetPages(), total);
  const uint64_t reads_per_pass = (total + 255) / 256;
  for (int pass = 0; pass < 3; ++pass) {
    // Touch every page; within one pass each must be reported exactly once.
    for (auto& [pid, vmas] : layout) {
      for (const Vma& v : vmas) {
        for (uint64_t a = v.start; a < v.end; a += kPg) dev.Touch(pid, a);
      }
    }
    std::map<std::pair<int, uint64_t>, int> seen;
    for (uint64_t r = 0; r < reads_per_pass; ++r) {
      for (const Sample& s : ReadAll(*src)) ++seen[{s.pid, s.vaddr}];
    }
    EXPECT_EQ(seen.size(), total) << "pass " << pass;
    for (auto& [k, n] : seen) EXPECT_EQ(n, 1);
  }
  EXPECT_GE(src->stats().passes, 2u);
}

TEST(AbitSource, ScanRateBoundsPagesPerSecond) {
  FakeHballoonDev dev;
  placement::FakeClock clock;
  dev.Map(5, 0x1000000, 100000 * kPg);
  AbitSourceOptions o;
  o.max_pages_per_read = 64 * 1024;
  o.scan_rate_pages_per_s = 1000;
  auto src = Make(&dev, &clock, o);
  ASSERT_TRUE(src->SetTargets(5, {{0x1000000, 0x1000000 + 100000 * kPg}}).ok());
  ReadAll(*src);  // starts the clock
  EXPECT_EQ(dev.scanned_pages(), 0u);
  for (int i = 0; i < 10; ++i) {
    clock.Advance(250'000'000, 0);  // 0.25 s -> 250 pages
    ReadAll(*src);
  }
  EXPECT_EQ(dev.scanned_pages(), 2500u);
  src->SetScanRate(4000);
  clock.Advance(1'000'000'000, 0);
  ReadAll(*src);
  EXPECT_EQ(dev.scanned_pages(), 6500u);
  // A long pause does not burst beyond one read's maximum.
  clock.Advance(1'000'000'000'000, 0);
  ReadAll(*src);
  EXPECT_EQ(dev.scanned_pages(), 6500u + 64 * 1024);
}

// The pass floor: at the slowest scan rate the budget allows, and with
// reads seconds apart (the daemon's duty cycle), every page is still
// scanned once per max_pass_s -- past max_pages_per_read if need be, never
// more than one pass per read.
TEST(AbitSource, PassFloorCoversEveryPageWithinMaxPassS) {
  FakeHballoonDev dev;
  placement::FakeClock clock;
  constexpr uint64_t kPages = 200000;
  dev.Map(5, 0x1000000, kPages * kPg);
  AbitSourceOptions o;
  o.max_pages_per_read = 64 * 1024;
  o.scan_rate_pages_per_s = 100;
  o.max_pass_s = 10;
  auto src = Make(&dev, &clock, o);
  ASSERT_TRUE(src->SetTargets(5, {{0x1000000, 0x1000000 + kPages * kPg}}).ok());
  ReadAll(*src);  // starts the clock
  const uint64_t start = dev.scanned_pages();
  // Reads 4 s apart: 100 pages/s would scan 400 pages; the floor 80,000.
  for (int i = 0; i < 5; ++i) {
    clock.Advance(4'000'000'000, 0);
    ReadAll(*src);
  }
  EXPECT_EQ(dev.scanned_pages() - start, 5 * kPages * 4 / 10);
  EXPECT_EQ(src->stats().floor_reads, 5u);
  EXPECT_GE(src->stats().passes, 1u);
  // A pause of minutes: one pass at most.
  clock.Advance(300'000'000'000, 0);
  const uint64_t before = dev.scanned_pages();
  ReadAll(*src);
  EXPECT_EQ(dev.scanned_pages() - before, kPages);
  // Where the rate already covers the floor, the floor does nothing.
  src->SetScanRate(50000);
  ReadAll(*src);  // spends the carry
  const uint64_t floor_reads = src->stats().floor_reads;
  clock.Advance(1'000'000'000, 0);
  const uint64_t b2 = dev.scanned_pages();
  ReadAll(*src);
  EXPECT_EQ(dev.scanned_pages() - b2, 50000u);
  EXPECT_EQ(src->stats().floor_reads, floor_reads);
}

// A clock that moves on a little at every reading, as a real one does.
class CreepingClock final : public placement::Clock {
 public:
  int64_t MonotonicNs() const override { return now_ns_ += 20'000; }
  int64_t OwnCpuNs() const override { return 0; }
  void Advance(int64_t ns) { now_ns_ += ns; }

 private:
  mutable int64_t now_ns_ = 0;
};

// The daemon reads until no samples come.  With the workload keeping its
// pages young between every two reads, and the clock creeping on, one read
// loop must still be one scan (each one flushes every CPU's TLB), at the
// scan rate and at the pass floor alike.
TEST(AbitSource, ReadingUntilNothingComesIsOneScan) {
  for (const bool floor : {false, true}) {
    SCOPED_TRACE(floor ? "pass floor" : "scan rate");
    FakeHballoonDev dev;
    CreepingClock clock;
    constexpr uint64_t kPages = 16384;
    constexpr uint64_t kBase = 0x1000000;
    dev.Map(5, kBase, kPages * kPg);
    AbitSourceOptions o;
    o.scan_rate_pages_per_s = floor ? 100 : 50000;
    o.max_pass_s = floor ? 2 : 0;
    auto s = AbitSampleSource::Create(&dev, &clock, o);
    ASSERT_TRUE(s.ok()) << s.status();
    auto& src = **s;
    ASSERT_TRUE(src.SetTargets(5, {{kBase, kBase + kPages * kPg}}).ok());
    std::vector<Sample> buf(256);
    (void)src.Read(absl::MakeSpan(buf));  // starts the clock
    for (int tick = 0; tick < 5; ++tick) {
      clock.Advance(1'000'000'000);
      const uint64_t calls0 = dev.scan_calls();
      for (int i = 0; i < 10000; ++i) {
        for (uint64_t p = 0; p < kPages; p += 7) dev.Touch(5, kBase + p * kPg);
        auto n = src.Read(absl::MakeSpan(buf));
        ASSERT_TRUE(n.ok()) << n.status();
        if (*n == 0) break;
      }
      // One scan: one ioctl, two where it wraps around the end of a pass.
      EXPECT_LE(dev.scan_calls() - calls0, 2u) << "tick " << tick;
    }
    // 50,000 pages/s, or the floor's 16384 / 2 s, over five 1 s ticks.
    EXPECT_NEAR(static_cast<double>(dev.scanned_pages()), floor ? 5 * 8192.0 : 5 * 16384.0,
                floor ? 64.0 : 1.0);
  }
}

TEST(AbitSource, YoungThpIsEightEvenSamples) {
  FakeHballoonDev dev;
  placement::FakeClock clock;
  const uint64_t h = 0x40000000;
  dev.MapHuge(3, h);
  dev.MapHuge(3, h + kHuge);
  dev.Touch(3, h + 100);
  auto src = Make(&dev, &clock);
  ASSERT_TRUE(src->SetTargets(3, {{h, h + 2 * kHuge}}).ok());
  std::vector<Sample> got = ReadAll(*src);
  ASSERT_EQ(got.size(), 8u);
  uint64_t weight = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].vaddr, h + i * (kHuge / 8));
    EXPECT_EQ(got[i].weight, 64u);
    weight += got[i].weight;
  }
  EXPECT_EQ(weight, 512u);
  EXPECT_EQ(src->stats().young_huge_pages, 512u);
  // A target covering only the upper 1 MiB of a THP: 4 samples, 256 pages.
  dev.Touch(3, h + kHuge);
  ASSERT_TRUE(src->SetTargets(3, {{h + kHuge + kHuge / 2, h + 2 * kHuge}}).ok());
  got = ReadAll(*src);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].vaddr, h + kHuge + kHuge / 2);
  weight = 0;
  for (const Sample& s : got) weight += s.weight;
  EXPECT_EQ(weight, 256u);
}

TEST(AbitSource, ShortOutputLosesNothing) {
  FakeHballoonDev dev;
  placement::FakeClock clock;
  dev.Map(8, 0x200000, 500 * kPg);
  for (uint64_t i = 0; i < 500; ++i) dev.Touch(8, 0x200000 + i * kPg);
  AbitSourceOptions o;
  o.coalesce_bytes = kPg;
  auto src = Make(&dev, &clock, o);
  ASSERT_TRUE(src->SetTargets(8, {{0x200000, 0x200000 + 500 * kPg}}).ok());
  std::set<uint64_t> seen;
  std::vector<Sample> buf(7);
  size_t delivered = 0;
  while (delivered < 500) {
    auto n = src->Read(absl::MakeSpan(buf));
    ASSERT_TRUE(n.ok());
    ASSERT_GT(*n, 0u);
    for (size_t k = 0; k < *n; ++k) seen.insert(buf[k].vaddr);
    delivered += *n;
  }
  EXPECT_EQ(delivered, 500u);
  EXPECT_EQ(seen.size(), 500u);
  EXPECT_EQ(dev.scan_calls(), 1u) << "no new scan while samples are pending";
}

TEST(AbitSource, ExitedProcessIsDroppedOthersContinue) {
  FakeHballoonDev dev;
  placement::FakeClock clock;
  dev.Map(1, 0x100000, 10 * kPg);
  dev.Map(2, 0x100000, 10 * kPg);
  dev.Touch(2, 0x100000);
  auto src = Make(&dev, &clock);
  ASSERT_TRUE(src->SetTargets(1, {{0x100000, 0x100000 + 10 * kPg}}).ok());
  ASSERT_TRUE(src->SetTargets(2, {{0x100000, 0x100000 + 10 * kPg}}).ok());
  dev.Exit(1);
  std::vector<Sample> got = ReadAll(*src);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].pid, 2);
  EXPECT_EQ(src->TakeExitedPids(), std::vector<placement::Pid>{1});
  EXPECT_TRUE(src->TakeExitedPids().empty());
  EXPECT_EQ(src->TargetPages(), 10u);
  EXPECT_EQ(src->stats().exited, 1u);
}

TEST(AbitSource, InterruptedThenBroken) {
  FakeHballoonDev dev;
  placement::FakeClock clock;
  dev.Map(1, 0x100000, 10 * kPg);
  dev.Touch(1, 0x100000);
  auto src = Make(&dev, &clock);
  ASSERT_TRUE(src->SetTargets(1, {{0x100000, 0x100000 + 10 * kPg}}).ok());
  dev.inject_errors.push_back(absl::AbortedError("EINTR"));
  std::vector<Sample> buf(16);
  auto n = src->Read(absl::MakeSpan(buf));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
  n = src->Read(absl::MakeSpan(buf));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1u);
  dev.inject_errors.push_back(absl::UnimplementedError("ENOTTY"));
  EXPECT_TRUE(absl::IsUnimplemented(src->Read(absl::MakeSpan(buf)).status()));
  EXPECT_TRUE(absl::IsUnimplemented(src->Read(absl::MakeSpan(buf)).status())) << "stays broken";
}

TEST(AbitSource, EmptyTargetsYieldNothing) {
  FakeHballoonDev dev;
  placement::FakeClock clock;
  auto src = Make(&dev, &clock);
  std::vector<Sample> buf(4);
  auto n = src->Read(absl::MakeSpan(buf));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
  EXPECT_EQ(dev.scan_calls(), 0u);
}

}  // namespace
}  // namespace tiervm::adapters
