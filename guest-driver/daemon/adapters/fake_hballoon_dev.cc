#include "daemon/adapters/fake_hballoon_dev.h"

#include <errno.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace tiervm::adapters {

namespace {
constexpr uint64_t kPage = 4096;
constexpr uint64_t kHugePages = 512;
}  // namespace

void FakeHballoonDev::Map(placement::Pid pid, placement::Vaddr start, uint64_t len_bytes,
                          int node) {
  auto& pages = procs_[pid];
  for (uint64_t pn = start / kPage; pn < (start + len_bytes) / kPage; ++pn) {
    pages[pn] = Page{.node = node};
  }
}

void FakeHballoonDev::MapHuge(placement::Pid pid, placement::Vaddr start, int node) {
  auto& pages = procs_[pid];
  for (uint64_t i = 0; i < kHugePages; ++i) {
    pages[start / kPage + i] = Page{.huge = true, .node = node};
  }
}

void FakeHballoonDev::MapZero(placement::Pid pid, placement::Vaddr start, uint64_t len_bytes) {
  auto& pages = procs_[pid];
  for (uint64_t pn = start / kPage; pn < (start + len_bytes) / kPage; ++pn) {
    pages[pn] = Page{.zero = true};
  }
}

void FakeHballoonDev::MapHugeZero(placement::Pid pid, placement::Vaddr start) {
  auto& pages = procs_[pid];
  for (uint64_t i = 0; i < kHugePages; ++i) {
    pages[start / kPage + i] = Page{.huge = true, .zero = true};
  }
}

absl::Status FakeHballoonDev::Move(placement::Pid pid, placement::Vaddr addr, int node) {
  auto it = procs_.find(pid);
  const bool mapped = it != procs_.end() && it->second.contains(addr / kPage);
  if (!mapped) {
    return absl::NotFoundError(absl::StrCat("fake hballoon: pid ", pid, " has no page at 0x",
                                            absl::Hex(addr)));
  }
  auto p = it->second.find(addr / kPage);
  if (p->second.zero) {
    return absl::FailedPreconditionError(
        absl::StrCat("fake hballoon: 0x", absl::Hex(addr), " is the zero page"));
  }
  if (!p->second.huge) {
    p->second.node = node;
    return absl::OkStatus();
  }
  auto& pages = it->second;
  const uint64_t first = addr / kPage / kHugePages * kHugePages;
  for (auto q = pages.lower_bound(first); q != pages.end() && q->first < first + kHugePages; ++q) {
    q->second.node = node;
  }
  return absl::OkStatus();
}

void FakeHballoonDev::Unmap(placement::Pid pid, placement::Vaddr start, uint64_t len_bytes) {
  auto it = procs_.find(pid);
  if (it == procs_.end()) return;
  auto& pages = it->second;
  pages.erase(pages.lower_bound(start / kPage), pages.lower_bound((start + len_bytes) / kPage));
}

void FakeHballoonDev::Touch(placement::Pid pid, placement::Vaddr addr) {
  auto it = procs_.find(pid);
  if (it == procs_.end()) return;
  auto& pages = it->second;
  auto p = pages.find(addr / kPage);
  if (p == pages.end()) return;
  if (!p->second.huge) {
    p->second.young = true;
    return;
  }
  // A THP has one accessed bit: model it as every page of the PMD.
  uint64_t first = addr / kPage / kHugePages * kHugePages;
  for (uint64_t pn = first; pn < first + kHugePages; ++pn) {
    auto q = pages.find(pn);
    if (q != pages.end()) q->second.young = true;
  }
}

bool FakeHballoonDev::IsYoung(placement::Pid pid, placement::Vaddr addr) const {
  auto it = procs_.find(pid);
  if (it == procs_.end()) return false;
  auto p = it->second.find(addr / kPage);
  return p != it->second.end() && p->second.young;
}

absl::Status FakeHballoonDev::PopInjected() {
  if (inject_errors.empty()) return absl::OkStatus();
  absl::Status s = inject_errors.front();
  inject_errors.pop_front();
  return s;
}

absl::StatusOr<hballoon_info> FakeHballoonDev::GetInfo() {
  if (absl::Status s = PopInjected(); !s.ok()) return s;
  return info;
}

absl::StatusOr<uint32_t> FakeHballoonDev::SubmitStats(absl::Span<const virtio_hballoon_stat> stats) {
  if (absl::Status s = PopInjected(); !s.ok()) return s;
  if (stats.empty() || stats.size() > VIRTIO_HBALLOON_MAX_STATS) {
    return HballoonErrnoToStatus(EINVAL, "HBALLOON_IOC_SUBMIT_STATS");
  }
  submitted.emplace_back(stats.begin(), stats.end());
  return ++seq_;
}

absl::Status FakeHballoonDev::ScanYoung(hballoon_scan& scan, absl::Span<hballoon_scan_range> ranges) {
  scan.num_ranges = static_cast<uint32_t>(ranges.size());
  scan.ranges_ptr = reinterpret_cast<uintptr_t>(ranges.data());
  if (absl::Status s = PopInjected(); !s.ok()) return s;
  if (absl::Status s = ValidateScanArgs(scan, ranges, user_limit); !s.ok()) return s;
  ++scan_calls_;
  return Walk(Op::kScanYoung, scan, ranges);
}

absl::Status FakeHballoonDev::Locate(hballoon_scan& scan, absl::Span<hballoon_scan_range> ranges) {
  scan.num_ranges = static_cast<uint32_t>(ranges.size());
  scan.ranges_ptr = reinterpret_cast<uintptr_t>(ranges.data());
  if (absl::Status s = PopInjected(); !s.ok()) return s;
  if (absl::Status s = ValidateLocateArgs(scan, ranges, user_limit); !s.ok()) return s;
  if (!online_nodes.contains(scan.node)) {
    return absl::InvalidArgumentError(absl::StrCat("HBALLOON_IOC_LOCATE: node ", scan.node,
                                                   " not online (errno ", EINVAL, ")"));
  }
  ++locate_calls_;
  return Walk(Op::kLocate, scan, ranges);
}

absl::Status FakeHballoonDev::Walk(Op op, hballoon_scan& scan,
                                   absl::Span<hballoon_scan_range> ranges) {
  const bool locate = op == Op::kLocate;
  auto proc = procs_.find(scan.pid);
  if (proc == procs_.end()) {
    return HballoonErrnoToStatus(ESRCH, locate ? "HBALLOON_IOC_LOCATE" : "HBALLOON_IOC_SCAN_YOUNG");
  }
  auto& pages = proc->second;
  const bool clear = !locate && !(scan.flags & HBALLOON_SCAN_F_NO_CLEAR);

  // The driver's plan: whole ranges, then a 64-page-multiple prefix.
  uint64_t budget = scan.max_pages ? scan.max_pages : HBALLOON_SCAN_MAX_PAGES;
  scan.ranges_done = 0;
  scan.scanned_pages = 0;
  scan.next_addr = 0;
  for (auto& r : ranges) r.present_pages = r.young_pages = r.huge_pages = 0;
  std::vector<std::pair<size_t, uint64_t>> parts;  // (range, pages)
  for (size_t i = 0; i < ranges.size() && budget > 0; ++i) {
    uint64_t n = ranges[i].len / kPage;
    uint64_t part = n <= budget ? n : budget / HBALLOON_SCAN_CHUNK_PAGES * HBALLOON_SCAN_CHUNK_PAGES;
    if (part == 0) break;
    parts.emplace_back(i, part);
    budget -= part;
    if (part < n) break;
  }
  // Clear the user bitmaps first (the driver's clear_user).
  for (auto [i, part] : parts) {
    const uint64_t bytes = ScanBitmapWords(part * kPage) * 8;
    if (ranges[i].bitmap_ptr) std::memset(reinterpret_cast<void*>(ranges[i].bitmap_ptr), 0, bytes);
    if (ranges[i].huge_ptr) std::memset(reinterpret_cast<void*>(ranges[i].huge_ptr), 0, bytes);
  }
  for (auto [i, part] : parts) {
    hballoon_scan_range& r = ranges[i];
    auto* bits = reinterpret_cast<uint64_t*>(r.bitmap_ptr);
    auto* huge = reinterpret_cast<uint64_t*>(r.huge_ptr);
    const uint64_t first = r.start / kPage;
    for (auto it = pages.lower_bound(first); it != pages.end() && it->first < first + part; ++it) {
      const Page& pg = it->second;
      // LOCATE: the zero page is on no node a page can move to or from.
      if (locate && pg.zero) continue;
      const uint64_t idx = it->first - first;
      ++r.present_pages;
      if (pg.huge) {
        ++r.huge_pages;
        if (huge) huge[idx / 64] |= 1ull << (idx % 64);
      }
      if (locate ? pg.node == scan.node : pg.young) {
        ++r.young_pages;
        if (bits) bits[idx / 64] |= 1ull << (idx % 64);
      }
    }
    // Clear after the range: a THP's bit is one bit for the whole PMD, and
    // the driver clears it when it meets the PMD, so pages of the same THP
    // outside this range are cleared too.
    if (clear) {
      for (auto it = pages.lower_bound(first); it != pages.end() && it->first < first + part; ++it) {
        if (!it->second.young) continue;
        it->second.young = false;
        if (it->second.huge) {
          const uint64_t h = it->first / kHugePages * kHugePages;
          for (auto q = pages.lower_bound(h); q != pages.end() && q->first < h + kHugePages; ++q) {
            q->second.young = false;
          }
        }
      }
    }
    scan.scanned_pages += static_cast<uint32_t>(part);
    (locate ? located_pages_ : scanned_pages_) += part;
    if (part == r.len / kPage) {
      ++scan.ranges_done;
    } else {
      scan.next_addr = r.start + part * kPage;
    }
  }
  if (scan.ranges_done < ranges.size() && scan.next_addr == 0) {
    scan.next_addr = ranges[scan.ranges_done].start;
  }
  return absl::OkStatus();
}

}  // namespace tiervm::adapters
