// PageLocator: where the pages of a process's address range live.
//
// The placement library asks, never looks: the daemon implements this with
// move_pages(2) in query mode plus /proc/PID/smaps for THP, the simulator and
// tests with InMemoryPageLocator.  Implementations are called from the
// planning thread only; they need no locking of their own.
#ifndef TIERVM_GUEST_DRIVER_PLACEMENT_PAGE_LOCATOR_H_
#define TIERVM_GUEST_DRIVER_PLACEMENT_PAGE_LOCATOR_H_

#include <cstdint>
#include <map>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "placement/types.h"

namespace tiervm::placement {

// One resident page: a 4 KiB base page or a 2 MiB THP (reported whole, at
// its aligned start, even if the query range covers part of it).
struct PageInfo {
  Vaddr addr = 0;
  uint64_t bytes = kBasePageBytes;
  Tier tier = Tier::kFmem;
};

// Resident bytes of a range per tier; pages not present count nowhere.
struct Residency {
  uint64_t fmem_bytes = 0;
  uint64_t smem_bytes = 0;
  uint64_t resident_bytes() const { return fmem_bytes + smem_bytes; }
};

class PageLocator {
 public:
  virtual ~PageLocator() = default;
  // NotFound if the process is gone; other errors are the adapter's.
  virtual absl::StatusOr<Residency> Locate(Pid pid, Vaddr start, Vaddr end) const = 0;
  // Calls `fn` for each resident page overlapping [start, end), ascending;
  // stops early when `fn` returns false.
  virtual absl::Status ForEachPage(
      Pid pid, Vaddr start, Vaddr end,
      absl::FunctionRef<bool(const PageInfo&)> fn) const = 0;
  // The same, for a caller that wants pages on `tier` only: it may still
  // be shown pages of the other tier (and must skip them), but a locator
  // that lists long ranges a part at a time lists the parts holding such
  // pages (the planner's CachingLocator).  Default: ForEachPage.
  virtual absl::Status ForEachPageOn(Pid pid, Vaddr start, Vaddr end, Tier tier,
                                     absl::FunctionRef<bool(const PageInfo&)> fn) const {
    (void)tier;
    return ForEachPage(pid, start, end, fn);
  }
};

// Residency of [start, end) summed from `locator.ForEachPage`, counting only
// each page's overlap with the range (so adjacent ranges add up).  For
// locators that hold every page anyway (in memory, simulated).
absl::StatusOr<Residency> SumResidency(const PageLocator& locator, Pid pid,
                                       Vaddr start, Vaddr end);

// A PageLocator over an explicit page table held in memory, for tests and
// the simulator.  Owns its page map; not thread-safe.
class InMemoryPageLocator final : public PageLocator {
 public:
  // Maps [start, end) with pages of `page_bytes` (4 KiB or 2 MiB, `start`
  // aligned to it) on `tier`, replacing nothing: overlapping an existing
  // page is a programmer error (CHECK).
  void AddPages(Pid pid, Vaddr start, Vaddr end, uint64_t page_bytes, Tier tier);
  // Moves the page starting at `addr`; NotFound if there is none.
  absl::Status Move(Pid pid, Vaddr addr, Tier tier);
  void RemoveProcess(Pid pid);
  // Resident bytes on `tier` over all processes.
  uint64_t BytesOn(Tier tier) const;

  absl::StatusOr<Residency> Locate(Pid pid, Vaddr start, Vaddr end) const override;
  absl::Status ForEachPage(Pid pid, Vaddr start, Vaddr end,
                           absl::FunctionRef<bool(const PageInfo&)> fn) const override;

 private:
  // (pid, page start) -> page.  std::map: ordered walks, stable, simple.
  std::map<std::pair<Pid, Vaddr>, PageInfo> pages_;
};

}  // namespace tiervm::placement

#endif  // TIERVM_GUEST_DRIVER_PLACEMENT_PAGE_LOCATOR_H_
