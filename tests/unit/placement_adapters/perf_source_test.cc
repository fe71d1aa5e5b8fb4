// PerfSampleSource with in-memory rings (FakePerfEventOps): event choice,
// precise_ip fallback, clean failure without a PMU, ring draining with
// data_head/data_tail, wrap-around, a corrupt ring, SetSamplePeriod.  And
// the real libpfm4/perf_event_open path on this machine: without a PMU it
// must fail with a clear message.
#include "daemon/adapters/perf_source.h"

#include <vector>

#include "fake_perf.h"
#include "gtest/gtest.h"
#include "perf_synth.h"

namespace tiervm::adapters {
namespace {

using placement::AccessKind;
using placement::Sample;
using testing::AppendLost;
using testing::AppendOther;
using testing::AppendSample;
using testing::AppendThrottle;
using testing::FakePerfEncoder;
using testing::FakePerfEventOps;

PerfSourceOptions SmallRings() {
  PerfSourceOptions o;
  o.ring_data_pages = 1;
  return o;
}

std::vector<Sample> ReadAll(PerfSampleSource& src) {
  std::vector<Sample> out, buf(1000);
  for (;;) {
    auto n = src.Read(absl::MakeSpan(buf));
    EXPECT_TRUE(n.ok());
    if (!n.ok() || *n == 0) break;
    out.insert(out.end(), buf.begin(), buf.begin() + static_cast<long>(*n));
  }
  return out;
}

TEST(PerfSource, NoKnownEventFailsCleanly) {
  FakePerfEventOps ops;
  FakePerfEncoder enc;  // knows nothing: no PMU
  auto src = PerfSampleSource::Open(&ops, &enc, {});
  ASSERT_FALSE(src.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(src.status())) << src.status();
  EXPECT_NE(src.status().message().find("no usable PMU"), absl::string_view::npos);
  EXPECT_TRUE(ops.fds.empty());
}

TEST(PerfSource, OpenFailureClosesEverything) {
  FakePerfEventOps ops;
  FakePerfEncoder enc;
  enc.known = {"MEM_LOAD_RETIRED:L3_MISS"};
  ops.max_precise = -1;
  ops.open_errno = ENOENT;
  auto src = PerfSampleSource::Open(&ops, &enc, {});
  ASSERT_FALSE(src.ok());
  EXPECT_NE(src.status().message().find("no usable PMU"), absl::string_view::npos) << src.status();
  EXPECT_EQ(ops.closed.size(), ops.fds.size());
}

TEST(PerfSource, ChoosesFirstKnownEventsAndFallsBackInPrecision) {
  FakePerfEventOps ops;
  ops.max_precise = 1;
  FakePerfEncoder enc;
  enc.known = {"MEM_LOAD_UOPS_RETIRED:L3_MISS", "MEM_INST_RETIRED:ALL_STORES"};
  auto src = PerfSampleSource::Open(&ops, &enc, SmallRings());
  ASSERT_TRUE(src.ok()) << src.status();
  ASSERT_EQ(ops.fds.size(), 4u);  // 2 events x 2 CPUs
  for (auto& [fd, o] : ops.fds) {
    EXPECT_EQ(o.attr.precise_ip, 1u);
    EXPECT_EQ(o.attr.sample_type, PerfSampleSource::kSampleType);
    EXPECT_EQ(o.attr.sample_period, 4093u);
    EXPECT_TRUE(o.attr.exclude_kernel);
    EXPECT_TRUE(o.enabled);
  }
  EXPECT_NE((*src)->description().find("MEM_LOAD_UOPS_RETIRED:L3_MISS (precise_ip 1)"),
            std::string::npos)
      << (*src)->description();
  ASSERT_TRUE((*src)->SetSamplePeriod(8191).ok());
  for (auto& [fd, o] : ops.fds) EXPECT_EQ(o.periods, std::vector<uint64_t>{8191});
  EXPECT_TRUE(absl::IsInvalidArgument((*src)->SetSamplePeriod(0)));
  src->reset();
  EXPECT_EQ(ops.closed.size(), 4u);
}

TEST(PerfSource, DrainsRingsWithKindsAndWrap) {
  FakePerfEventOps ops;
  ops.cpus = {0};
  FakePerfEncoder enc;
  enc.known = {"MEM_LOAD_RETIRED:L3_MISS", "MEM_INST_RETIRED:ALL_STORES"};
  auto src = PerfSampleSource::Open(&ops, &enc, SmallRings());
  ASSERT_TRUE(src.ok()) << src.status();
  const int load_fd = ops.fds.begin()->first, store_fd = std::next(ops.fds.begin())->first;
  const size_t ring_bytes = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  // Enough records to wrap the 4 KiB ring several times, drained in between.
  uint64_t expected = 0;
  for (int round = 0; round < 10; ++round) {
    std::vector<uint8_t> b;
    for (int i = 0; i < 30; ++i) {
      AppendSample(b, 1000 + i, 1000 + i, round * 100 + i, 0x7f0000000000 + i * 4096, 50);
    }
    AppendSample(b, 0, 0, 1, 0x1000, 1);    // pid 0: dropped
    AppendSample(b, 5, 5, 1, 0, 1);         // no address: dropped
    AppendLost(b, 1, 4);
    AppendThrottle(b, 9, true);
    AppendThrottle(b, 10, false);
    AppendOther(b, PERF_RECORD_MMAP2, 40);
    ASSERT_LT(b.size(), ring_bytes);
    ops.Publish(load_fd, b);
    std::vector<uint8_t> s;
    AppendSample(s, 77, 77, 5, 0x600000 + round * 4096, 1);
    ops.Publish(store_fd, s);
    std::vector<Sample> got = ReadAll(**src);
    ASSERT_EQ(got.size(), 31u) << round;
    for (int i = 0; i < 30; ++i) {
      EXPECT_EQ(got[i].pid, 1000 + i);
      EXPECT_EQ(got[i].kind, AccessKind::kLoad);
      EXPECT_EQ(got[i].weight, 1u);
      EXPECT_EQ(got[i].time_ns, round * 100 + i);
    }
    EXPECT_EQ(got[30].kind, AccessKind::kStore);
    EXPECT_EQ(got[30].vaddr, 0x600000u + round * 4096);
    expected += b.size();
    EXPECT_EQ(ops.Tail(load_fd), expected) << "data_tail released up to data_head";
  }
  const PerfSourceStats& st = (*src)->stats();
  EXPECT_EQ(st.lost, 40u);
  EXPECT_EQ(st.throttles, 10u);
  EXPECT_EQ(st.unthrottles, 10u);
  EXPECT_EQ(st.other_records, 10u);
  EXPECT_EQ(st.dropped_no_addr, 20u);
  EXPECT_EQ(st.corrupt_rings, 0u);
}

TEST(PerfSource, CorruptRingIsSkippedAndReadingGoesOn) {
  FakePerfEventOps ops;
  ops.cpus = {0, 1};
  FakePerfEncoder enc;
  enc.known = {"MEM_LOAD_RETIRED:L3_MISS"};
  PerfSourceOptions o = SmallRings();
  o.stores = false;
  auto src = PerfSampleSource::Open(&ops, &enc, o);
  ASSERT_TRUE(src.ok());
  const int fd0 = ops.fds.begin()->first, fd1 = std::next(ops.fds.begin())->first;
  std::vector<uint8_t> bad;
  AppendSample(bad, 1, 1, 1, 0x1000, 1);
  testing::PutHeader(bad, PERF_RECORD_SAMPLE, 0);  // size 0
  bad.resize(bad.size() + 16);
  ops.Publish(fd0, bad);
  std::vector<uint8_t> good;
  AppendSample(good, 2, 2, 2, 0x2000, 1);
  ops.Publish(fd1, good);
  std::vector<Sample> got = ReadAll(**src);
  ASSERT_EQ(got.size(), 2u);  // the one before the corruption, and cpu 1's
  EXPECT_EQ((*src)->stats().corrupt_rings, 1u);
  EXPECT_EQ((*src)->stats().dropped_bytes, 24u);
  EXPECT_EQ(ops.Tail(fd0), bad.size());
  // The ring works again afterwards.
  ops.Publish(fd0, good);
  EXPECT_EQ(ReadAll(**src).size(), 1u);
}

TEST(PerfSource, BadOptions) {
  FakePerfEventOps ops;
  FakePerfEncoder enc;
  enc.known = {"MEM_LOAD_RETIRED:L3_MISS"};
  PerfSourceOptions o;
  o.ring_data_pages = 3;
  EXPECT_TRUE(absl::IsInvalidArgument(PerfSampleSource::Open(&ops, &enc, o).status()));
  o = {};
  o.sample_period = 0;
  EXPECT_TRUE(absl::IsInvalidArgument(PerfSampleSource::Open(&ops, &enc, o).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(PerfSampleSource::Open(nullptr, &enc, {}).status()));
}

// The real thing on this machine.  Build/CI machines have no PMU (and VMs
// under TCG never do): Open must fail with a clear message, not crash.  On
// a machine with PEBS it must open and read without error.
TEST(PerfSourceReal, OpensOrFailsClearly) {
  LinuxPerfEventOps ops;
  LibpfmEncoder enc;
  auto src = PerfSampleSource::Open(&ops, &enc, {});
  if (!src.ok()) {
    EXPECT_NE(src.status().message().find("no usable PMU"), absl::string_view::npos)
        << src.status();
    return;
  }
  std::vector<Sample> buf(64);
  EXPECT_TRUE((*src)->Read(absl::MakeSpan(buf)).ok());
}

TEST(PerfSourceReal, OnlineCpus) {
  LinuxPerfEventOps ops;
  auto cpus = ops.OnlineCpus();
  ASSERT_TRUE(cpus.ok()) << cpus.status();
  EXPECT_FALSE(cpus->empty());
}

}  // namespace
}  // namespace tiervm::adapters
