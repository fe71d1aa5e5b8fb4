// Fuzz target for what a QMP server (QEMU, untrusted) sends: the bytes are
// one line, parsed as a QMP message; a reply's `return` is parsed as a
// __org.tiervm_query-hballoon result, an event's data as HBALLOON_CHANGE.
// Asserts: no crash or UB; every error has a message; every accepted
// hballoon info satisfies the documented invariants.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "adapters/qmp/hballoon_qmp.h"
#include "adapters/qmp/qmp_client.h"

namespace {

using namespace tiervm::agent::qmp;  // NOLINT: fuzz target, one function

#define FUZZ_ASSERT(cond) \
  do {                    \
    if (!(cond)) {        \
      __builtin_trap();   \
    }                     \
  } while (0)

constexpr size_t kMaxLine = size_t{1} << 20;

void CheckInfo(const std::vector<HballoonInfo>& infos) {
  FUZZ_ASSERT(infos.size() <= kMaxHballoonDevices);
  for (const HballoonInfo& info : infos) {
    FUZZ_ASSERT(!info.qom_path.empty());
    FUZZ_ASSERT(!info.nodes.empty() && info.nodes.size() <= kMaxHballoonNodes);
    bool seen[kMaxHballoonNodes] = {};
    for (const HballoonNode& n : info.nodes) {
      FUZZ_ASSERT(n.node < kMaxHballoonNodes);
      FUZZ_ASSERT(!seen[n.node]);
      seen[n.node] = true;
      FUZZ_ASSERT(n.size_bytes > 0 && n.size_bytes % kHballoonPageBytes == 0);
      FUZZ_ASSERT(n.target_bytes <= n.size_bytes);
      FUZZ_ASSERT(n.actual_bytes <= n.size_bytes);
    }
    FUZZ_ASSERT(info.stats.last_update_ms >= 0);
    FUZZ_ASSERT(info.stats.records.size() <= kMaxHballoonStatRecords);
    for (const HballoonStatRecord& r : info.stats.records) {
      FUZZ_ASSERT(r.node <= kMaxHballoonStatsNode ||
                  r.node == kHballoonStatsVmWide);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<QmpMessage> msg = ParseQmpMessage(line, kMaxLine);
  if (!msg.ok()) {
    FUZZ_ASSERT(!msg.status().message().empty());
    FUZZ_ASSERT(msg.status().code() == absl::StatusCode::kDataLoss);
    return 0;
  }
  switch (msg->kind) {
    case QmpMessageKind::kReturn: {
      absl::StatusOr<std::vector<HballoonInfo>> infos =
          ParseQueryHballoon(msg->value);
      if (infos.ok()) {
        CheckInfo(*infos);
      } else {
        FUZZ_ASSERT(!infos.status().message().empty());
      }
      break;
    }
    case QmpMessageKind::kEvent: {
      FUZZ_ASSERT(!msg->event_name.empty() && msg->value.is_object());
      absl::StatusOr<HballoonChange> c = ParseHballoonChange(msg->value);
      if (c.ok()) {
        FUZZ_ASSERT(c->node < kMaxHballoonNodes && !c->qom_path.empty());
      }
      break;
    }
    case QmpMessageKind::kError: {
      const absl::Status s =
          QmpErrorToStatus("fuzz", msg->error_class, msg->error_desc);
      FUZZ_ASSERT(!s.ok());
      break;
    }
    case QmpMessageKind::kGreeting:
      FUZZ_ASSERT(msg->value.is_object());
      break;
  }
  return 0;
}
