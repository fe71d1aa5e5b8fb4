#include "daemon/hplaced/numa_balancing.h"

#include <utility>

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "daemon/adapters/sysctl.h"

namespace tiervm::hplaced {

NumaBalancingGuard::NumaBalancingGuard(const std::string& mode, std::string path)
    : path_(std::move(path)) {
  absl::StatusOr<int64_t> v = adapters::ReadSysctlInt(path_);
  if (!v.ok()) {
    state_.problem = v.status().ToString();
    // No file: a kernel without NUMA balancing, nothing to fight.
    if (absl::IsNotFound(v.status())) {
      spdlog::info("kernel.numa_balancing: {}", state_.problem);
    } else {
      spdlog::warn("kernel.numa_balancing: {}", state_.problem);
    }
    return;
  }
  state_.before = *v;
  if (*v == 0) return;
  if (mode != "off") {
    spdlog::warn("kernel.numa_balancing is {} and daemon.numa_balancing = \"{}\": the kernel "
                 "will move pages against hplaced's placement (and on 6.1 kernels make "
                 "move_pages fail with ENOENT)",
                 *v, mode);
    return;
  }
  if (absl::Status s = adapters::WriteSysctlInt(path_, 0); !s.ok()) {
    state_.problem = s.ToString();
    spdlog::warn("kernel.numa_balancing is {} and cannot be turned off ({}): the kernel will "
                 "move pages against hplaced's placement",
                 *v, state_.problem);
    return;
  }
  state_.turned_off = true;
  spdlog::info("kernel.numa_balancing was {}: set to 0 while hplaced runs", *v);
}

NumaBalancingGuard::~NumaBalancingGuard() { Restore().IgnoreError(); }

absl::Status NumaBalancingGuard::Restore() {
  if (!state_.turned_off) return absl::OkStatus();
  state_.turned_off = false;
  absl::StatusOr<int64_t> now = adapters::ReadSysctlInt(path_);
  if (!now.ok()) {
    state_.problem = now.status().ToString();
    spdlog::warn("kernel.numa_balancing not restored: {}", state_.problem);
    return now.status();
  }
  if (*now != 0) {
    spdlog::info("kernel.numa_balancing is {} now (set by someone else): left as it is", *now);
    return absl::OkStatus();
  }
  if (absl::Status s = adapters::WriteSysctlInt(path_, *state_.before); !s.ok()) {
    state_.problem = s.ToString();
    spdlog::warn("kernel.numa_balancing not restored to {}: {}", *state_.before, state_.problem);
    return s;
  }
  spdlog::info("kernel.numa_balancing restored to {}", *state_.before);
  return absl::OkStatus();
}

}  // namespace tiervm::hplaced
