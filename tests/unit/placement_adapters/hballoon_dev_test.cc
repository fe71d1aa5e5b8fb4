// HballoonDev: the user-space argument rules of HBALLOON_IOC_SCAN_YOUNG and
// HBALLOON_IOC_LOCATE, errno mapping, the real adapter against a device
// without the ioctls (/dev/null: ENOTTY), and the fake's scan and locate
// semantics (budget cut at 64-page multiples, resume, bitmaps, THP,
// NO_CLEAR, zero page, nodes, moves, ESRCH, injected errors).
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
  // SCAN_YOUNG has no node: the field must be zero.
  s = Scan(1, 2);
  s.node = 1;
  bad(s, rs);
  s.node = -1;
  bad(s, rs);
}

TEST(ValidateLocateArgs, AcceptsGoodAndRejectsEachRule) {
  std::vector<hballoon_scan_range> rs = {Range(0x10000, 16 * kPg), Range(0x20000, kPg)};
  hballoon_scan s = Scan(1, 2);
  EXPECT_TRUE(ValidateLocateArgs(s, rs, kLimit).ok());
  s.node = 5;  // any node >= 0: online-ness is the kernel's to check
  EXPECT_TRUE(ValidateLocateArgs(s, rs, kLimit).ok());

  auto bad = [&](hballoon_scan sc, std::vector<hballoon_scan_range> r) {
    absl::Status st = ValidateLocateArgs(sc, r, kLimit);
    EXPECT_TRUE(absl::IsInvalidArgument(st)) << st;
    EXPECT_NE(st.message().find("locate"), absl::string_view::npos) << st;
  };
  s = Scan(1, 2);
  s.flags = HBALLOON_SCAN_F_NO_CLEAR;  // no flags at all for LOCATE
  bad(s, rs);
  s = Scan(1, 2);
  s.reserved = 1;
  bad(s, rs);
  s = Scan(1, 2);
  s.node = -1;
  bad(s, rs);
  bad(Scan(0, 2), rs);
  bad(Scan(1, 3), rs);
  bad(Scan(1, 0), {});
  s = Scan(1, 2);
  s.max_pages = 65;
  bad(s, rs);
  bad(Scan(1, 1), {Range(0x10001, kPg)});
  bad(Scan(1, 1), {Range(0x10000, 0)});
  bad(Scan(1, 1), {Range(kLimit - kPg, 2 * kPg)});
  bad(Scan(1, 2), {Range(0x10000, 4 * kPg), Range(0x12000, kPg)});
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
  // LOCATE on a module without it: ENOTTY -> Unimplemented, named.
  s = Scan(1, 1);
  s.node = 1;
  absl::Status ls = (*dev)->Locate(s, absl::MakeSpan(rs));
  EXPECT_TRUE(absl::IsUnimplemented(ls)) << ls;
  EXPECT_NE(ls.message().find("HBALLOON_IOC_LOCATE"), absl::string_view::npos) << ls;
  s.node = -2;
  EXPECT_TRUE(absl::IsInvalidArgument((*dev)->Locate(s, absl::MakeSpan(rs))));
  s = Scan(1, 1);
  s.flags = HBALLOON_SCAN_F_NO_CLEAR;
  EXPECT_TRUE(absl::IsInvalidArgument((*dev)->Locate(s, absl::MakeSpan(rs))));
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

hballoon_scan LocateScan(int pid, int node, uint32_t max_pages = 0) {
  hballoon_scan s{};
  s.pid = pid;
  s.node = node;
  s.max_pages = max_pages;
  return s;
}

TEST(FakeHballoonDevLocate, BitmapsCountsHugeAndZeroPage) {
  FakeHballoonDev dev;
  const uint64_t base = 0x40000000;  // 2 MiB aligned
  dev.Map(4, base, 10 * kPg, 0);
  dev.Map(4, base + 10 * kPg, 5 * kPg, 1);
  dev.MapZero(4, base + 20 * kPg, 3 * kPg);
  dev.MapHuge(4, base + 2 * 1024 * 1024, 1);
  dev.MapHugeZero(4, base + 4 * 1024 * 1024);
  const uint64_t len = 6 * 1024 * 1024;
  const uint64_t n = len / kPg;
  for (int node : {0, 1}) {
    Bitmaps b(len);
    std::vector<hballoon_scan_range> rs = {Range(base, len)};
    rs[0].bitmap_ptr = reinterpret_cast<uintptr_t>(b.young.data());
    rs[0].huge_ptr = reinterpret_cast<uintptr_t>(b.huge.data());
    hballoon_scan s = LocateScan(4, node);
    ASSERT_TRUE(dev.Locate(s, absl::MakeSpan(rs)).ok());
    EXPECT_EQ(s.ranges_done, 1u);
    EXPECT_EQ(s.scanned_pages, n);
    // Zero pages (base and huge) are not present for LOCATE.
    EXPECT_EQ(rs[0].present_pages, 15u + 512u);
    EXPECT_EQ(rs[0].huge_pages, 512u);
    EXPECT_EQ(rs[0].young_pages, node == 0 ? 10u : 5u + 512u);
    for (uint64_t i = 0; i < n; ++i) {
      const bool on0 = i < 10;
      const bool on1 = (i >= 10 && i < 15) || (i >= 512 && i < 1024);
      ASSERT_EQ(b.Young(i), node == 0 ? on0 : on1) << node << " " << i;
      ASSERT_EQ(b.Huge(i), i >= 512 && i < 1024) << i;
    }
  }
  // SCAN_YOUNG still sees the zero pages as present.
  std::vector<hballoon_scan_range> rs = {Range(base, len)};
  hballoon_scan s = Scan(4, 1);
  s.flags = HBALLOON_SCAN_F_NO_CLEAR;
  ASSERT_TRUE(dev.ScanYoung(s, absl::MakeSpan(rs)).ok());
  EXPECT_EQ(rs[0].present_pages, 15u + 3u + 1024u);
  EXPECT_EQ(rs[0].huge_pages, 1024u);
  EXPECT_EQ(dev.locate_calls(), 2u);
  EXPECT_EQ(dev.located_pages(), 2 * n);
  EXPECT_EQ(dev.scan_calls(), 1u);
  EXPECT_EQ(dev.scanned_pages(), n);
}

TEST(FakeHballoonDevLocate, MoveMovesThpWhole) {
  FakeHballoonDev dev;
  const uint64_t h = 0x40000000;
  dev.MapHuge(5, h, 0);
  dev.Map(5, h + 2 * 1024 * 1024, 4 * kPg, 0);
  dev.MapZero(5, h + 4 * 1024 * 1024, kPg);
  ASSERT_TRUE(dev.Move(5, h + 300 * kPg + 7, 1).ok());  // any address inside the THP
  ASSERT_TRUE(dev.Move(5, h + 2 * 1024 * 1024 + kPg, 1).ok());
  EXPECT_TRUE(absl::IsNotFound(dev.Move(5, h + 3 * 1024 * 1024, 1)));
  EXPECT_TRUE(absl::IsNotFound(dev.Move(6, h, 1)));
  EXPECT_TRUE(absl::IsFailedPrecondition(dev.Move(5, h + 4 * 1024 * 1024, 1)));
  // A range covering only the second half of the THP and the base pages.
  const uint64_t start = h + 256 * kPg;
  const uint64_t len = 256 * kPg + 4 * kPg;
  Bitmaps b(len);
  std::vector<hballoon_scan_range> rs = {Range(start, len)};
  rs[0].bitmap_ptr = reinterpret_cast<uintptr_t>(b.young.data());
  hballoon_scan s = LocateScan(5, 1);
  ASSERT_TRUE(dev.Locate(s, absl::MakeSpan(rs)).ok());
  EXPECT_EQ(rs[0].young_pages, 257u);  // 256 THP pages inside + 1 moved base page
  EXPECT_EQ(rs[0].huge_pages, 256u);
  for (uint64_t i = 0; i < 260; ++i) EXPECT_EQ(b.Young(i), i < 256 || i == 257) << i;
  s = LocateScan(5, 0);
  ASSERT_TRUE(dev.Locate(s, absl::MakeSpan(rs)).ok());
  EXPECT_EQ(rs[0].young_pages, 3u);
}

TEST(FakeHballoonDevLocate, BudgetCutAndResumeGiveTheOneShotBitmap) {
  FakeHballoonDev dev;
  const uint64_t a = 0x10000000, b = 0x10200000;
  dev.Map(3, a, 100 * kPg, 1);
  dev.MapHuge(3, b, 1);
  dev.Map(3, b + 512 * kPg, 40 * kPg, 0);
  // Ranges: a (100 pages), b (552 pages).  One shot for reference.
  const uint64_t la = 100 * kPg, lb = 552 * kPg;
  Bitmaps ref_a(la), ref_b(lb);
  std::vector<hballoon_scan_range> rs = {Range(a, la), Range(b, lb)};
  rs[0].bitmap_ptr = reinterpret_cast<uintptr_t>(ref_a.young.data());
  rs[1].bitmap_ptr = reinterpret_cast<uintptr_t>(ref_b.young.data());
  hballoon_scan s = LocateScan(3, 1);
  ASSERT_TRUE(dev.Locate(s, absl::MakeSpan(rs)).ok());
  ASSERT_EQ(s.ranges_done, 2u);
  EXPECT_EQ(rs[0].young_pages + rs[1].young_pages, 612u);

  // Now 128 pages per call, resuming as documented.
  Bitmaps got_a(la), got_b(lb);
  std::vector<hballoon_scan_range> todo = {Range(a, la), Range(b, lb)};
  todo[0].bitmap_ptr = reinterpret_cast<uintptr_t>(got_a.young.data());
  todo[1].bitmap_ptr = reinterpret_cast<uintptr_t>(got_b.young.data());
  uint64_t young = 0, calls = 0;
  std::vector<uint64_t> next_addrs;
  while (!todo.empty()) {
    s = LocateScan(3, 1, 128);
    ASSERT_TRUE(dev.Locate(s, absl::MakeSpan(todo)).ok());
    ++calls;
    ASSERT_LE(s.scanned_pages, 128u);
    for (size_t i = 0; i < todo.size() && i <= s.ranges_done; ++i) young += todo[i].young_pages;
    todo.erase(todo.begin(), todo.begin() + s.ranges_done);
    if (todo.empty()) break;
    next_addrs.push_back(s.next_addr);
    hballoon_scan_range& r = todo[0];
    ASSERT_GE(s.next_addr, r.start);
    ASSERT_EQ((s.next_addr - r.start) % (64 * kPg), 0u);
    const uint64_t skip = (s.next_addr - r.start) / kPg;
    r.bitmap_ptr += skip / 8;
    r.len -= s.next_addr - r.start;
    r.start = s.next_addr;
  }
  EXPECT_EQ(young, 612u);
  EXPECT_EQ(ref_a.young, got_a.young);
  EXPECT_EQ(ref_b.young, got_b.young);
  // 100 of a + 0 of b (28 < 64), then b in 128-page steps (552 = 4*128 + 40).
  EXPECT_EQ(next_addrs, (std::vector<uint64_t>{b, b + 128 * kPg, b + 256 * kPg, b + 384 * kPg,
                                               b + 512 * kPg}));
  EXPECT_EQ(calls, 6u);
}

TEST(FakeHballoonDevLocate, RejectsEveryBadArgumentAndInjects) {
  FakeHballoonDev dev;
  dev.Map(2, 0x10000, 4 * kPg, 0);
  std::vector<hballoon_scan_range> rs = {Range(0x10000, 4 * kPg)};
  auto bad = [&](hballoon_scan s, std::vector<hballoon_scan_range> r) {
    absl::Status st = dev.Locate(s, absl::MakeSpan(r));
    EXPECT_TRUE(absl::IsInvalidArgument(st)) << st;
  };
  hballoon_scan s = LocateScan(2, 0);
  s.flags = 1;
  bad(s, rs);
  s = LocateScan(2, 0);
  s.reserved = 7;
  bad(s, rs);
  bad(LocateScan(2, -1), rs);
  bad(LocateScan(2, 2), rs);  // not online
  bad(LocateScan(0, 0), rs);
  bad(LocateScan(2, 0, 100), rs);
  bad(LocateScan(2, 0, HBALLOON_SCAN_MAX_PAGES + 64), rs);
  bad(LocateScan(2, 0), {});
  bad(LocateScan(2, 0), {Range(0x10000, 0)});
  bad(LocateScan(2, 0), {Range(0x10800, kPg)});
  bad(LocateScan(2, 0), {Range(dev.user_limit, kPg)});
  bad(LocateScan(2, 0), {Range(0x20000, kPg), Range(0x10000, kPg)});
  std::vector<hballoon_scan_range> many(HBALLOON_SCAN_MAX_RANGES + 1);
  for (size_t i = 0; i < many.size(); ++i) many[i] = Range(0x10000 + i * kPg, kPg);
  bad(LocateScan(2, 0), many);
  hballoon_scan_range rr = Range(0x10000, kPg);
  rr.reserved = 1;
  bad(LocateScan(2, 0), {rr});
  EXPECT_EQ(dev.locate_calls(), 0u) << "rejected calls do not walk";

  dev.online_nodes.insert(2);
  s = LocateScan(2, 2);
  ASSERT_TRUE(dev.Locate(s, absl::MakeSpan(rs)).ok());
  EXPECT_EQ(rs[0].young_pages, 0u);
  EXPECT_EQ(rs[0].present_pages, 4u);
  s = LocateScan(99, 0);
  EXPECT_TRUE(absl::IsNotFound(dev.Locate(s, absl::MakeSpan(rs))));
  dev.Exit(2);
  s = LocateScan(2, 0);
  EXPECT_TRUE(absl::IsNotFound(dev.Locate(s, absl::MakeSpan(rs))));
  dev.Map(2, 0x10000, 4 * kPg, 0);
  dev.inject_errors.push_back(absl::UnavailableError("broken"));
  s = LocateScan(2, 0);
  EXPECT_TRUE(absl::IsUnavailable(dev.Locate(s, absl::MakeSpan(rs))));
  ASSERT_TRUE(dev.Locate(s, absl::MakeSpan(rs)).ok());
  EXPECT_EQ(rs[0].young_pages, 4u);
}

}  // namespace
}  // namespace tiervm::adapters
