#include "daemon/adapters/sysctl.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "daemon/adapters/file_util.h"

namespace tiervm::adapters {

absl::StatusOr<int64_t> ReadSysctlInt(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileBounded(path, 64);
  if (!text.ok()) return text.status();
  int64_t v = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &v)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": expected one integer, got \"", absl::CEscape(*text), "\""));
  }
  return v;
}

absl::Status WriteSysctlInt(const std::string& path, int64_t value) {
  // No O_TRUNC: the value is written first and the rest cut after, so a
  // file (a test's stand-in for /proc/sys, or a copy kept elsewhere) is
  // never seen empty by a reader or left empty by a kill in between.
  // procfs ignores both the offset and the truncation.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open", path);
  const std::string text = absl::StrCat(value, "\n");
  ssize_t n;
  do {
    n = ::write(fd, text.data(), text.size());
  } while (n < 0 && errno == EINTR);
  const int err = errno;
  // Regular files only; a sysctl file refuses it, which is fine.
  if (n == static_cast<ssize_t>(text.size())) (void)!::ftruncate(fd, n);
  ::close(fd);
  if (n < 0) return ErrnoStatus(err, "write", path);
  if (static_cast<size_t>(n) != text.size()) {
    return absl::InternalError(absl::StrCat("write ", path, ": short write"));
  }
  return absl::OkStatus();
}

}  // namespace tiervm::adapters
