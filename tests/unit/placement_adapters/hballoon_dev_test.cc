// HballoonDev: the user-space argument rules of HBALLOON_IOC_SCAN_YOUNG,
// errno mapping, the real adapter against a device without the ioctls
// (/dev/null: ENOTTY), and the fake's scan semantics (budget cut at 64-page
// multiples, resume, bitmaps, THP, NO_CLEAR, ESRCH, injected errors).
#include "daemon/adapters/hballoon_dev.h"

#include <errno.h>

#include <vector>

#include "daemon/adapters/fake_hballoon_dev.h"
#include "gtest/gtest.h"

namespace tiervm::adapters {
namespace {

constexpr uint64_t kPg = 4096;
constexpr uint64_t kLimit = (1ull << 47) - 4096;

hballoon_scan Scan(int pid, size_t n) {
  hballoon_scan s{};
  s.pid = pid;
  s.num_ranges = static_cast<uint32_t>(n);
  return s;
}

hballoon_scan_range Range(uint64_t start, uint64_t len) {
  hballoon_scan_range r{};
  r.start = start;
  r.len = len;
  return r;
}

TEST(ValidateScanArgs, AcceptsGoodAndRejectsEachRule) {
  std::vector<hballoon_scan_range> rs = {Range(0x10000, 16 * kPg), Range(0x20000, kPg)};
  EXPECT_TRUE(ValidateScanArgs(Scan(1, 2), rs, kLimit).ok());
  // Adjacent is fine.
  std::vector<hballoon_scan_range> adj = {Range(0x10000, kPg), Range(0x11000, kPg)};
  EXPECT_TRUE(ValidateScanArgs(Scan(1, 2), adj, kLimit).ok());

  auto bad = [&](hballoon_scan s, std::vector<hballoon_scan_range> r) {
    absl::Status st = ValidateScanArgs(s, r, kLimit);
    EXPECT_TRUE(absl::IsInvalidArgument(st)) << st;
  };
  hballoon_scan s = Scan(1, 2);
  s.flags = 2;
  bad(s, rs);
  s = Scan(1, 2);
  s.reserved = 1;
  bad(s, rs);
  bad(Scan(0, 2), rs);
  bad(Scan(-3, 2), rs);
  bad(Scan(1, 3), rs);  // count mismatch
  bad(Scan(1, 0), {});
  bad(Scan(1, HBALLOON_SCAN_MAX_RANGES + 1),
      std::vector<hballoon_scan_range>(HBALLOON_SCAN_MAX_RANGES + 1, Range(0x1000, kPg)));
  s = Scan(1, 2);
  s.max_pages = 100;
  bad(s, rs);
  s.max_pages = HBALLOON_SCAN_MAX_PAGES + 64;
  bad(s, rs);
  bad(Scan(1, 1), {Range(0x10001, kPg)});
  bad(Scan(1, 1), {Range(0x10000, 100)});
  bad(Scan(1, 1), {Range(0x10000, 0)});
  bad(Scan(1, 1), {Range(~0ull - 4095, 2 * kPg)});  // overflow
  bad(Scan(1, 1), {Range(kLimit - kPg, 2 * kPg)});
  bad(Scan(1, 2), {Range(0x20000, kPg), Range(0x10000, kPg)});        // descending
  bad(Scan(1, 2), {Range(0x10000, 4 * kPg), Range(0x12000, kPg)});    // overlap
  hballoon_scan_range rr = Range(0x10000, kPg);
  rr.reserved = 1;
  bad(Scan(1, 1), {rr});
}

TEST(HballoonErrno, Mapping) {
  EXPECT_TRUE(absl::IsInvalidArgument(HballoonErrnoToStatus(EINVAL, "x")));
  EXPECT_TRUE(absl::IsInvalidArgument(HballoonErrnoToStatus(EFAULT, "x")));
  EXPECT_TRUE(absl::IsNotFound(HballoonErrnoToStatus(ESRCH, "x")));
  EXPECT_TRUE(absl::IsUnavailable(HballoonErrnoToStatus(EIO, "x")));
  EXPECT_TRUE(absl::IsUnavailable(HballoonErrnoToStatus(ENODEV, "x")));
  EXPECT_TRUE(absl::IsDeadlineExceeded(HballoonErrnoToStatus(ETIMEDOUT, "x")));
  EXPECT_TRUE(absl::IsUnimplemented(HballoonErrnoToStatus(ENOTTY, "x")));
  EXPECT_TRUE(absl::IsAborted(HballoonErrnoToStatus(EINTR, "x")));
  EXPECT_TRUE(absl::IsPermissionDenied(HballoonErrnoToStatus(EPERM, "x")));
  absl::Status s = HballoonErrnoToStatus(E2BIG, "HBALLOON_IOC_X");
  EXPECT_TRUE(absl::IsInternal(s));
  EXPECT_NE(s.message().find("HBALLOON_IOC_X"), absl::string_view::npos);
  EXPECT_NE(s.message().find("errno 7"), absl::string_view::npos);
}

TEST(LinuxHballoonDev, MissingDeviceAndForeignDevice) {
  EXPECT_FALSE(LinuxHballoonDev::Open("/nonexistent/hballoon").ok());
  auto dev = LinuxHballoonDev::Open("/dev/null");
  ASSERT_TRUE(dev.ok()) << dev.status();
  EXPECT_TRUE(absl::IsUnimplemented((*dev)->GetInfo().status()));
  std::vector<hballoon_scan_range> rs = {Range(0x10000, kPg)};
  hballoon_scan s = Scan(1, 1);
  EXPECT_TRUE(absl::IsUnimplemented((*dev)->ScanYoung(s, absl::MakeSpan(rs))));
  // Bad arguments never reach the kernel.
  s.flags = 8;
  EXPECT_TRUE(absl::IsInvalidArgument((*dev)->ScanYoung(s, absl::MakeSpan(rs))));
  virtio_hballoon_stat st{};
  EXPECT_TRUE(absl::IsUnimplemented((*dev)->SubmitStats({&st, 1}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument((*dev)->SubmitStats({}).status()));
}

struct Bitmaps {
  explicit Bitmaps(uint64_t len) : young(ScanBitmapWords(len), ~0ull), huge(ScanBitmapWords(len), ~0ull) {}
  bool Young(uint64_t i) const { return (young[i / 64] >> (i % 64)) & 1; }
  bool Huge(uint64_t i) const { return (huge[i / 64] >> (i % 64)) & 1; }
  std::vector<uint64_t> young, huge;
};

TEST(FakeHballoonDev, ScanBitmapsClearAndNoClear) {
  FakeHballoonDev dev;
  const uint64_t base = 0x40000000;
  dev.Map(7, base, 100 * kPg);
  dev.Touch(7, base + 3 * kPg);
  dev.Touch(7, base + 99 * kPg + 5);
  Bitmaps b(100 * kPg);
  std::vector<hballoon_scan_range> rs = {Range(base, 100 * kPg)};
  rs[0].bitmap_ptr = reinterpret_cast<uintptr_t>(b.young.data());
  rs[0].huge_ptr = reinterpret_cast<uintptr_t>(b.huge.data());
  hballoon_scan s = Scan(7, 1);
  s.flags = HBALLOON_SCAN_F_NO_CLEAR;
  ASSERT_TRUE(dev.ScanYoung(s, absl::MakeSpan(rs)).ok());
  EXPECT_EQ(rs[0].present_pages, 100u);
  EXPECT_EQ(rs[0].young_pages, 2u);
  EXPECT_EQ(rs[0].huge_pages, 0u);
  EXPECT_EQ(s.ranges_done, 1u);
  EXPECT_EQ(s.next_addr, 0u);
  for (uint64_t i = 0; i < 128; ++i) {
    EXPECT_EQ(b.Young(i), i == 3 || i == 99) << i;  // bits past the end are zero
    EXPECT_FALSE(b.Huge(i));
  }
  s = Scan(7, 1);
  ASSERT_TRUE(dev.ScanYoung(s, absl::MakeSpan(rs)).ok());
  EXPECT_EQ(rs[0].young_pages, 2u) << "NO_CLEAR kept the bits";
  ASSERT_TRUE(dev.ScanYoung(s, absl::MakeSpan(rs)).ok());
  EXPECT_EQ(rs[0].young_pages, 0u) << "the previous scan cleared them";
}

TEST(FakeHballoonDev, BudgetCutsAt64PagesAndResumes) {
  FakeHballoonDev dev;
  const uint64_t a = 0x10000000, b = 0x20000000;
  dev.Map(3, a, 100 * kPg);
  dev.Map(3, b, 300 * kPg);
  for (uint64_t i = 0; i < 300; i += 10) dev.Touch(3, b + i * kPg);
  std::vector<hballoon_scan_range> rs = {Range(a, 100 * kPg), Range(b, 300 * kPg)};
  hballoon_scan s = Scan(3, 2);
  s.max_pages = 192;  // 100 pages of a, then 92 left: cut b at 64
  ASSERT_TRUE(dev.ScanYoung(s, absl::MakeSpan(rs)).ok());
  EXPECT_EQ(s.ranges_done, 1u);
  EXPECT_EQ(s.scanned_pages, 164u);
  EXPECT_EQ(s.next_addr, b + 64 * kPg);
  EXPECT_EQ(rs[1].young_pages, 7u);  // pages 0, 10, ..., 60
  // Budget smaller than 64 left for the next range: it is not begun.
  rs = {Range(a, 100 * kPg), Range(b, 300 * kPg)};
  s = Scan(3, 2);
  s.max_pages = 128;  // 28 left after a: less than one chunk
  ASSERT_TRUE(dev.ScanYoung(s, absl::MakeSpan(rs)).ok());
  EXPECT_EQ(s.ranges_done, 1u);
  EXPECT_EQ(s.next_addr, b);
  EXPECT_EQ(s.scanned_pages, 100u);
}

TEST(FakeHballoonDev, HugePagesAndErrors) {
  FakeHballoonDev dev;
  const uint64_t h = 0x40000000;
  dev.MapHuge(9, h);
  dev.Touch(9, h + 12345);
  Bitmaps b(256 * kPg);
  std::vector<hballoon_scan_range> rs = {Range(h + 256 * kPg, 256 * kPg)};
  rs[0].bitmap_ptr = reinterpret_cast<uintptr_t>(b.young.data());
  rs[0].huge_ptr = reinterpret_cast<uintptr_t>(b.huge.data());
  hballoon_scan s = Scan(9, 1);
  ASSERT_TRUE(dev.ScanYoung(s, absl::MakeSpan(rs)).ok());
  EXPECT_EQ(rs[0].young_pages, 256u);
  EXPECT_EQ(rs[0].huge_pages, 256u);
  EXPECT_TRUE(b.Young(0) && b.Young(255) && b.Huge(128));
  EXPECT_FALSE(dev.IsYoung(9, h)) << "one accessed bit per PMD: cleared for the whole THP";

  s = Scan(10, 1);
  EXPECT_TRUE(absl::IsNotFound(dev.ScanYoung(s, absl::MakeSpan(rs))));
  dev.inject_errors.push_back(absl::UnavailableError("gone"));
  s = Scan(9, 1);
  EXPECT_TRUE(absl::IsUnavailable(dev.ScanYoung(s, absl::MakeSpan(rs))));
  EXPECT_TRUE(dev.ScanYoung(s, absl::MakeSpan(rs)).ok());

  virtio_hballoon_stat st{};
  auto seq = dev.SubmitStats({&st, 1});
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(*seq, 1u);
  EXPECT_EQ(dev.submitted.size(), 1u);
  dev.info.num_nodes = 2;
  EXPECT_EQ(dev.GetInfo()->num_nodes, 2u);
}

}  // namespace
}  // namespace tiervm::adapters
