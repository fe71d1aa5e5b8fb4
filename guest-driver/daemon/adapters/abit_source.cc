#include "daemon/adapters/abit_source.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tiervm::adapters {

namespace {
constexpr uint64_t kPage = placement::kBasePageBytes;
constexpr uint64_t kHuge = placement::kHugePageBytes;
// A young THP is emitted as this many samples, one per sub-block.
constexpr uint64_t kThpSamples = 8;
constexpr uint64_t kThpBlock = kHuge / kThpSamples;
}  // namespace

absl::StatusOr<std::unique_ptr<AbitSampleSource>> AbitSampleSource::Create(
    HballoonDev* dev, const placement::Clock* clock, AbitSourceOptions options) {
  if (dev == nullptr || clock == nullptr) {
    return absl::InvalidArgumentError("abit source: device and clock are required");
  }
  if (options.max_pages_per_read < HBALLOON_SCAN_CHUNK_PAGES ||
      options.max_pages_per_read % HBALLOON_SCAN_CHUNK_PAGES != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "abit source: max_pages_per_read ", options.max_pages_per_read,
        " must be a positive multiple of ", HBALLOON_SCAN_CHUNK_PAGES));
  }
  if (!std::isfinite(options.scan_rate_pages_per_s) || options.scan_rate_pages_per_s < 0) {
    return absl::InvalidArgumentError("abit source: scan rate must be finite and >= 0");
  }
  if (!std::isfinite(options.max_pass_s) || options.max_pass_s < 0) {
    return absl::InvalidArgumentError("abit source: max_pass_s must be finite and >= 0");
  }
  if (options.coalesce_bytes < kPage || options.coalesce_bytes > 64 * kPage ||
      (options.coalesce_bytes & (options.coalesce_bytes - 1)) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "abit source: coalesce_bytes ", options.coalesce_bytes,
        " must be a power of two from 4096 to 262144"));
  }
  if (options.min_scan_interval_ms < 0) {
    return absl::InvalidArgumentError("abit source: min_scan_interval_ms must be >= 0");
  }
  return std::unique_ptr<AbitSampleSource>(new AbitSampleSource(dev, clock, options));
}

AbitSampleSource::AbitSampleSource(HballoonDev* dev, const placement::Clock* clock,
                                   AbitSourceOptions options)
    : dev_(dev), clock_(clock), options_(options) {}

absl::Status AbitSampleSource::SetTargets(placement::Pid pid, std::vector<placement::Vma> vmas) {
  if (pid <= 0) return absl::InvalidArgumentError(absl::StrCat("abit source: bad pid ", pid));
  for (const placement::Vma& v : vmas) {
    if (v.start >= v.end || v.start % kPage != 0 || v.end % kPage != 0 ||
        v.end > placement::kUserVaddrLimit) {
      return absl::InvalidArgumentError(absl::StrCat("abit source: pid ", pid, ": bad area [0x",
                                                     absl::Hex(v.start), ", 0x", absl::Hex(v.end), ")"));
    }
  }
  std::sort(vmas.begin(), vmas.end(),
            [](const placement::Vma& a, const placement::Vma& b) { return a.start < b.start; });
  std::vector<placement::Vma> joined;
  std::vector<placement::Vaddr> joins;
  for (const placement::Vma& v : vmas) {
    if (!joined.empty() && v.start < joined.back().end) {
      return absl::InvalidArgumentError(absl::StrCat("abit source: pid ", pid,
                                                     ": overlapping areas at 0x", absl::Hex(v.start)));
    }
    if (!joined.empty() && v.start == joined.back().end) {
      joined.back().end = v.end;
      joins.push_back(v.start);
    } else {
      joined.push_back(v);
    }
  }
  if (joined.empty()) {
    RemoveTarget(pid);
    return absl::OkStatus();
  }
  targets_[pid] = std::move(joined);
  if (joins.empty()) {
    joins_.erase(pid);
  } else {
    joins_[pid] = std::move(joins);
  }
  return absl::OkStatus();
}

void AbitSampleSource::RemoveTarget(placement::Pid pid) {
  if (have_cursor_ && cursor_pid_ == pid) AdvanceToNextPid();
  targets_.erase(pid);
  joins_.erase(pid);
  if (targets_.empty()) have_cursor_ = false;
}

void AbitSampleSource::SetScanRate(double pages_per_s) {
  if (!std::isfinite(pages_per_s) || pages_per_s < 0) pages_per_s = 0;
  options_.scan_rate_pages_per_s = pages_per_s;
}

uint64_t AbitSampleSource::TargetPages() const {
  uint64_t pages = 0;
  for (const auto& [pid, vmas] : targets_) {
    for (const placement::Vma& v : vmas) pages += (v.end - v.start) / kPage;
  }
  return pages;
}

std::vector<placement::Pid> AbitSampleSource::TakeExitedPids() {
  std::vector<placement::Pid> out;
  out.swap(exited_);
  return out;
}

void AbitSampleSource::AdvanceToNextPid() {
  auto it = targets_.upper_bound(cursor_pid_);
  if (it == targets_.end()) {
    ++stats_.passes;
    it = targets_.begin();
    if (it != targets_.end() && it->first == cursor_pid_) ++it;  // only the current one left
  }
  if (it == targets_.end()) {
    have_cursor_ = false;
    return;
  }
  cursor_pid_ = it->first;
  cursor_addr_ = 0;
}

absl::StatusOr<size_t> AbitSampleSource::Read(absl::Span<placement::Sample> out) {
  if (!broken_.ok()) return broken_;
  if (pending_.empty()) {
    const int64_t now = clock_->MonotonicNs();
    const double dt_s = have_last_read_ ? std::max<int64_t>(0, now - last_read_ns_) * 1e-9 : 0.0;
    last_read_ns_ = now;
    have_last_read_ = true;
    // Pages accrue at the scan rate, or at the pass floor's rate where
    // that is higher; the floor may go past max_pages_per_read (reads far
    // apart), never past one pass.
    const auto target = static_cast<double>(TargetPages());
    const double floor_rate = options_.max_pass_s > 0 ? target / options_.max_pass_s : 0.0;
    const double rate = std::max(options_.scan_rate_pages_per_s, floor_rate);
    const bool floored = floor_rate > options_.scan_rate_pages_per_s;
    uint64_t budget = options_.max_pages_per_read;
    if (rate > 0) {
      const double cap = std::max(static_cast<double>(options_.max_pages_per_read),
                                  std::min(target, floor_rate * dt_s));
      carry_pages_ = std::min(carry_pages_ + rate * dt_s, cap);
      budget = static_cast<uint64_t>(carry_pages_);
    }
    // Each scan ioctl that clears bits flushes every CPU's TLB: a scan
    // starts only once min_scan_interval_ms has passed since the previous
    // one and at least a bitmap word's worth of pages has accrued, so a
    // caller that reads until no samples come (while the workload keeps
    // its pages young) gets one scan, not thousands of tiny ones.
    const bool due =
        !have_last_scan_ || now - last_scan_ns_ >= options_.min_scan_interval_ms * 1'000'000;
    if (due && budget >= HBALLOON_SCAN_CHUNK_PAGES) {
      if (rate > 0) carry_pages_ -= static_cast<double>(budget);
      if (floored) ++stats_.floor_reads;
      last_scan_ns_ = now;
      have_last_scan_ = true;
      if (absl::Status s = Scan(budget); !s.ok()) {
        broken_ = s;
        return s;
      }
    }
  }
  size_t n = 0;
  while (n < out.size() && !pending_.empty()) {
    out[n++] = pending_.front();
    pending_.pop_front();
  }
  stats_.samples += n;
  return n;
}

absl::Status AbitSampleSource::Scan(uint64_t budget_pages) {
  // At most one pass per Read: a small target set is not rescanned within
  // one call.
  uint64_t remaining = std::min(budget_pages, TargetPages());
  const int64_t now = clock_->MonotonicNs();
  while (remaining > 0 && !targets_.empty()) {
    if (!have_cursor_ || !targets_.contains(cursor_pid_)) {
      cursor_pid_ = targets_.begin()->first;
      cursor_addr_ = 0;
      have_cursor_ = true;
    }
    const placement::Pid pid = cursor_pid_;
    absl::StatusOr<uint64_t> covered = ScanProcess(pid, remaining, now);
    if (absl::IsNotFound(covered.status())) {
      exited_.push_back(pid);
      ++stats_.exited;
      RemoveTarget(pid);
      continue;
    }
    if (absl::IsAborted(covered.status())) return absl::OkStatus();  // EINTR: next Read
    if (!covered.ok()) return covered.status();
    remaining -= std::min(remaining, *covered);
    if (cursor_addr_ >= targets_[pid].back().end) AdvanceToNextPid();
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> AbitSampleSource::ScanProcess(placement::Pid pid, uint64_t budget_pages,
                                                       int64_t now_ns) {
  const std::vector<placement::Vma>& vmas = targets_[pid];
  auto it = std::upper_bound(vmas.begin(), vmas.end(), cursor_addr_,
                             [](placement::Vaddr a, const placement::Vma& v) { return a < v.end; });
  if (it == vmas.end()) {
    cursor_addr_ = vmas.back().end;
    return 0;
  }
  uint64_t left = std::min<uint64_t>(budget_pages, HBALLOON_SCAN_MAX_PAGES);
  std::vector<hballoon_scan_range> ranges;
  uint64_t words = 0;
  for (; it != vmas.end() && left > 0 && ranges.size() < HBALLOON_SCAN_MAX_RANGES; ++it) {
    hballoon_scan_range r{};
    r.start = std::max(it->start, cursor_addr_);
    r.len = std::min<uint64_t>((it->end - r.start) / kPage, left) * kPage;
    left -= r.len / kPage;
    words += ScanBitmapWords(r.len);
    ranges.push_back(r);
  }
  young_words_.assign(words, 0);
  huge_words_.assign(words, 0);
  uint64_t off = 0;
  for (hballoon_scan_range& r : ranges) {
    r.bitmap_ptr = reinterpret_cast<uintptr_t>(young_words_.data() + off);
    r.huge_ptr = reinterpret_cast<uintptr_t>(huge_words_.data() + off);
    off += ScanBitmapWords(r.len);
  }
  hballoon_scan scan{};
  scan.pid = pid;
  scan.flags = options_.no_clear ? HBALLOON_SCAN_F_NO_CLEAR : 0;
  scan.max_pages = 0;  // the ranges above already fit the budget
  ++stats_.ioctls;
  if (absl::Status s = dev_->ScanYoung(scan, absl::MakeSpan(ranges)); !s.ok()) return s;

  // Normally every range completes; honour a shorter answer anyway.
  off = 0;
  for (size_t i = 0; i < ranges.size(); ++i) {
    hballoon_scan_range& r = ranges[i];
    if (i > scan.ranges_done) break;
    if (i == scan.ranges_done) {
      if (scan.next_addr <= r.start || scan.next_addr >= r.start + r.len) break;
      r.len = scan.next_addr - r.start;  // the scanned part
    }
    EmitRange(pid, r, young_words_.data() + off, huge_words_.data() + off, now_ns);
    off += ScanBitmapWords(ranges[i].len);
    cursor_addr_ = r.start + r.len;
    stats_.present_pages += r.present_pages;
    stats_.young_pages += r.young_pages;
  }
  stats_.scanned_pages += scan.scanned_pages;
  return std::max<uint64_t>(scan.scanned_pages, 1);
}

namespace {
// Bits in [from, to) set in `young` and clear in `huge`: young pages
// mapped by a PTE (bit i is bit i % 64 of word i / 64).
uint64_t CountSmallYoung(const uint64_t* young, const uint64_t* huge, uint64_t from, uint64_t to) {
  uint64_t n = 0;
  while (from < to) {
    const uint64_t word = from / 64;
    const uint64_t lo = from % 64;
    const uint64_t hi = std::min<uint64_t>(64, lo + (to - from));
    uint64_t mask = hi == 64 ? ~0ull : (1ull << hi) - 1;
    mask &= ~((1ull << lo) - 1);
    n += static_cast<uint64_t>(__builtin_popcountll(young[word] & ~huge[word] & mask));
    from += hi - lo;
  }
  return n;
}
}  // namespace

void AbitSampleSource::EmitRange(placement::Pid pid, const hballoon_scan_range& r,
                                 const uint64_t* young, const uint64_t* huge, int64_t now_ns) {
  const uint64_t npages = r.len / kPage;
  const uint64_t end = r.start + r.len;
  const std::vector<placement::Vaddr>* joins = nullptr;
  if (auto it = joins_.find(pid); it != joins_.end()) joins = &it->second;
  const uint64_t block = options_.coalesce_bytes;
  uint64_t i = 0;
  while (i < npages) {
    const uint64_t word = young[i / 64] >> (i % 64);
    if (word == 0) {
      i = (i / 64 + 1) * 64;
      continue;
    }
    i += static_cast<uint64_t>(__builtin_ctzll(word));
    if (i >= npages) break;
    const uint64_t addr = r.start + i * kPage;
    if ((huge[i / 64] >> (i % 64)) & 1) {
      // A young PMD: 8 samples over its part inside the range.
      const uint64_t base = addr & ~(kHuge - 1);
      const uint64_t pmd_end = std::min(base + kHuge, end);
      for (uint64_t b = base; b < pmd_end; b += kThpBlock) {
        const uint64_t lo = std::max(b, addr);
        const uint64_t hi = std::min(b + kThpBlock, pmd_end);
        if (lo >= hi) continue;
        const auto w = static_cast<uint32_t>((hi - lo) / kPage);
        pending_.push_back(placement::Sample{pid, lo, placement::AccessKind::kLoad, w, now_ns});
        stats_.young_huge_pages += w;
      }
      i = (pmd_end - r.start) / kPage;
      continue;
    }
    // The young 4 KiB pages of this block, up to the next VMA joined on.
    uint64_t group_end = std::min(end, (addr / block + 1) * block);
    if (joins != nullptr) {
      auto j = std::upper_bound(joins->begin(), joins->end(), addr);
      if (j != joins->end()) group_end = std::min(group_end, *j);
    }
    const uint64_t to = (group_end - r.start) / kPage;
    // A block never holds part of a THP (both are aligned, a THP is the
    // larger), but a PMD's bits are not counted as 4 KiB pages regardless.
    const uint64_t w = CountSmallYoung(young, huge, i, to);
    if (w > 0) {
      pending_.push_back(placement::Sample{pid, addr, placement::AccessKind::kLoad,
                                           static_cast<uint32_t>(w), now_ns});
    }
    i = to;
  }
}

}  // namespace tiervm::adapters
