#include "placement/page_locator.h"

#include "absl/strings/str_format.h"
#include "placement/check.h"

namespace tiervm::placement {

void InMemoryPageLocator::AddPages(Pid pid, Vaddr start, Vaddr end,
                                   uint64_t page_bytes, Tier tier) {
  PLACEMENT_CHECK(page_bytes == kBasePageBytes || page_bytes == kHugePageBytes);
  PLACEMENT_CHECK(start % page_bytes == 0 && end % page_bytes == 0 && start < end);
  for (Vaddr a = start; a < end; a += page_bytes) {
    auto [it, inserted] = pages_.emplace(std::make_pair(pid, a), PageInfo{a, page_bytes, tier});
    PLACEMENT_CHECK(inserted);
    if (it != pages_.begin()) {
      auto prev = std::prev(it);
      PLACEMENT_CHECK(prev->first.first != pid || prev->second.addr + prev->second.bytes <= a);
    }
    auto next = std::next(it);
    PLACEMENT_CHECK(next == pages_.end() || next->first.first != pid ||
                    a + page_bytes <= next->second.addr);
  }
}

absl::Status InMemoryPageLocator::Move(Pid pid, Vaddr addr, Tier tier) {
  auto it = pages_.find({pid, addr});
  if (it == pages_.end()) {
    return absl::NotFoundError(absl::StrFormat("pid %d: no page at 0x%x", pid, addr));
  }
  it->second.tier = tier;
  return absl::OkStatus();
}

void InMemoryPageLocator::RemoveProcess(Pid pid) {
  pages_.erase(pages_.lower_bound({pid, 0}), pages_.lower_bound({pid + 1, 0}));
}

uint64_t InMemoryPageLocator::BytesOn(Tier tier) const {
  uint64_t sum = 0;
  for (const auto& [key, page] : pages_) {
    if (page.tier == tier) sum += page.bytes;
  }
  return sum;
}

absl::Status InMemoryPageLocator::ForEachPage(
    Pid pid, Vaddr start, Vaddr end,
    absl::FunctionRef<bool(const PageInfo&)> fn) const {
  // A THP that starts before `start` may still overlap it.
  auto it = pages_.lower_bound({pid, start});
  if (it != pages_.begin()) {
    auto prev = std::prev(it);
    if (prev->first.first == pid && prev->second.addr + prev->second.bytes > start) it = prev;
  }
  for (; it != pages_.end() && it->first.first == pid && it->second.addr < end; ++it) {
    if (!fn(it->second)) break;
  }
  return absl::OkStatus();
}

absl::StatusOr<Residency> InMemoryPageLocator::Locate(Pid pid, Vaddr start,
                                                      Vaddr end) const {
  auto first = pages_.lower_bound({pid, 0});
  if (first == pages_.end() || first->first.first != pid) {
    return absl::NotFoundError(absl::StrFormat("pid %d has no pages", pid));
  }
  return SumResidency(*this, pid, start, end);
}

absl::StatusOr<Residency> SumResidency(const PageLocator& locator, Pid pid,
                                       Vaddr start, Vaddr end) {
  Residency r;
  absl::Status st = locator.ForEachPage(pid, start, end, [&](const PageInfo& p) {
    // Count only the overlap, so residency of adjacent ranges adds up.
    const Vaddr a = std::max(p.addr, start);
    const Vaddr b = std::min(p.addr + p.bytes, end);
    (p.tier == Tier::kFmem ? r.fmem_bytes : r.smem_bytes) += b - a;
    return true;
  });
  if (!st.ok()) return st;
  return r;
}

}  // namespace tiervm::placement
