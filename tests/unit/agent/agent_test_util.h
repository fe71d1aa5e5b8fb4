// Helpers for the agent core tests: terse snapshot construction and a
// simulated host whose balloons move (or refuse to) as each test says.
#ifndef TIERVM_TESTS_UNIT_AGENT_AGENT_TEST_UTIL_H_
#define TIERVM_TESTS_UNIT_AGENT_AGENT_TEST_UTIL_H_

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/actuator.h"
#include "core/host_snapshot.h"
#include "core/vm_model.h"
#include "gtest/gtest.h"

namespace tiervm::agent::testing {

inline VmConfig Config(uint64_t min_bytes, uint64_t max_bytes,
                       uint32_t weight = 1) {
  VmConfig c;
  c.min_fmem_bytes = min_bytes;
  c.max_fmem_bytes = max_bytes;
  c.weight = weight;
  return c;
}

inline VmTierState State(uint64_t target_bytes, uint64_t actual_bytes,
                         uint64_t smem_bytes = 4 * kGiB) {
  VmTierState s;
  s.fmem_target_bytes = target_bytes;
  s.fmem_actual_bytes = actual_bytes;
  s.smem_bytes = smem_bytes;
  return s;
}

// Telemetry whose hottest `hot_bytes` take `hot_share_ppm` of accesses and
// the rest is spread up to `span_bytes`.
inline Telemetry Curve(absl::Time received, uint64_t hot_bytes,
                       uint32_t hot_share_ppm, uint64_t span_bytes,
                       uint32_t psi_some_ppm = 0) {
  Telemetry t;
  t.received = received;
  t.hotness = {{hot_bytes, hot_share_ppm}, {span_bytes, kPpmOne}};
  t.psi_some_ppm = psi_some_ppm;
  return t;
}

// A host with one FMEM node.  VMs' balloons move toward their targets by
// up to `step_bytes` per Step(), unless frozen.  Deflating (a VM growing)
// takes host memory; the simulation fails the test if that ever exceeds
// what is free, i.e. if the agent promised FMEM that was not there.
class FakeHost {
 public:
  struct Vm {
    VmConfig config;
    uint64_t target_bytes = 0;
    uint64_t actual_bytes = 0;
    std::optional<Telemetry> telemetry;
    bool frozen = false;  // balloon never moves (broken guest driver)
    // Measured FMEM residency when the host measures it; a guest that
    // touched ballooned pages holds more than actual_bytes.
    std::optional<uint64_t> resident_bytes;
  };

  FakeHost(uint64_t node_bytes, uint64_t budget_bytes,
           uint64_t step_bytes = 256 * kMiB)
      : node_bytes_(node_bytes),
        budget_bytes_(budget_bytes),
        step_bytes_(step_bytes) {}

  Vm& AddVm(const std::string& id, const VmConfig& config,
            uint64_t fmem_bytes) {
    Vm& vm = vms_[id];
    vm.config = config;
    vm.target_bytes = vm.actual_bytes = fmem_bytes;
    return vm;
  }
  Vm& vm(const std::string& id) { return vms_.at(id); }
  std::map<std::string, Vm>& vms() { return vms_; }
  void RemoveVm(const std::string& id) { vms_.erase(id); }
  void set_budget(uint64_t b) { budget_bytes_ = b; }
  void set_other_usage(uint64_t b) { other_usage_bytes_ = b; }
  // Strict (default): a balloon deflating into FMEM the host does not have
  // fails the test — only the agent's grants make balloons deflate.  Not
  // strict (fault injection, where guests also take FMEM back on their own
  // and other users take it away): a deflate takes what is free, no more.
  void set_strict(bool strict) { strict_ = strict; }

  uint64_t FreeBytes() const {
    uint64_t used = other_usage_bytes_;
    for (const auto& [id, vm] : vms_) {
      used += std::max(vm.actual_bytes, vm.resident_bytes.value_or(0));
    }
    return used >= node_bytes_ ? 0 : node_bytes_ - used;
  }
  uint64_t SumTargets() const {
    uint64_t s = 0;
    for (const auto& [id, vm] : vms_) s += vm.target_bytes;
    return s;
  }
  uint64_t budget_bytes() const { return budget_bytes_; }

  HostSnapshot Snapshot(absl::Time now) const {
    HostSnapshot::Builder b;
    b.SetHost(budget_bytes_, FreeBytes(), now);
    for (const auto& [id, vm] : vms_) {
      VmTierState st = State(vm.target_bytes, vm.actual_bytes);
      st.fmem_resident_bytes = vm.resident_bytes;
      b.AddVm(id, vm.config, st, vm.telemetry);
    }
    absl::StatusOr<HostSnapshot> s = std::move(b).Build();
    EXPECT_TRUE(s.ok()) << s.status();
    return *std::move(s);
  }

  void Apply(const std::vector<TargetCommand>& commands) {
    for (const TargetCommand& c : commands)
      vms_.at(c.vm).target_bytes = c.target_bytes;
  }

  // Balloons move.  Shrinks first (the guest frees, the host gains), then
  // grows, each bounded by what the host has free.
  void Step() {
    for (auto& [id, vm] : vms_) {
      if (vm.frozen || vm.actual_bytes <= vm.target_bytes) continue;
      vm.actual_bytes -=
          std::min(step_bytes_, vm.actual_bytes - vm.target_bytes);
    }
    for (auto& [id, vm] : vms_) {
      if (vm.frozen || vm.actual_bytes >= vm.target_bytes) continue;
      uint64_t want = std::min(step_bytes_, vm.target_bytes - vm.actual_bytes);
      if (!strict_) want = std::min(want, FreeBytes());
      ASSERT_LE(want, FreeBytes())
          << "agent promised FMEM the host lacks: " << id;
      vm.actual_bytes += want;
    }
  }

 private:
  uint64_t node_bytes_;
  uint64_t budget_bytes_;
  uint64_t step_bytes_;
  uint64_t other_usage_bytes_ = 0;
  bool strict_ = true;
  std::map<std::string, Vm> vms_;
};

}  // namespace tiervm::agent::testing

#endif  // TIERVM_TESTS_UNIT_AGENT_AGENT_TEST_UTIL_H_
