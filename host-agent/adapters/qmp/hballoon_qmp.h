// Typed wrappers for the virtio-hballoon QMP commands (qemu-patches/README.md,
// "QMP"): __org.tiervm_query-hballoon, __org.tiervm_hballoon-set-target,
// __org.tiervm_hballoon-set-pressure.
//
// QEMU's replies are untrusted: ParseQueryHballoon() checks every member's
// type and range and fails with InvalidArgument naming the member (e.g.
// "hballoon[0].nodes[1].actual: 2147483648 exceeds size 1073741824").
// Unknown members are ignored (QMP compatibility rule).
#ifndef TIERVM_HOST_AGENT_ADAPTERS_QMP_HBALLOON_QMP_H_
#define TIERVM_HOST_AGENT_ADAPTERS_QMP_HBALLOON_QMP_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "adapters/qmp/qmp_client.h"
#include "core/vm_model.h"
#include "nlohmann/json.hpp"

namespace tiervm::agent::qmp {

inline constexpr std::string_view kQueryHballoonCmd = "__org.tiervm_query-hballoon";
inline constexpr std::string_view kSetTargetCmd = "__org.tiervm_hballoon-set-target";
inline constexpr std::string_view kSetPressureCmd = "__org.tiervm_hballoon-set-pressure";
inline constexpr std::string_view kHballoonChangeEvent = "__org.tiervm_HBALLOON_CHANGE";

// Limits of the device (virtio_hballoon.h / the QEMU patch).
inline constexpr uint32_t kMaxHballoonNodes = 8;
inline constexpr uint64_t kHballoonPageBytes = 4096;
// Stats records are kept per (tag, node); nodes are < 128 or VM-wide.
inline constexpr uint32_t kHballoonStatsVmWide = 65535;
inline constexpr uint32_t kMaxHballoonStatsNode = 127;
inline constexpr size_t kMaxHballoonStatRecords = 8192;
inline constexpr size_t kMaxHballoonDevices = 64;
inline constexpr size_t kMaxHballoonStringBytes = 4096;

enum class HballoonTier : uint8_t { kFmem, kSmem };

struct HballoonNode {
  uint32_t node = 0;
  HballoonTier tier = HballoonTier::kSmem;
  uint64_t size_bytes = 0;
  uint64_t target_bytes = 0;    // balloon target (≤ size)
  uint64_t actual_bytes = 0;    // device-counted balloon size (≤ size)
  // What the guest driver wrote to config space.  An untrusted mirror:
  // type-checked only, may exceed size; never use it for accounting.
  uint64_t guest_actual_bytes = 0;
  uint64_t inflated_pages = 0;  // cumulative 4 KiB pages
  uint64_t deflated_pages = 0;
};

struct HballoonStatRecord {
  uint16_t tag = 0;
  uint16_t node = 0;  // < 128, or kHballoonStatsVmWide
  uint64_t value = 0;

  friend bool operator==(const HballoonStatRecord&,
                         const HballoonStatRecord&) = default;
};

struct HballoonStats {
  uint32_t seq = 0;
  int64_t last_update_ms = 0;  // host wall clock; 0 = never
  uint64_t dropped = 0;
  uint64_t unknown_tags = 0;
  std::vector<HballoonStatRecord> records;
};

struct HballoonInfo {
  std::optional<std::string> id;
  std::string qom_path;
  bool broken = false;
  PressureLevel pressure = PressureLevel::kNone;
  std::vector<HballoonNode> nodes;  // in the order QEMU listed them
  uint64_t discard_calls = 0;
  uint64_t discarded_bytes = 0;
  uint64_t discard_errors = 0;
  uint64_t rejected_requests = 0;
  HballoonStats stats;
};

// A decoded __org.tiervm_HBALLOON_CHANGE event.
struct HballoonChange {
  std::string qom_path;
  uint32_t node = 0;
  uint64_t actual_bytes = 0;
};

// Parses the `return` value of __org.tiervm_query-hballoon.  Pure.
absl::StatusOr<std::vector<HballoonInfo>> ParseQueryHballoon(
    const nlohmann::json& ret);
// Parses the `data` of an __org.tiervm_HBALLOON_CHANGE event.  Pure.
absl::StatusOr<HballoonChange> ParseHballoonChange(const nlohmann::json& data);

std::string_view PressureLevelName(PressureLevel level);

absl::StatusOr<std::vector<HballoonInfo>> QueryHballoon(QmpClient& client,
                                                        int timeout_ms = -1);
// `id`: qdev id or QOM path of the device.  target_bytes is rounded down to
// 4 KiB by QEMU.
absl::Status SetHballoonTarget(QmpClient& client, std::string_view id,
                               uint32_t node, uint64_t target_bytes,
                               int timeout_ms = -1);
absl::Status SetHballoonPressure(QmpClient& client, std::string_view id,
                                 PressureLevel level, int timeout_ms = -1);

}  // namespace tiervm::agent::qmp

#endif  // TIERVM_HOST_AGENT_ADAPTERS_QMP_HBALLOON_QMP_H_
