#include "placement/bounce_counter.h"

namespace tiervm::placement {

void BounceCounter::Promoted(Pid pid, Vaddr addr, uint64_t bytes, int64_t now_ns) {
  Expire(now_ns);
  ++stats_.promotions;
  stats_.promoted_bytes += bytes;
  const Key key{pid, addr};
  promoted_at_.insert_or_assign(key, Promotion{now_ns, bytes});
  order_.emplace_back(key, now_ns);
  if (config_.max_pages > 0) {
    while (promoted_at_.size() > config_.max_pages && !order_.empty()) {
      const auto [k, t] = order_.front();
      order_.pop_front();
      auto it = promoted_at_.find(k);
      if (it != promoted_at_.end() && it->second.at_ns == t) {
        promoted_at_.erase(it);
        ++stats_.forgotten;
      }
    }
  }
}

void BounceCounter::Demoted(Pid pid, Vaddr addr, int64_t now_ns) {
  Expire(now_ns);
  auto it = promoted_at_.find(Key{pid, addr});
  if (it == promoted_at_.end()) return;
  ++stats_.bounced;
  stats_.bounced_bytes += it->second.bytes;
  promoted_at_.erase(it);
}

void BounceCounter::Expire(int64_t now_ns) {
  while (!order_.empty() && now_ns - order_.front().second > config_.window_ns) {
    const auto [k, t] = order_.front();
    order_.pop_front();
    auto it = promoted_at_.find(k);
    if (it != promoted_at_.end() && it->second.at_ns == t) promoted_at_.erase(it);
  }
  // Stale entries at the front (promoted again or demoted since) go too,
  // so the queue stays within a few times the map.
  while (!order_.empty()) {
    auto it = promoted_at_.find(order_.front().first);
    if (it != promoted_at_.end() && it->second.at_ns == order_.front().second) break;
    order_.pop_front();
  }
}

double BounceCounter::bounced_share() const {
  return stats_.promoted_bytes > 0
             ? static_cast<double>(stats_.bounced_bytes) / static_cast<double>(stats_.promoted_bytes)
             : 0;
}

}  // namespace tiervm::placement
