// FakeHballoonDev: an in-memory hballoon.ko for tests.
//
// It holds processes with pages (present, accessed, PMD-mapped, node, the
// shared zero page) and implements HBALLOON_IOC_SCAN_YOUNG and
// HBALLOON_IOC_LOCATE with the driver's documented semantics: the same
// argument checks (ValidateScanArgs / ValidateLocateArgs, plus LOCATE's
// node must be in `online_nodes`), one walk shared by both (page budget,
// 64-page cut rule, resume point, bitmaps, counts), clearing unless
// NO_CLEAR, ESRCH for an unknown pid.  A zero page is present for
// SCAN_YOUNG and not present for LOCATE.  GetInfo returns `info`;
// SubmitStats records the messages.  Errors can be injected per call.
// Not thread-safe.
#ifndef TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_FAKE_HBALLOON_DEV_H_
#define TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_FAKE_HBALLOON_DEV_H_

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <vector>

#include "absl/status/status.h"
#include "daemon/adapters/hballoon_dev.h"
#include "placement/types.h"

namespace tiervm::adapters {

class FakeHballoonDev final : public HballoonDev {
 public:
  struct Page {
    bool young = false;
    bool huge = false;  // part of a PMD-mapped THP (set by MapHuge)
    int node = 0;       // NUMA node of the page's memory
    bool zero = false;  // the shared (huge) zero page: on no node
  };

  // x86-64 4-level limit by default.
  uint64_t user_limit = (1ull << 47) - 4096;
  hballoon_info info{};
  std::vector<std::vector<virtio_hballoon_stat>> submitted;
  // Nodes HBALLOON_IOC_LOCATE accepts (the kernel's online nodes).
  std::set<int> online_nodes = {0, 1};
  // Returned (and popped) by the next ScanYoung / Locate / SubmitStats /
  // GetInfo call before anything else happens, when not empty.
  std::deque<absl::Status> inject_errors;

  // Present 4 KiB pages [start, start + len) of `pid` on `node`, not young.
  void Map(placement::Pid pid, placement::Vaddr start, uint64_t len_bytes, int node = 0);
  // A 2 MiB PMD-mapped THP at `start` (2 MiB aligned) on `node`.
  void MapHuge(placement::Pid pid, placement::Vaddr start, int node = 0);
  // [start, start + len) mapped to the shared zero page (a read fault on
  // anonymous memory), or a 2 MiB huge zero page at `start`.
  void MapZero(placement::Pid pid, placement::Vaddr start, uint64_t len_bytes);
  void MapHugeZero(placement::Pid pid, placement::Vaddr start);
  // Migrates the page holding `addr` to `node` (a THP moves whole, as
  // move_pages moves a PMD-mapped THP).  NotFound when nothing is mapped
  // there, FailedPrecondition for a zero page.
  absl::Status Move(placement::Pid pid, placement::Vaddr addr, int node);
  void Unmap(placement::Pid pid, placement::Vaddr start, uint64_t len_bytes);
  // Sets the accessed bit of the page holding `addr` (of its whole PMD for
  // a THP, as the hardware would).  No-op if not present.
  void Touch(placement::Pid pid, placement::Vaddr addr);
  void Exit(placement::Pid pid) { procs_.erase(pid); }
  bool IsYoung(placement::Pid pid, placement::Vaddr addr) const;

  uint64_t scan_calls() const { return scan_calls_; }
  uint64_t scanned_pages() const { return scanned_pages_; }
  // HBALLOON_IOC_LOCATE calls that passed the argument checks, and the
  // address space they walked (4 KiB pages).
  uint64_t locate_calls() const { return locate_calls_; }
  uint64_t located_pages() const { return located_pages_; }

  absl::StatusOr<hballoon_info> GetInfo() override;
  absl::StatusOr<uint32_t> SubmitStats(absl::Span<const virtio_hballoon_stat> stats) override;
  absl::Status ScanYoung(hballoon_scan& scan, absl::Span<hballoon_scan_range> ranges) override;
  absl::Status Locate(hballoon_scan& scan, absl::Span<hballoon_scan_range> ranges) override;

 private:
  enum class Op { kScanYoung, kLocate };
  // The driver's walk, shared by both ioctls (arguments already checked).
  absl::Status Walk(Op op, hballoon_scan& scan, absl::Span<hballoon_scan_range> ranges);
  absl::Status PopInjected();

  // Page number (vaddr / 4096) -> state.
  std::map<placement::Pid, std::map<uint64_t, Page>> procs_;
  uint64_t scan_calls_ = 0;
  uint64_t scanned_pages_ = 0;
  uint64_t locate_calls_ = 0;
  uint64_t located_pages_ = 0;
  uint32_t seq_ = 0;
};

}  // namespace tiervm::adapters

#endif  // TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_FAKE_HBALLOON_DEV_H_
