// FakePageMoveSyscall: an in-memory model of move_pages(2) for tests and
// the simulator.  It holds pages (4 KiB or 2 MiB) of processes on numbered
// nodes with byte capacities, moves them like the kernel (status = new node,
// -ENOENT for no page, -ENOMEM when the destination is full, -ESRCH for an
// unknown process, -ENODEV for a bad node), and can be told to fail pages or
// whole calls.  Every successful move calls `on_move`, so a test can check
// an invariant (FMEM within capacity) after each step.  Not thread-safe.
#ifndef TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_FAKE_MOVE_PAGES_H_
#define TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_FAKE_MOVE_PAGES_H_

#include <cstdint>
#include <functional>
#include <map>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "daemon/adapters/move_pages.h"

namespace tiervm::adapters {

class FakePageMoveSyscall final : public PageMoveSyscall {
 public:
  struct Call {
    Pid pid = 0;
    size_t pages = 0;
    int dest_node = -1;  // -1: query mode (or mixed destinations: -2)
  };

  explicit FakePageMoveSyscall(std::vector<uint64_t> node_capacity_bytes);

  // Adds a page at `addr` (aligned to `bytes`).  CHECK-fails on overlap or
  // when the node is full: fixtures are the test's responsibility.
  void AddPage(Pid pid, Vaddr addr, uint64_t bytes, int node);
  void RemovePage(Pid pid, Vaddr addr);
  void RemoveProcess(Pid pid);  // later calls for it return -ESRCH

  // The next `times` moves or queries of the page containing `addr` give
  // status -err (times < 0: always).
  void FailPage(Pid pid, Vaddr addr, int err, int times = -1);
  // The next `times` calls for `pid` return -err.
  void FailCall(Pid pid, int err, int times = -1);

  // Node of the page containing `addr`, or -1.
  int NodeOf(Pid pid, Vaddr addr) const;
  uint64_t used_bytes(int node) const { return used_[static_cast<size_t>(node)]; }
  uint64_t free_bytes(int node) const {
    return capacity_[static_cast<size_t>(node)] - used_[static_cast<size_t>(node)];
  }
  uint64_t high_water_bytes(int node) const { return high_[static_cast<size_t>(node)]; }
  // Moves refused because the destination was full.
  uint64_t capacity_refusals() const { return refusals_; }
  const std::vector<Call>& calls() const { return calls_; }

  std::function<void()> on_move;

  long MovePages(Pid pid, absl::Span<const Vaddr> pages, absl::Span<const int> nodes,
                 absl::Span<int> status) override;

 private:
  struct Page {
    uint64_t bytes = 0;
    int node = 0;
  };
  struct Injection {
    int err = 0;
    int times = 0;  // < 0: forever
  };
  // Page containing `addr`, or pages_.end().
  std::map<std::pair<Pid, Vaddr>, Page>::iterator Find(Pid pid, Vaddr addr);
  static bool Consume(Injection& inj);

  std::vector<uint64_t> capacity_, used_, high_;
  std::map<std::pair<Pid, Vaddr>, Page> pages_;
  absl::flat_hash_set<Pid> processes_;
  absl::flat_hash_map<Pid, Injection> call_failures_;
  std::map<std::pair<Pid, Vaddr>, Injection> page_failures_;  // key: page start
  uint64_t refusals_ = 0;
  std::vector<Call> calls_;
};

}  // namespace tiervm::adapters

#endif  // TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_FAKE_MOVE_PAGES_H_
