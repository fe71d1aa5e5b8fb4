// The move_pages(2) adapters: a thin syscall interface, the executor that
// applies an ExchangePlan with it, and a PageLocator that queries it.
//
//   PageMoveSyscall         the one syscall; LinuxPageMoveSyscall is the
//                           real one, FakePageMoveSyscall (fake_move_pages.h)
//                           simulates nodes, capacity and failures for tests
//   MovePagesExecutor       ExchangePlan -> move_pages batches -> report
//   MovePagesLocator        PageLocator via move_pages query mode (nodes=NULL)
//
// Thread-safety: none of these keep shared state beyond what the caller
// owns; use each object from one thread (the daemon's policy thread).
#ifndef TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_MOVE_PAGES_H_
#define TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_MOVE_PAGES_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "placement/exchange_planner.h"
#include "placement/page_locator.h"
#include "placement/types.h"

namespace tiervm::adapters {

using placement::Pid;
using placement::Vaddr;

// move_pages(2) for one process.  `pages`, `status` have the same length;
// `nodes` is either empty (query mode: status gets each page's node or a
// negative errno) or the same length (move mode, MPOL_MF_MOVE: only pages
// mapped by this process alone move).  Returns what the kernel returns: 0,
// a positive count of pages not migrated, or -errno when the whole call
// failed (ESRCH, EPERM, EACCES, EINVAL, ENODEV, ENOMEM, E2BIG, ...), in which
// case `status` is unspecified.
class PageMoveSyscall {
 public:
  virtual ~PageMoveSyscall() = default;
  virtual long MovePages(Pid pid, absl::Span<const Vaddr> pages, absl::Span<const int> nodes,
                         absl::Span<int> status) = 0;
};

// The real syscall (raw SYS_move_pages; no libnuma).  pid 0 is the caller.
class LinuxPageMoveSyscall final : public PageMoveSyscall {
 public:
  long MovePages(Pid pid, absl::Span<const Vaddr> pages, absl::Span<const int> nodes,
                 absl::Span<int> status) override;
};

// ------------------------------------------------------------- executor --

struct MoverConfig {
  // Pages per move_pages call (the kernel walks them in chunks anyway; this
  // bounds the arrays and the time the process's mmap lock is held).
  size_t max_batch_pages = 1024;
  // ... and at most this many bytes (a call holds at least one page
  // whatever its size); 0: no bound.  1,024 THPs are 2 GiB of copying.
  uint64_t max_batch_bytes = 0;
  // Asked before every move_pages call; true stops execution there
  // (MoverStop::kBudget, the rest counted not attempted) -- except that
  // the promotions of the round under way still fill what its applied
  // demotions freed (under the deficit rule below): a demotion without
  // its promotion is a migration that bought nothing.  The daemon sizes a
  // plan to its CPU allowance from a cost estimate; this bounds what a
  // wrong estimate can overspend to about two batches.  Empty: never stop.
  std::function<bool()> out_of_budget;
};

enum class MoverStop : uint8_t {
  kDone,       // every round was attempted
  kNoMemory,   // ENOMEM (per page or whole call): the rest was not tried
  kFatal,      // EINVAL/ENODEV/E2BIG: a bug in the plan or the node config
  kBudget,     // MoverConfig::out_of_budget said stop: the rest was not tried
};

struct MoverResult {
  placement::ExecutionReport report;
  MoverStop stop = MoverStop::kDone;
  absl::Status fatal;  // set with kFatal
  // EBUSY/EAGAIN moves, for the next tick (the planner may re-plan them).
  std::vector<placement::PageMove> retry;
  // Not applied for another reason (EACCES: shared page, EPERM, a page
  // found on neither the source nor the destination node, ...).
  uint64_t other_failed = 0;
  // Moves not attempted after an ENOMEM/fatal stop.
  uint64_t not_attempted = 0;
  // The moves that applied, in the order they did.
  std::vector<placement::PageMove> applied;
  // Promotions not applied, whatever the reason (not attempted, skipped,
  // busy, failed): for TickOutcome::unapplied_promotions.
  std::vector<placement::PageMove> unapplied_promotions;
  uint64_t syscalls = 0;
};

// Applies an ExchangePlan round by round: demotions first, then the round's
// promotions, each batched by (destination node, pid) in address order.
//
// FMEM safety: the executor tracks `deficit`, how much less FMEM is free
// than the plan assumed at this point (a failed demotion adds its bytes, a
// failed or skipped promotion takes its bytes back).  A promotion is issued
// only while the deficit is <= 0, so the free FMEM after it is at least what
// the plan had there -- and the plan never goes below the headroom.  When
// all of a round's demotions fail, its promotions are therefore skipped
// (those not funded by slack the plan had).  `report.skipped` counts them.
class MovePagesExecutor {
 public:
  MovePagesExecutor(PageMoveSyscall& syscall, const MoverConfig& config)
      : syscall_(syscall), config_(config) {}

  MoverResult Execute(const placement::ExchangePlan& plan);

 private:
  enum class Outcome : uint8_t { kApplied, kBusy, kGone, kNoMem, kOther, kNotTried };
  // Issues `moves` (one destination node), fills `outcomes`; returns false
  // when execution must stop (ENOMEM or fatal), recorded in `result`.
  // `check_budget`: ask config_.out_of_budget before each call.
  bool Apply(absl::Span<const placement::PageMove> moves, bool check_budget,
             std::vector<Outcome>& outcomes,
             MoverResult& result);

  PageMoveSyscall& syscall_;
  MoverConfig config_;
};

// -------------------------------------------------------------- locator --

struct LocatorConfig {
  int fmem_node = 0;
  int smem_node = 1;
  size_t batch_pages = 1024;
  // Locate() queries every 4 KiB page of ranges up to this many pages and
  // a stratified sample of `sample_pages` of larger ones, scaled up (a sparse 1 TiB heap
  // reservation must not cost 2^28 lookups).
  size_t max_exact_pages = 1 << 18;  // 1 GiB
  size_t sample_pages = 1 << 16;
};

// PageLocator over move_pages query mode.  Reports 4 KiB pages: THPs are
// not recognised yet (each of their base pages is reported; see README).
// Pages on nodes other than fmem_node/smem_node count nowhere.
// NotFound when the process is gone (ESRCH); PermissionDenied on EPERM/
// EACCES; Internal for other whole-call errors.
class MovePagesLocator final : public placement::PageLocator {
 public:
  MovePagesLocator(PageMoveSyscall& syscall, const LocatorConfig& config)
      : syscall_(syscall), config_(config) {}

  absl::StatusOr<placement::Residency> Locate(Pid pid, Vaddr start, Vaddr end) const override;
  absl::Status ForEachPage(Pid pid, Vaddr start, Vaddr end,
                           absl::FunctionRef<bool(const placement::PageInfo&)> fn) const override;

 private:
  // Queries `pages`, writing node-or-errno into `status`.
  absl::Status Query(Pid pid, absl::Span<const Vaddr> pages, absl::Span<int> status) const;

  PageMoveSyscall& syscall_;
  LocatorConfig config_;
};

}  // namespace tiervm::adapters

#endif  // TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_MOVE_PAGES_H_
