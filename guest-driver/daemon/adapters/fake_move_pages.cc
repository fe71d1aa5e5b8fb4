#include "daemon/adapters/fake_move_pages.h"

#include <algorithm>
#include <cerrno>

#include "placement/check.h"

namespace tiervm::adapters {

FakePageMoveSyscall::FakePageMoveSyscall(std::vector<uint64_t> node_capacity_bytes)
    : capacity_(std::move(node_capacity_bytes)),
      used_(capacity_.size(), 0),
      high_(capacity_.size(), 0) {}

std::map<std::pair<Pid, Vaddr>, FakePageMoveSyscall::Page>::iterator FakePageMoveSyscall::Find(
    Pid pid, Vaddr addr) {
  auto it = pages_.upper_bound({pid, addr});
  if (it == pages_.begin()) return pages_.end();
  --it;
  if (it->first.first != pid || addr >= it->first.second + it->second.bytes) return pages_.end();
  return it;
}

void FakePageMoveSyscall::AddPage(Pid pid, Vaddr addr, uint64_t bytes, int node) {
  PLACEMENT_CHECK(node >= 0 && static_cast<size_t>(node) < capacity_.size());
  PLACEMENT_CHECK(bytes > 0 && addr % bytes == 0);
  PLACEMENT_CHECK(Find(pid, addr) == pages_.end() && Find(pid, addr + bytes - 1) == pages_.end());
  auto next = pages_.lower_bound({pid, addr});
  PLACEMENT_CHECK(next == pages_.end() || next->first.first != pid ||
                  next->first.second >= addr + bytes);
  const size_t n = static_cast<size_t>(node);
  PLACEMENT_CHECK(used_[n] + bytes <= capacity_[n]);
  pages_[{pid, addr}] = Page{bytes, node};
  used_[n] += bytes;
  high_[n] = std::max(high_[n], used_[n]);
  processes_.insert(pid);
}

void FakePageMoveSyscall::RemovePage(Pid pid, Vaddr addr) {
  auto it = Find(pid, addr);
  if (it == pages_.end()) return;
  used_[static_cast<size_t>(it->second.node)] -= it->second.bytes;
  pages_.erase(it);
}

void FakePageMoveSyscall::RemoveProcess(Pid pid) {
  for (auto it = pages_.lower_bound({pid, 0}); it != pages_.end() && it->first.first == pid;) {
    used_[static_cast<size_t>(it->second.node)] -= it->second.bytes;
    it = pages_.erase(it);
  }
  processes_.erase(pid);
}

void FakePageMoveSyscall::FailPage(Pid pid, Vaddr addr, int err, int times) {
  auto it = Find(pid, addr);
  const Vaddr key = it == pages_.end() ? addr : it->first.second;
  page_failures_[{pid, key}] = Injection{err, times};
}

void FakePageMoveSyscall::FailCall(Pid pid, int err, int times) {
  call_failures_[pid] = Injection{err, times};
}

int FakePageMoveSyscall::NodeOf(Pid pid, Vaddr addr) const {
  auto it = pages_.upper_bound({pid, addr});
  if (it == pages_.begin()) return -1;
  --it;
  if (it->first.first != pid || addr >= it->first.second + it->second.bytes) return -1;
  return it->second.node;
}

bool FakePageMoveSyscall::Consume(Injection& inj) {
  if (inj.times == 0) return false;
  if (inj.times > 0) --inj.times;
  return true;
}

long FakePageMoveSyscall::MovePages(Pid pid, absl::Span<const Vaddr> pages,
                                    absl::Span<const int> nodes, absl::Span<int> status) {
  Call call{pid, pages.size(), -1};
  if (!nodes.empty()) {
    call.dest_node = nodes[0];
    for (int n : nodes) {
      if (n != nodes[0]) call.dest_node = -2;
    }
  }
  calls_.push_back(call);
  if (status.size() != pages.size() || (!nodes.empty() && nodes.size() != pages.size())) {
    return -EINVAL;
  }
  if (auto it = call_failures_.find(pid); it != call_failures_.end() && Consume(it->second)) {
    return -it->second.err;
  }
  if (!processes_.contains(pid)) return -ESRCH;
  for (int n : nodes) {
    if (n < 0 || static_cast<size_t>(n) >= capacity_.size()) return -ENODEV;
  }
  long not_moved = 0;
  for (size_t i = 0; i < pages.size(); ++i) {
    auto page = Find(pid, pages[i]);
    const Vaddr key = page == pages_.end() ? pages[i] : page->first.second;
    if (auto f = page_failures_.find({pid, key}); f != page_failures_.end() && Consume(f->second)) {
      status[i] = -f->second.err;
      not_moved += !nodes.empty();
      continue;
    }
    if (page == pages_.end()) {
      status[i] = -ENOENT;
      not_moved += !nodes.empty();
      continue;
    }
    if (nodes.empty() || page->second.node == nodes[i]) {
      status[i] = page->second.node;
      continue;
    }
    const size_t to = static_cast<size_t>(nodes[i]);
    if (used_[to] + page->second.bytes > capacity_[to]) {
      ++refusals_;
      status[i] = -ENOMEM;
      ++not_moved;
      continue;
    }
    used_[static_cast<size_t>(page->second.node)] -= page->second.bytes;
    used_[to] += page->second.bytes;
    high_[to] = std::max(high_[to], used_[to]);
    page->second.node = nodes[i];
    status[i] = nodes[i];
    if (on_move) on_move();
  }
  return not_moved;
}

}  // namespace tiervm::adapters
