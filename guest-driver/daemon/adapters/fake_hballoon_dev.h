// FakeHballoonDev: an in-memory hballoon.ko for tests.
//
// It holds processes with pages (present, accessed, PMD-mapped) and
// implements HBALLOON_IOC_SCAN_YOUNG with the driver's documented semantics:
// the same argument checks (ValidateScanArgs), the page budget and the
// 64-page cut rule, bitmaps, counts, clearing unless NO_CLEAR, ESRCH for an
// unknown pid.  GetInfo returns `info`; SubmitStats records the messages.
// Errors can be injected per call.  Not thread-safe.
#ifndef TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_FAKE_HBALLOON_DEV_H_
#define TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_FAKE_HBALLOON_DEV_H_

#include <cstdint>
#include <deque>
#include <map>
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
  };

  // x86-64 4-level limit by default.
  uint64_t user_limit = (1ull << 47) - 4096;
  hballoon_info info{};
  std::vector<std::vector<virtio_hballoon_stat>> submitted;
  // Returned (and popped) by the next ScanYoung / SubmitStats / GetInfo
  // call before anything else happens, when not empty.
  std::deque<absl::Status> inject_errors;

  // Present 4 KiB pages [start, start + len) of `pid`, not young.
  void Map(placement::Pid pid, placement::Vaddr start, uint64_t len_bytes);
  // A 2 MiB PMD-mapped THP at `start` (2 MiB aligned).
  void MapHuge(placement::Pid pid, placement::Vaddr start);
  void Unmap(placement::Pid pid, placement::Vaddr start, uint64_t len_bytes);
  // Sets the accessed bit of the page holding `addr` (of its whole PMD for
  // a THP, as the hardware would).  No-op if not present.
  void Touch(placement::Pid pid, placement::Vaddr addr);
  void Exit(placement::Pid pid) { procs_.erase(pid); }
  bool IsYoung(placement::Pid pid, placement::Vaddr addr) const;

  uint64_t scan_calls() const { return scan_calls_; }
  uint64_t scanned_pages() const { return scanned_pages_; }

  absl::StatusOr<hballoon_info> GetInfo() override;
  absl::StatusOr<uint32_t> SubmitStats(absl::Span<const virtio_hballoon_stat> stats) override;
  absl::Status ScanYoung(hballoon_scan& scan, absl::Span<hballoon_scan_range> ranges) override;

 private:
  // Page number (vaddr / 4096) -> state.
  std::map<placement::Pid, std::map<uint64_t, Page>> procs_;
  uint64_t scan_calls_ = 0;
  uint64_t scanned_pages_ = 0;
  uint32_t seq_ = 0;
};

}  // namespace tiervm::adapters

#endif  // TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_FAKE_HBALLOON_DEV_H_
