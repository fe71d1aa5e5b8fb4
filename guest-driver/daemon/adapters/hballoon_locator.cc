#include "daemon/adapters/hballoon_locator.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"

namespace tiervm::adapters {

using placement::PageInfo;
using placement::Pid;
using placement::Residency;
using placement::Tier;
using placement::Vaddr;

namespace {

constexpr uint64_t kPage = placement::kBasePageBytes;
constexpr uint64_t kHuge = placement::kHugePageBytes;
using AddrRange = std::pair<Vaddr, Vaddr>;

// [start, end) clipped to `limit` (page aligned) and rounded outward to
// pages; false when nothing is left.
bool ClipAndRound(Vaddr start, Vaddr end, uint64_t limit, AddrRange* out) {
  end = std::min<Vaddr>(end, limit);
  if (start >= end) return false;
  // `end` <= limit and `limit` is page aligned: rounding up cannot wrap.
  *out = {start & ~(kPage - 1), (end + kPage - 1) & ~(kPage - 1)};
  return true;
}

bool Bit(const uint64_t* words, uint64_t i) { return (words[i / 64] >> (i % 64)) & 1; }

// Set bits in [lo, hi) of the bitmap whose word w is `word(w)`.
template <typename Word>
uint64_t PopcountRange(Word word, uint64_t lo, uint64_t hi) {
  uint64_t n = 0;
  for (uint64_t w = lo / 64; w * 64 < hi; ++w) {
    uint64_t m = word(w);
    if (w == lo / 64) m &= ~0ull << (lo % 64);
    if (hi < (w + 1) * 64) m &= (1ull << (hi % 64)) - 1;
    n += static_cast<uint64_t>(__builtin_popcountll(m));
  }
  return n;
}

// Bytes of the set pages (page i at base + i * 4096, i < npages) that
// overlap [a, b).
template <typename Word>
uint64_t OverlapBytes(Word word, Vaddr base, uint64_t npages, Vaddr a, Vaddr b) {
  a = std::max(a, base);
  b = std::min(b, base + npages * kPage);
  if (a >= b) return 0;
  const uint64_t first = (a - base) / kPage;
  const uint64_t last = (b - base - 1) / kPage;  // inclusive
  uint64_t bytes = PopcountRange(word, first, last + 1) * kPage;
  if ((word(first / 64) >> (first % 64)) & 1) bytes -= a - (base + first * kPage);
  if ((word(last / 64) >> (last % 64)) & 1) bytes -= base + (last + 1) * kPage - b;
  return bytes;
}

}  // namespace

absl::Status ValidateHballoonLocatorConfig(const HballoonLocatorConfig& c) {
  if (c.fmem_node < 0 || c.smem_node < 0 || c.fmem_node == c.smem_node) {
    return absl::InvalidArgumentError(absl::StrCat("hballoon locator: fmem_node ", c.fmem_node,
                                                   " and smem_node ", c.smem_node,
                                                   " must be distinct and >= 0"));
  }
  if (c.max_pages_per_call == 0 || c.max_pages_per_call % HBALLOON_SCAN_CHUNK_PAGES != 0 ||
      c.max_pages_per_call > HBALLOON_SCAN_MAX_PAGES) {
    return absl::InvalidArgumentError(
        absl::StrCat("hballoon locator: max_pages_per_call ", c.max_pages_per_call,
                     " not a multiple of ", HBALLOON_SCAN_CHUNK_PAGES, " in ",
                     HBALLOON_SCAN_CHUNK_PAGES, "..", HBALLOON_SCAN_MAX_PAGES));
  }
  if (c.ranges_per_call == 0 || c.ranges_per_call > HBALLOON_SCAN_MAX_RANGES) {
    return absl::InvalidArgumentError(absl::StrCat("hballoon locator: ranges_per_call ",
                                                   c.ranges_per_call, " not in 1..",
                                                   HBALLOON_SCAN_MAX_RANGES));
  }
  if (c.user_vaddr_limit == 0 || c.user_vaddr_limit % kPage != 0 ||
      c.user_vaddr_limit > placement::kUserVaddrLimit) {
    return absl::InvalidArgumentError(absl::StrCat(
        "hballoon locator: user_vaddr_limit 0x", absl::Hex(c.user_vaddr_limit),
        " not page aligned in (0, 0x", absl::Hex(placement::kUserVaddrLimit), "]"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<HballoonPageLocator>> HballoonPageLocator::Create(
    HballoonDev& dev, const HballoonLocatorConfig& config) {
  if (absl::Status s = ValidateHballoonLocatorConfig(config); !s.ok()) return s;
  return std::unique_ptr<HballoonPageLocator>(new HballoonPageLocator(dev, config));
}

absl::Status HballoonPageLocator::Call(Pid pid, int node, uint32_t max_pages,
                                       std::vector<hballoon_scan_range>& ranges,
                                       hballoon_scan& scan) const {
  scan = hballoon_scan{};
  scan.pid = pid;
  scan.node = node;
  scan.max_pages = max_pages;
  for (hballoon_scan_range& r : ranges) r.present_pages = r.young_pages = r.huge_pages = 0;
  absl::Status s = dev_.Locate(scan, absl::MakeSpan(ranges));
  if (!s.ok()) {
    const hballoon_scan_range& f = ranges.front();
    const hballoon_scan_range& l = ranges.back();
    return absl::Status(s.code(), absl::StrCat("locate pid ", pid, " node ", node, " [0x",
                                               absl::Hex(f.start), ", 0x",
                                               absl::Hex(l.start + l.len), "): ",
                                               std::string(s.message())));
  }
  ++calls_;
  pages_walked_ += scan.scanned_pages;
  return absl::OkStatus();
}

absl::Status HballoonPageLocator::Walk(Pid pid, absl::Span<const AddrRange> ranges,
                                       bool want_huge,
                                       absl::FunctionRef<bool(const Chunk&)> fn) const {
  size_t next = 0;  // first range not finished
  Vaddr cursor = ranges.empty() ? 0 : ranges[0].first;
  std::vector<hballoon_scan_range> rs;
  std::vector<size_t> src;     // rs[k] is a part of ranges[src[k]]
  std::vector<uint64_t> offs;  // rs[k]'s first bitmap word
  while (next < ranges.size()) {
    // This call's ranges: whole ones while the budget lasts, then a
    // 64-page-multiple prefix (the driver would cut there too, and the
    // bitmaps stay bounded by the budget).
    rs.clear();
    src.clear();
    offs.clear();
    uint64_t budget = config_.max_pages_per_call;
    uint64_t words = 0;
    Vaddr s = cursor;
    for (size_t i = next; i < ranges.size() && rs.size() < config_.ranges_per_call;) {
      const uint64_t n = (ranges[i].second - s) / kPage;
      const uint64_t take =
          n <= budget ? n : budget / HBALLOON_SCAN_CHUNK_PAGES * HBALLOON_SCAN_CHUNK_PAGES;
      if (take == 0) break;
      hballoon_scan_range r{};
      r.start = s;
      r.len = take * kPage;
      rs.push_back(r);
      src.push_back(i);
      offs.push_back(words);
      words += ScanBitmapWords(r.len);
      budget -= take;
      if (take < n) break;
      if (++i < ranges.size()) s = ranges[i].first;
    }
    fmem_words_.assign(words, 0);
    smem_words_.assign(words, 0);
    huge_words_.assign(want_huge ? words : 0, 0);
    huge2_words_.assign(want_huge ? words : 0, 0);
    for (size_t k = 0; k < rs.size(); ++k) {
      rs[k].bitmap_ptr = reinterpret_cast<uintptr_t>(fmem_words_.data() + offs[k]);
      rs[k].huge_ptr = want_huge ? reinterpret_cast<uintptr_t>(huge_words_.data() + offs[k]) : 0;
    }
    hballoon_scan scan{};
    if (absl::Status st = Call(pid, config_.fmem_node, config_.max_pages_per_call, rs, scan);
        !st.ok()) {
      return st;
    }
    // Honour a shorter answer with the resume rule: ranges_done whole
    // ranges, then range ranges_done up to next_addr.
    size_t done = scan.ranges_done;
    if (done > rs.size()) {
      return absl::InternalError(absl::StrCat("locate pid ", pid, ": driver reports ", done,
                                              " ranges done of ", rs.size()));
    }
    if (done < rs.size()) {
      const hballoon_scan_range& r = rs[done];
      if (scan.next_addr < r.start || scan.next_addr >= r.start + r.len ||
          (scan.next_addr - r.start) % (HBALLOON_SCAN_CHUNK_PAGES * kPage) != 0) {
        return absl::InternalError(absl::StrCat("locate pid ", pid, ": bad resume address 0x",
                                                absl::Hex(scan.next_addr)));
      }
      if (scan.next_addr > r.start) {
        rs[done].len = scan.next_addr - r.start;
        ++done;
      }
      if (done == 0) {
        return absl::InternalError(absl::StrCat("locate pid ", pid, ": driver made no progress"));
      }
      rs.resize(done);
    }
    // The second node over exactly the part the first call covered.
    for (size_t k = 0; k < rs.size(); ++k) {
      rs[k].bitmap_ptr = reinterpret_cast<uintptr_t>(smem_words_.data() + offs[k]);
      rs[k].huge_ptr = want_huge ? reinterpret_cast<uintptr_t>(huge2_words_.data() + offs[k]) : 0;
    }
    if (absl::Status st = Call(pid, config_.smem_node, config_.max_pages_per_call, rs, scan);
        !st.ok()) {
      return st;
    }
    if (scan.ranges_done != rs.size()) {
      return absl::InternalError(absl::StrCat("locate pid ", pid,
                                              ": driver cut the second node's call at ",
                                              scan.ranges_done, " of ", rs.size(), " ranges"));
    }
    for (size_t w = 0; w < huge_words_.size(); ++w) huge_words_[w] |= huge2_words_[w];
    for (size_t k = 0; k < rs.size(); ++k) {
      Chunk c;
      c.start = rs[k].start;
      c.pages = rs[k].len / kPage;
      c.fmem = fmem_words_.data() + offs[k];
      c.smem = smem_words_.data() + offs[k];
      c.huge = want_huge ? huge_words_.data() + offs[k] : nullptr;
      if (!fn(c)) return absl::OkStatus();
    }
    const hballoon_scan_range& last = rs.back();
    const size_t i = src[rs.size() - 1];
    if (last.start + last.len == ranges[i].second) {
      next = i + 1;
      if (next < ranges.size()) cursor = ranges[next].first;
    } else {
      next = i;
      cursor = last.start + last.len;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Residency>> HballoonPageLocator::LocateMany(
    Pid pid, absl::Span<const AddrRange> ranges) const {
  std::vector<Residency> out(ranges.size());
  // The walk: caller ranges clipped, rounded to pages, and merged where
  // they share or touch a page (the driver wants disjoint ranges).
  std::vector<AddrRange> walk;
  std::vector<size_t> live;  // caller ranges with something to count
  Vaddr prev_end = 0;
  for (size_t i = 0; i < ranges.size(); ++i) {
    const auto [a, b] = ranges[i];
    if (a >= b) continue;
    if (a < prev_end) {
      return absl::InvalidArgumentError(absl::StrCat("locate pid ", pid, ": range ", i,
                                                     " not ascending or overlapping"));
    }
    prev_end = b;
    AddrRange r;
    if (!ClipAndRound(a, b, config_.user_vaddr_limit, &r)) continue;
    live.push_back(i);
    if (!walk.empty() && r.first <= walk.back().second) {
      walk.back().second = std::max(walk.back().second, r.second);
    } else {
      walk.push_back(r);
    }
  }
  if (walk.empty()) return out;
  size_t k = 0;  // first live caller range not yet wholly counted
  absl::Status st = Walk(pid, walk, /*want_huge=*/false, [&](const Chunk& c) {
    const Vaddr chunk_end = c.start + c.pages * kPage;
    // A page on both nodes (it moved between the two calls) counts once,
    // on the second (newer) answer.
    auto fmem_only = [&](uint64_t w) { return c.fmem[w] & ~c.smem[w]; };
    auto smem = [&](uint64_t w) { return c.smem[w]; };
    for (size_t j = k; j < live.size(); ++j) {
      const auto [a, b] = ranges[live[j]];
      if (a >= chunk_end) break;
      out[live[j]].fmem_bytes += OverlapBytes(fmem_only, c.start, c.pages, a, b);
      out[live[j]].smem_bytes += OverlapBytes(smem, c.start, c.pages, a, b);
    }
    while (k < live.size() && ranges[live[k]].second <= chunk_end) ++k;
    return true;
  });
  if (!st.ok()) return st;
  return out;
}

absl::StatusOr<Residency> HballoonPageLocator::Locate(Pid pid, Vaddr start, Vaddr end) const {
  const AddrRange one[1] = {{start, end}};
  absl::StatusOr<std::vector<Residency>> r = LocateMany(pid, one);
  if (!r.ok()) return r.status();
  return (*r)[0];
}

absl::Status HballoonPageLocator::ForEachPage(Pid pid, Vaddr start, Vaddr end,
                                              absl::FunctionRef<bool(const PageInfo&)> fn) const {
  AddrRange r;
  if (!ClipAndRound(start, end, config_.user_vaddr_limit, &r)) return absl::OkStatus();
  // THP bases are 2 MiB aligned, so ~0 is never one.
  Vaddr last_thp = ~Vaddr{0};
  const AddrRange one[1] = {r};
  return Walk(pid, one, /*want_huge=*/true, [&](const Chunk& c) {
    uint64_t i = 0;
    while (i < c.pages) {
      const uint64_t word = (c.fmem[i / 64] | c.smem[i / 64]) >> (i % 64);
      if (word == 0) {
        i = (i / 64 + 1) * 64;
        continue;
      }
      i += static_cast<uint64_t>(__builtin_ctzll(word));
      if (i >= c.pages) break;
      const Vaddr addr = c.start + i * kPage;
      PageInfo info;
      info.tier = Bit(c.smem, i) ? Tier::kSmem : Tier::kFmem;
      if (Bit(c.huge, i)) {
        // Reported once, whole, at its aligned start: also when it began
        // before `start` or in the previous chunk.
        const Vaddr thp = addr & ~(kHuge - 1);
        i = std::min<uint64_t>(c.pages, (thp + kHuge - c.start) / kPage);
        if (thp == last_thp) continue;
        last_thp = thp;
        info.addr = thp;
        info.bytes = kHuge;
      } else {
        info.addr = addr;
        info.bytes = kPage;
        ++i;
      }
      if (!fn(info)) return false;
    }
    return true;
  });
}

}  // namespace tiervm::adapters
