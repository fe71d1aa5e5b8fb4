#include "adapters/vm_source.h"

#include "absl/strings/str_cat.h"

namespace tiervm::agent {

using json = nlohmann::json;

absl::StatusOr<std::vector<qmp::HballoonInfo>> QueryHballoon(
    VmMonitor& monitor, int timeout_ms) {
  absl::StatusOr<json> ret =
      monitor.Execute(qmp::kQueryHballoonCmd, json(), timeout_ms);
  if (!ret.ok()) return ret.status();
  return qmp::ParseQueryHballoon(*ret);
}

namespace {
absl::Status ExpectEmpty(std::string_view cmd, const absl::StatusOr<json>& r) {
  if (!r.ok()) return r.status();
  if (!r->is_object() || !r->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("QMP ", std::string(cmd), ": return is not {}"));
  }
  return absl::OkStatus();
}
}  // namespace

absl::Status SetHballoonTarget(VmMonitor& monitor, std::string_view device_id,
                               uint32_t node, uint64_t balloon_target_bytes,
                               int timeout_ms) {
  if (device_id.empty()) return absl::InvalidArgumentError("device id empty");
  if (node >= qmp::kMaxHballoonNodes) {
    return absl::InvalidArgumentError(absl::StrCat("node ", node, " out of range"));
  }
  const json args = {{"id", std::string(device_id)},
                     {"node", node},
                     {"target", balloon_target_bytes}};
  return ExpectEmpty(qmp::kSetTargetCmd,
                     monitor.Execute(qmp::kSetTargetCmd, args, timeout_ms));
}

absl::Status SetHballoonPressure(VmMonitor& monitor,
                                 std::string_view device_id,
                                 PressureLevel level, int timeout_ms) {
  if (device_id.empty()) return absl::InvalidArgumentError("device id empty");
  const json args = {{"id", std::string(device_id)},
                     {"level", std::string(qmp::PressureLevelName(level))}};
  return ExpectEmpty(qmp::kSetPressureCmd,
                     monitor.Execute(qmp::kSetPressureCmd, args, timeout_ms));
}

bool IsValidVmName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name[0] == '.') return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace tiervm::agent
