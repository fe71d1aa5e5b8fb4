// HballoonPageLocator: placement::PageLocator over HBALLOON_IOC_LOCATE.
//
// Why: MovePagesLocator asks move_pages(2) in query mode, which walks the
// page tables and takes (and drops) a reference on every 4 KiB page, one
// page at a time; under TCG that was ~90% of hplaced's CPU.  The driver's
// walk reads one PTE per base page and one PMD per THP, fills a bitmap per
// node, and recognises THPs (move_pages reports their base pages).
//
// How: a range is rounded outward to 4 KiB pages, clamped to
// `user_vaddr_limit` (no user page lies above it) and walked in chunks of
// at most `max_pages_per_call` pages (the driver's budget and its 64-page
// cut/resume rule).  Each chunk costs two ioctls over the same ranges:
// one for `fmem_node`, one for `smem_node` (the second asks for exactly
// the part the first one covered).  Pages on a third node or not present
// (holes, the shared zero page, VM_IO/PFNMAP/hugetlbfs) count nowhere.
// The two calls are not one snapshot: a page that migrates between them
// may show up in both bitmaps; it is then counted once, on the tier of the
// second (newer) answer, SMEM.
//
//   Locate       exact (no sampling) residency per tier, counting only each
//                page's overlap with [start, end) (adjacent ranges add up)
//   LocateMany   the same for several ascending ranges of one process,
//                packing up to `ranges_per_call` ranges into each ioctl
//   ForEachPage  ascending; base pages as 4 KiB PageInfo, PMD-mapped pages
//                once as a 2 MiB PageInfo at the 2 MiB-aligned start (also
//                when the THP starts before `start` or spans two chunks)
//
// Errors: NotFound when the process is gone (ESRCH); the device's other
// errors (Unimplemented from a module without LOCATE, Unavailable, ...)
// keep their code and gain the pid and range as context.
//
// Owns: its configuration, bitmap scratch buffers (at most
// 4 * max_pages_per_call / 8 bytes) and the counters.  Borrows the
// HballoonDev, which must outlive it.  Units: addresses and lengths in
// bytes, counters in 4 KiB pages and calls.  Not thread-safe (mutable
// scratch and counters, and HballoonDev is not): use it from the planning
// thread only, like every PageLocator.
#ifndef TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_HBALLOON_LOCATOR_H_
#define TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_HBALLOON_LOCATOR_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "daemon/adapters/hballoon_dev.h"
#include "placement/page_locator.h"
#include "placement/types.h"

namespace tiervm::adapters {

struct HballoonLocatorConfig {
  int fmem_node = 0;
  int smem_node = 1;
  // Address space per ioctl, 4 KiB pages: a multiple of 64, 64 ..
  // HBALLOON_SCAN_MAX_PAGES.  Bounds the time the process's mmap lock is
  // held per call and the bitmap memory.
  uint32_t max_pages_per_call = HBALLOON_SCAN_MAX_PAGES;
  // Ranges per ioctl (LocateMany), 1 .. HBALLOON_SCAN_MAX_RANGES.
  uint32_t ranges_per_call = HBALLOON_SCAN_MAX_RANGES;
  // Exclusive upper bound of user addresses, page aligned (x86-64 4-level
  // paging by default; 0x00fffffffffff000 with 5-level).  Ranges are
  // clipped to it: the driver rejects ranges beyond its own limit.
  uint64_t user_vaddr_limit = 0x7ffffffff000ull;
};

// InvalidArgument naming the first bad field.
absl::Status ValidateHballoonLocatorConfig(const HballoonLocatorConfig& config);

class HballoonPageLocator final : public placement::PageLocator {
 public:
  // `dev` must outlive the locator.  InvalidArgument for a bad config.
  static absl::StatusOr<std::unique_ptr<HballoonPageLocator>> Create(
      HballoonDev& dev, const HballoonLocatorConfig& config);

  absl::StatusOr<placement::Residency> Locate(placement::Pid pid, placement::Vaddr start,
                                              placement::Vaddr end) const override;
  absl::Status ForEachPage(placement::Pid pid, placement::Vaddr start, placement::Vaddr end,
                           absl::FunctionRef<bool(const placement::PageInfo&)> fn) const override;

  // Residency of each [first, second) of `ranges` (ascending, not
  // overlapping; empty ones allowed and give zero), as Locate would give
  // it, in fewer ioctls.  InvalidArgument when not ascending.
  absl::StatusOr<std::vector<placement::Residency>> LocateMany(
      placement::Pid pid,
      absl::Span<const std::pair<placement::Vaddr, placement::Vaddr>> ranges) const;

  // Address space covered by the ioctls so far, in 4 KiB pages, summed
  // over calls (a chunk asked for two nodes counts twice): the daemon's
  // CPU cost per page is its CPU time over this.
  uint64_t pages_walked() const { return pages_walked_; }
  // Successful HBALLOON_IOC_LOCATE calls so far.
  uint64_t calls() const { return calls_; }
  const HballoonLocatorConfig& config() const { return config_; }

 private:
  // One walked piece: `pages` 4 KiB pages from `start`, with per-page
  // bitmaps (bit i = page start + i * 4096) of the FMEM node, the SMEM node
  // and PMD-mapped pages (null when not asked for).
  struct Chunk {
    placement::Vaddr start = 0;
    uint64_t pages = 0;
    const uint64_t* fmem = nullptr;
    const uint64_t* smem = nullptr;
    const uint64_t* huge = nullptr;
  };

  HballoonPageLocator(HballoonDev& dev, const HballoonLocatorConfig& config)
      : dev_(dev), config_(config) {}

  // Walks the page-aligned, ascending, disjoint `ranges` ([start, end)) in
  // order, calling `fn` per chunk; stops early when `fn` returns false.
  absl::Status Walk(placement::Pid pid,
                    absl::Span<const std::pair<placement::Vaddr, placement::Vaddr>> ranges,
                    bool want_huge, absl::FunctionRef<bool(const Chunk&)> fn) const;
  // One ioctl for `node`; adds the context to errors and counts.
  absl::Status Call(placement::Pid pid, int node, uint32_t max_pages,
                    std::vector<hballoon_scan_range>& ranges, hballoon_scan& scan) const;

  HballoonDev& dev_;
  const HballoonLocatorConfig config_;
  mutable std::vector<uint64_t> fmem_words_, smem_words_, huge_words_, huge2_words_;
  mutable uint64_t pages_walked_ = 0;
  mutable uint64_t calls_ = 0;
};

}  // namespace tiervm::adapters

#endif  // TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_HBALLOON_LOCATOR_H_
