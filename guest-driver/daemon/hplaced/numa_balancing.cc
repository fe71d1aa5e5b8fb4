#include "daemon/hplaced/numa_balancing.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "daemon/adapters/file_util.h"
#include "daemon/adapters/sysctl.h"

namespace tiervm::hplaced {

NumaBalancingGuard::NumaBalancingGuard(const std::string& mode, std::string sysctl_path,
                                       std::string state_path)
    : NumaBalancingGuard(mode == "off" ? Mode::kOff : Mode::kKeep, std::move(sysctl_path),
                         std::move(state_path)) {}

NumaBalancingGuard::NumaBalancingGuard(Mode mode, std::string sysctl_path,
                                       std::string state_path)
    : sysctl_path_(std::move(sysctl_path)), state_path_(std::move(state_path)) {
  const std::optional<int64_t> saved = LoadSaved();
  absl::StatusOr<int64_t> v = adapters::ReadSysctlInt(sysctl_path_);
  if (!v.ok()) {
    // The state file stays: with the sysctl unreadable nobody can tell
    // whose value it holds.
    Note(v.status());
    // No file: a kernel without NUMA balancing, nothing to fight.
    if (absl::IsNotFound(v.status())) {
      spdlog::info("kernel.numa_balancing: {}", state_.problem);
    } else {
      spdlog::warn("kernel.numa_balancing: {}", state_.problem);
    }
    return;
  }
  if (saved.has_value()) {
    if (*v == 0 && *saved != 0) {
      // The 0 is what a killed hplaced wrote; the value before it is in the
      // file.  Taking the 0 as the original would lose that value for good.
      state_.before = *saved;
      state_.turned_off = true;
      state_.adopted = true;
      spdlog::info("kernel.numa_balancing is 0 as a stopped hplaced left it; it was {} before "
                   "({})",
                   *saved, state_path_);
    } else {
      if (*v != *saved) {
        spdlog::info("kernel.numa_balancing is {}, set since an earlier hplaced saved {} in {}: "
                     "left as it is",
                     *v, *saved, state_path_);
      }
      RemoveSaved();
    }
  }
  if (!state_.adopted) state_.before = *v;

  if (mode != Mode::kOff) {
    // "keep" (or the restore-only mode) does not leave it off either when
    // a killed hplaced did.
    if (state_.adopted) Restore().IgnoreError();
    if (mode == Mode::kKeep && *state_.before != 0) {
      spdlog::warn("kernel.numa_balancing is {} and daemon.numa_balancing = \"keep\": the kernel "
                   "will move pages against hplaced's placement (and on 6.1 kernels make "
                   "move_pages fail with ENOENT)",
                   *state_.before);
    }
    return;
  }
  if (state_.adopted || *v == 0) return;  // off already; adopted: restored at exit
  // Saved before the write, so that no moment exists where the sysctl reads
  // our 0 and nothing says what it was.
  if (absl::Status s = Save(*v); !s.ok()) {
    Note(s);
    spdlog::warn("kernel.numa_balancing: cannot save {} ({}): it is put back at a clean exit, "
                 "but not after a SIGKILL",
                 *v, state_.problem);
  }
  if (absl::Status s = adapters::WriteSysctlInt(sysctl_path_, 0); !s.ok()) {
    Note(s);
    spdlog::warn("kernel.numa_balancing is {} and cannot be turned off ({}): the kernel will "
                 "move pages against hplaced's placement",
                 *v, state_.problem);
    RemoveSaved();
    return;
  }
  state_.turned_off = true;
  spdlog::info("kernel.numa_balancing was {}: set to 0 while hplaced runs", *v);
}

NumaBalancingGuard::~NumaBalancingGuard() { Restore().IgnoreError(); }

absl::Status NumaBalancingGuard::RestoreLeftOver(std::string sysctl_path,
                                                 std::string state_path) {
  NumaBalancingGuard g(Mode::kRestoreOnly, std::move(sysctl_path), std::move(state_path));
  // No sysctl (a kernel without NUMA balancing) is nothing to restore.
  if (absl::IsNotFound(g.last_error_)) return absl::OkStatus();
  return g.last_error_;
}

absl::Status NumaBalancingGuard::Restore() {
  if (!state_.turned_off) return absl::OkStatus();
  state_.turned_off = false;
  absl::StatusOr<int64_t> now = adapters::ReadSysctlInt(sysctl_path_);
  if (!now.ok()) {
    Note(now.status());
    spdlog::warn("kernel.numa_balancing not restored: {}", state_.problem);
    return now.status();
  }
  if (*now != 0) {
    spdlog::info("kernel.numa_balancing is {} now (set by someone else): left as it is", *now);
    RemoveSaved();
    return absl::OkStatus();
  }
  if (absl::Status s = adapters::WriteSysctlInt(sysctl_path_, *state_.before); !s.ok()) {
    Note(s);
    spdlog::warn("kernel.numa_balancing not restored to {}: {}", *state_.before, state_.problem);
    return s;
  }
  RemoveSaved();
  spdlog::info("kernel.numa_balancing restored to {}", *state_.before);
  return absl::OkStatus();
}

std::optional<int64_t> NumaBalancingGuard::LoadSaved() {
  // Same format as the sysctl: one integer and a newline.
  absl::StatusOr<int64_t> v = adapters::ReadSysctlInt(state_path_);
  if (v.ok()) return *v;
  if (absl::IsNotFound(v.status())) return std::nullopt;
  Note(v.status());
  spdlog::warn("kernel.numa_balancing state: {}", state_.problem);
  // A file that does not hold a number never will; one we cannot read
  // (permissions) may be somebody's: left alone.
  if (absl::IsInvalidArgument(v.status()) || absl::IsResourceExhausted(v.status())) {
    RemoveSaved();
  }
  return std::nullopt;
}

absl::Status NumaBalancingGuard::Save(int64_t value) {
  // The directory is the unit's RuntimeDirectory; started by hand, hplaced
  // makes it (one level, as systemd would).
  if (const size_t slash = state_path_.rfind('/'); slash != std::string::npos && slash > 0) {
    const std::string dir = state_path_.substr(0, slash);
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return adapters::ErrnoStatus(errno, "mkdir", dir);
    }
  }
  return adapters::WriteFileAtomically(state_path_, absl::StrCat(value, "\n"));
}

void NumaBalancingGuard::RemoveSaved() {
  if (::unlink(state_path_.c_str()) != 0 && errno != ENOENT) {
    Note(adapters::ErrnoStatus(errno, "unlink", state_path_));
    spdlog::warn("kernel.numa_balancing state: {}", state_.problem);
  }
}

void NumaBalancingGuard::Note(const absl::Status& s) {
  state_.problem = s.ToString();
  last_error_ = s;
}

}  // namespace tiervm::hplaced
