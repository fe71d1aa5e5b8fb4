#include "placement/promotion_hold.h"

#include <algorithm>
#include <iterator>
#include <limits>
#include <vector>

namespace tiervm::placement {

void PromotionHold::Add(absl::Span<const PageMove> moves, uint64_t until) {
  // Coalesce consecutive pages of one process (moves come sorted by
  // (pid, addr) within a round).
  bool open = false;
  Pid pid = 0;
  Vaddr start = 0, end = 0;
  for (const PageMove& m : moves) {
    if (m.dest_tier != Tier::kFmem || m.bytes == 0) continue;
    if (open && m.pid == pid && m.addr == end) {
      end += m.bytes;
      continue;
    }
    if (open) Insert(pid, start, end, until);
    open = true;
    pid = m.pid;
    start = m.addr;
    end = m.addr + m.bytes;
  }
  if (open) Insert(pid, start, end, until);
}

void PromotionHold::Insert(Pid pid, Vaddr start, Vaddr end, uint64_t until) {
  Cut(pid, start, end);
  spans_[{pid, start}] = Span{end, until};
}

void PromotionHold::Release(absl::Span<const PageMove> moves) {
  for (const PageMove& m : moves) {
    if (m.dest_tier == Tier::kFmem && m.bytes > 0) Cut(m.pid, m.addr, m.addr + m.bytes);
  }
}

void PromotionHold::Cut(Pid pid, Vaddr start, Vaddr end) {
  auto it = spans_.lower_bound({pid, start});
  if (it != spans_.begin()) {
    auto prev = std::prev(it);
    if (prev->first.first == pid && prev->second.end > start) it = prev;
  }
  std::vector<std::pair<std::pair<Pid, Vaddr>, Span>> keep;
  while (it != spans_.end() && it->first.first == pid && it->first.second < end) {
    const Vaddr s = it->first.second;
    const Span sp = it->second;
    it = spans_.erase(it);
    if (s < start) keep.push_back({{pid, s}, Span{start, sp.until}});
    if (sp.end > end) keep.push_back({{pid, end}, Span{sp.end, sp.until}});
  }
  for (auto& [k, v] : keep) spans_.emplace(k, v);
}

void PromotionHold::Expire(uint64_t now) {
  for (auto it = spans_.begin(); it != spans_.end();) {
    if (it->second.until <= now) {
      it = spans_.erase(it);
    } else {
      ++it;
    }
  }
}

bool PromotionHold::Held(Pid pid, Vaddr addr, uint64_t bytes) const {
  const Vaddr end = addr + bytes;
  auto it = spans_.upper_bound({pid, addr});
  if (it != spans_.begin()) {
    auto prev = std::prev(it);
    if (prev->first.first == pid && prev->second.end > addr) return true;
  }
  return it != spans_.end() && it->first.first == pid && it->first.second < end;
}

void PromotionHold::Forget(Pid pid) {
  spans_.erase(spans_.lower_bound({pid, 0}),
               spans_.upper_bound({pid, std::numeric_limits<Vaddr>::max()}));
}

uint64_t PromotionHold::held_bytes() const {
  uint64_t sum = 0;
  for (const auto& [k, v] : spans_) sum += v.end - k.second;
  return sum;
}

}  // namespace tiervm::placement
