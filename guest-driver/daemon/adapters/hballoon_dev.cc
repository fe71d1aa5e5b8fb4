#include "daemon/adapters/hballoon_dev.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "placement/types.h"

namespace tiervm::adapters {

static_assert(sizeof(hballoon_scan) == HBALLOON_SCAN_SIZE);
static_assert(sizeof(hballoon_scan_range) == HBALLOON_SCAN_RANGE_SIZE);
static_assert(sizeof(hballoon_info) == HBALLOON_INFO_SIZE);
static_assert(sizeof(hballoon_stats_submit) == HBALLOON_STATS_SUBMIT_SIZE);
static_assert(sizeof(virtio_hballoon_stat) == VIRTIO_HBALLOON_STAT_SIZE);

namespace {

// The rules both ioctls share; `what` names the ioctl in messages.
absl::Status ValidateCommon(const char* what, const hballoon_scan& scan,
                            absl::Span<const hballoon_scan_range> ranges, uint64_t user_limit) {
  const std::string w = what;
  if (scan.reserved != 0) return absl::InvalidArgumentError(w + ": reserved field not zero");
  if (scan.pid <= 0) return absl::InvalidArgumentError(absl::StrCat(w, ": bad pid ", scan.pid));
  if (scan.num_ranges == 0 || scan.num_ranges > HBALLOON_SCAN_MAX_RANGES) {
    return absl::InvalidArgumentError(
        absl::StrCat(w, ": num_ranges ", scan.num_ranges, " not in 1..", HBALLOON_SCAN_MAX_RANGES));
  }
  if (ranges.size() != scan.num_ranges) {
    return absl::InvalidArgumentError(
        absl::StrCat(w, ": num_ranges ", scan.num_ranges, " but ", ranges.size(), " ranges"));
  }
  if (scan.max_pages % HBALLOON_SCAN_CHUNK_PAGES != 0 || scan.max_pages > HBALLOON_SCAN_MAX_PAGES) {
    return absl::InvalidArgumentError(absl::StrCat(w, ": max_pages ", scan.max_pages,
                                                   " not a multiple of 64 up to ",
                                                   HBALLOON_SCAN_MAX_PAGES));
  }
  uint64_t prev_end = 0;
  for (size_t i = 0; i < ranges.size(); ++i) {
    const hballoon_scan_range& r = ranges[i];
    const std::string where = absl::StrCat(w, " range ", i, ": ");
    if (r.reserved != 0) return absl::InvalidArgumentError(where + "reserved field not zero");
    if (r.len == 0) return absl::InvalidArgumentError(where + "empty");
    if (r.start % 4096 != 0 || r.len % 4096 != 0) {
      return absl::InvalidArgumentError(where + "not page aligned");
    }
    if (r.start + r.len < r.start || r.start + r.len > user_limit) {
      return absl::InvalidArgumentError(where + "beyond the user address limit");
    }
    if (r.start < prev_end) {
      return absl::InvalidArgumentError(where + "not ascending or overlaps the previous range");
    }
    prev_end = r.start + r.len;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateScanArgs(const hballoon_scan& scan,
                              absl::Span<const hballoon_scan_range> ranges,
                              uint64_t user_limit) {
  if (scan.flags & ~HBALLOON_SCAN_F_NO_CLEAR) {
    return absl::InvalidArgumentError(absl::StrCat("scan: unknown flags 0x", absl::Hex(scan.flags)));
  }
  if (scan.node != 0) {
    return absl::InvalidArgumentError(absl::StrCat("scan: node ", scan.node, " not zero"));
  }
  return ValidateCommon("scan", scan, ranges, user_limit);
}

absl::Status ValidateLocateArgs(const hballoon_scan& scan,
                                absl::Span<const hballoon_scan_range> ranges,
                                uint64_t user_limit) {
  if (scan.flags != 0) {
    return absl::InvalidArgumentError(absl::StrCat("locate: flags 0x", absl::Hex(scan.flags),
                                                   " not zero"));
  }
  if (scan.node < 0) {
    return absl::InvalidArgumentError(absl::StrCat("locate: negative node ", scan.node));
  }
  return ValidateCommon("locate", scan, ranges, user_limit);
}

absl::Status HballoonErrnoToStatus(int err, const char* ioctl_name) {
  std::string msg = absl::StrCat(ioctl_name, ": ", std::string(strerror(err)), " (errno ", err, ")");
  switch (err) {
    case 0:
      return absl::OkStatus();
    case EINVAL:
    case EFAULT:
      return absl::InvalidArgumentError(msg);
    case ESRCH:
      return absl::NotFoundError(msg);
    case ENODEV:
    case EIO:
    case ENOENT:
      return absl::UnavailableError(msg);
    case ETIMEDOUT:
      return absl::DeadlineExceededError(msg);
    case ENOTTY:
    case EOPNOTSUPP:
      return absl::UnimplementedError(msg);
    case EINTR:
      return absl::AbortedError(msg);
    case EPERM:
    case EACCES:
      return absl::PermissionDeniedError(msg);
    case ENOMEM:
      return absl::ResourceExhaustedError(msg);
    default:
      return absl::InternalError(msg);
  }
}

absl::StatusOr<std::unique_ptr<LinuxHballoonDev>> LinuxHballoonDev::Open(const std::string& path) {
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    return HballoonErrnoToStatus(err, ("open " + path).c_str());
  }
  return std::unique_ptr<LinuxHballoonDev>(new LinuxHballoonDev(fd));
}

LinuxHballoonDev::~LinuxHballoonDev() { close(fd_); }

absl::StatusOr<hballoon_info> LinuxHballoonDev::GetInfo() {
  hballoon_info info{};
  if (ioctl(fd_, HBALLOON_IOC_GET_INFO, &info) != 0) {
    return HballoonErrnoToStatus(errno, "HBALLOON_IOC_GET_INFO");
  }
  return info;
}

absl::StatusOr<uint32_t> LinuxHballoonDev::SubmitStats(
    absl::Span<const virtio_hballoon_stat> stats) {
  if (stats.empty() || stats.size() > VIRTIO_HBALLOON_MAX_STATS) {
    return absl::InvalidArgumentError(absl::StrCat("HBALLOON_IOC_SUBMIT_STATS: ", stats.size(),
                                                   " records, want 1..", VIRTIO_HBALLOON_MAX_STATS));
  }
  hballoon_stats_submit req{};
  req.num_stats = static_cast<uint32_t>(stats.size());
  req.stats_ptr = reinterpret_cast<uintptr_t>(stats.data());
  if (ioctl(fd_, HBALLOON_IOC_SUBMIT_STATS, &req) != 0) {
    return HballoonErrnoToStatus(errno, "HBALLOON_IOC_SUBMIT_STATS");
  }
  return req.seq;
}

absl::Status LinuxHballoonDev::ScanYoung(hballoon_scan& scan,
                                         absl::Span<hballoon_scan_range> ranges) {
  scan.num_ranges = static_cast<uint32_t>(ranges.size());
  scan.ranges_ptr = reinterpret_cast<uintptr_t>(ranges.data());
  if (absl::Status s = ValidateScanArgs(scan, ranges, placement::kUserVaddrLimit); !s.ok()) {
    return s;
  }
  if (ioctl(fd_, HBALLOON_IOC_SCAN_YOUNG, &scan) != 0) {
    return HballoonErrnoToStatus(errno, "HBALLOON_IOC_SCAN_YOUNG");
  }
  return absl::OkStatus();
}

absl::Status LinuxHballoonDev::Locate(hballoon_scan& scan, absl::Span<hballoon_scan_range> ranges) {
  scan.num_ranges = static_cast<uint32_t>(ranges.size());
  scan.ranges_ptr = reinterpret_cast<uintptr_t>(ranges.data());
  if (absl::Status s = ValidateLocateArgs(scan, ranges, placement::kUserVaddrLimit); !s.ok()) {
    return s;
  }
  if (ioctl(fd_, HBALLOON_IOC_LOCATE, &scan) != 0) {
    return HballoonErrnoToStatus(errno, "HBALLOON_IOC_LOCATE");
  }
  return absl::OkStatus();
}

}  // namespace tiervm::adapters
