// HballoonDev: the /dev/hballoon ioctls of hballoon.ko as a small interface.
//
//   GetInfo       HBALLOON_IOC_GET_INFO       balloon state per node
//   SubmitStats   HBALLOON_IOC_SUBMIT_STATS   telemetry records to the host
//   ScanYoung     HBALLOON_IOC_SCAN_YOUNG     accessed-bit scan of a process
//   Locate        HBALLOON_IOC_LOCATE         which pages of a process are on a node
//
// The structures are the uapi ones (<linux/hballoon.h>); this layer only
// checks arguments (the same rules as the driver, so a bad request never
// reaches the kernel and the fake rejects exactly what the driver would)
// and turns errno into absl::Status:
//
//   EINVAL, EFAULT -> InvalidArgument     ESRCH      -> NotFound
//   ENODEV, EIO, ENOENT -> Unavailable    ETIMEDOUT  -> DeadlineExceeded
//   ENOTTY, EOPNOTSUPP  -> Unimplemented (a driver without this ioctl)
//   EINTR          -> Aborted              EPERM/EACCES -> PermissionDenied
//   ENOMEM         -> ResourceExhausted    other      -> Internal
// Every message names the ioctl and the errno.
//
// LinuxHballoonDev owns one open file descriptor.  FakeHballoonDev
// (fake_hballoon_dev.h) simulates the driver for tests.  Neither is
// thread-safe: use one object from one thread, or lock around it.
#ifndef TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_HBALLOON_DEV_H_
#define TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_HBALLOON_DEV_H_

#include <linux/hballoon.h>
#include <linux/virtio_hballoon.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace tiervm::adapters {

// Words (uint64_t) of a scan bitmap for a range of `len_bytes`.
inline constexpr uint64_t ScanBitmapWords(uint64_t len_bytes) {
  return (len_bytes / 4096 + HBALLOON_SCAN_CHUNK_PAGES - 1) / HBALLOON_SCAN_CHUNK_PAGES;
}

// The driver's argument rules for HBALLOON_IOC_SCAN_YOUNG, in user space
// (everything but the pointers and the pid's existence): flags only
// HBALLOON_SCAN_F_NO_CLEAR, node and reserved zero, and the range rules.
// `ranges` is what scan.ranges_ptr points to (its size must equal
// scan.num_ranges).  `user_limit` is the exclusive upper bound of user
// addresses (x86-64: 0x7ffffffff000 with 4-level paging, 0x00fffffffffff000
// with 5-level).
absl::Status ValidateScanArgs(const hballoon_scan& scan,
                              absl::Span<const hballoon_scan_range> ranges,
                              uint64_t user_limit);

// The same for HBALLOON_IOC_LOCATE: flags zero, reserved zero, node >= 0,
// and the range rules.  Whether the node is below MAX_NUMNODES and online
// only the kernel knows (the fake checks its own set of online nodes).
absl::Status ValidateLocateArgs(const hballoon_scan& scan,
                                absl::Span<const hballoon_scan_range> ranges,
                                uint64_t user_limit);

// Maps an errno of `ioctl_name` to a Status as described above.
absl::Status HballoonErrnoToStatus(int err, const char* ioctl_name);

class HballoonDev {
 public:
  virtual ~HballoonDev() = default;

  virtual absl::StatusOr<hballoon_info> GetInfo() = 0;

  // Sends 1..VIRTIO_HBALLOON_MAX_STATS records (little-endian, as on the
  // wire) as one message; returns the sequence number it carried.
  virtual absl::StatusOr<uint32_t> SubmitStats(
      absl::Span<const virtio_hballoon_stat> stats) = 0;

  // One HBALLOON_IOC_SCAN_YOUNG call.  `scan.num_ranges` and
  // `scan.ranges_ptr` are filled in here from `ranges` (the caller's values
  // are ignored); the bitmap pointers in `ranges` are the caller's.  On
  // success the out fields of `scan` and `ranges` are set.
  virtual absl::Status ScanYoung(hballoon_scan& scan,
                                 absl::Span<hballoon_scan_range> ranges) = 0;

  // One HBALLOON_IOC_LOCATE call, with the same contract as ScanYoung:
  // `scan.node` is the node asked about, bitmap_ptr receives that node's
  // pages, young_pages counts them.  Unimplemented from a driver without
  // the ioctl (ENOTTY).
  virtual absl::Status Locate(hballoon_scan& scan, absl::Span<hballoon_scan_range> ranges) = 0;
};

// The real device.  Open("/dev/hballoon") needs CAP_SYS_ADMIN.  ScanYoung
// and Locate check the arguments against placement::kUserVaddrLimit (the
// widest x86-64 limit); the driver applies the machine's own limit.
class LinuxHballoonDev final : public HballoonDev {
 public:
  static absl::StatusOr<std::unique_ptr<LinuxHballoonDev>> Open(
      const std::string& path = "/dev/hballoon");
  ~LinuxHballoonDev() override;
  LinuxHballoonDev(const LinuxHballoonDev&) = delete;
  LinuxHballoonDev& operator=(const LinuxHballoonDev&) = delete;

  absl::StatusOr<hballoon_info> GetInfo() override;
  absl::StatusOr<uint32_t> SubmitStats(absl::Span<const virtio_hballoon_stat> stats) override;
  absl::Status ScanYoung(hballoon_scan& scan, absl::Span<hballoon_scan_range> ranges) override;
  absl::Status Locate(hballoon_scan& scan, absl::Span<hballoon_scan_range> ranges) override;

 private:
  explicit LinuxHballoonDev(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace tiervm::adapters

#endif  // TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_HBALLOON_DEV_H_
