// A simulated TierVM host for tests of the daemon loop: one FMEM node of
// `node_bytes` shared by VMs, each VM a FakeQmpServer (the real QMP
// protocol on a unix socket) answering the virtio-hballoon commands from a
// simulated device.  Each query-hballoon moves a balloon toward its target
// by up to `step_bytes` (unless the VM is frozen); a VM growing takes FMEM
// from the host, and growing beyond what is free is recorded as a
// violation ("the agent promised FMEM that was not there").  Every
// set-target is checked against the budget: Σ FMEM targets > budget is a
// violation too.  The host is also the loop's HostProbe.
//
// Thread-safety: the servers call in from their threads; everything is
// under one mutex.
#ifndef TIERVM_TESTS_UNIT_AGENT_FAKE_TIERED_HOST_H_
#define TIERVM_TESTS_UNIT_AGENT_FAKE_TIERED_HOST_H_

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon/agent_loop.h"
#include "fake_qmp_server.h"
#include "nlohmann/json.hpp"

namespace tiervm::agent::testing {

class FakeTieredHost final : public HostProbe {
 public:
  struct Vm {
    uint64_t fmem_size = 0, smem_size = 0;
    uint64_t balloon_target = 0, balloon_actual = 0;  // FMEM node
    bool frozen = false;
    bool broken = false;
    nlohmann::json stats = {{"seq", 0}, {"last-update-ms", 0}, {"dropped", 0},
                            {"unknown-tags", 0}, {"records", nlohmann::json::array()}};
    std::vector<uint64_t> fmem_targets_set;
    std::vector<std::string> pressures_set;
    std::unique_ptr<tiervm::testing::FakeQmpServer> server;
    uint64_t fmem_target() const { return fmem_size - balloon_target; }
    uint64_t fmem_actual() const { return fmem_size - balloon_actual; }
  };

  FakeTieredHost(uint64_t node_bytes, uint64_t budget_bytes, uint64_t step_bytes)
      : node_bytes_(node_bytes), budget_bytes_(budget_bytes), step_bytes_(step_bytes) {
    char tmpl[] = "/tmp/tiervm-agent-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  ~FakeTieredHost() override {
    vms_.clear();  // stops the servers first
    std::system(absl::StrCat("rm -rf ", dir_).c_str());
  }

  const std::string& dir() const { return dir_; }

  // Adds a VM with FMEM target = actual = fmem_bytes, symlinked as
  // <dir>/<name>.sock.
  void AddVm(const std::string& name, uint64_t fmem_size, uint64_t fmem_bytes,
             uint64_t smem_size = 1ull << 30) {
    auto vm = std::make_unique<Vm>();
    vm->fmem_size = fmem_size;
    vm->smem_size = smem_size;
    vm->balloon_target = vm->balloon_actual = fmem_size - fmem_bytes;
    vm->server = std::make_unique<tiervm::testing::FakeQmpServer>();
    Vm* v = vm.get();
    vm->server->Handle("__org.tiervm_query-hballoon", [this, v](const nlohmann::json&) {
      std::lock_guard<std::mutex> l(mu_);
      Move(*v);
      tiervm::testing::FakeReply r;
      r.return_value = Info(*v);
      return r;
    });
    vm->server->Handle("__org.tiervm_hballoon-set-target",
                       [this, v, name](const nlohmann::json& a) {
      std::lock_guard<std::mutex> l(mu_);
      tiervm::testing::FakeReply r;
      if (a.value("id", "") != "hb0" || a.value("node", 99) != 0) {
        r.error_class = "GenericError";
        r.error_desc = "bad id/node";
        return r;
      }
      const uint64_t t = a.at("target").get<uint64_t>();
      v->balloon_target = std::min(t, v->fmem_size);
      v->fmem_targets_set.push_back(v->fmem_target());
      uint64_t sum = 0;
      for (const auto& [n, o] : vms_) sum += o->fmem_target();
      if (sum > budget_bytes_) {
        violations_.push_back(absl::StrCat("sum of FMEM targets ", sum,
                                           " > budget after setting ", name));
      }
      return r;
    });
    vm->server->Handle("__org.tiervm_hballoon-set-pressure",
                       [this, v](const nlohmann::json& a) {
      std::lock_guard<std::mutex> l(mu_);
      v->pressures_set.push_back(a.value("level", "?"));
      return tiervm::testing::FakeReply{};
    });
    const std::string link = absl::StrCat(dir_, "/", name, ".sock");
    if (::symlink(vm->server->socket_path().c_str(), link.c_str()) != 0) std::abort();
    std::lock_guard<std::mutex> l(mu_);
    vms_[name] = std::move(vm);
  }

  // Replaces a VM's stats records; each call is a new report (seq+1,
  // last-update-ms = now_ms).
  void Report(const std::string& name, int64_t now_ms,
              const std::vector<std::array<uint64_t, 3>>& records) {
    std::lock_guard<std::mutex> l(mu_);
    Vm& v = *vms_.at(name);
    nlohmann::json recs = nlohmann::json::array();
    for (const auto& r : records) recs.push_back({{"tag", r[0]}, {"node", r[1]}, {"value", r[2]}});
    v.stats["seq"] = v.stats["seq"].get<uint64_t>() + 1;
    v.stats["last-update-ms"] = now_ms;
    v.stats["records"] = recs;
  }

  // A curve: the hottest hot_bytes get hot_ppm, all of span_bytes 100 %.
  static std::vector<std::array<uint64_t, 3>> Curve(uint64_t hot_bytes, uint64_t hot_ppm,
                                                    uint64_t span_bytes) {
    return {{4, 0, hot_bytes}, {5, 0, hot_ppm}, {4, 1, span_bytes}, {5, 1, 1'000'000},
            {6, 0xffff, 10'000}};
  }

  // Sets a VM's FMEM target as if an earlier agent had (actual unchanged).
  void SetFmemTarget(const std::string& name, uint64_t fmem_bytes) {
    std::lock_guard<std::mutex> l(mu_);
    Vm& v = *vms_.at(name);
    v.balloon_target = v.fmem_size - fmem_bytes;
  }
  void Freeze(const std::string& name, bool frozen) {
    std::lock_guard<std::mutex> l(mu_);
    vms_.at(name)->frozen = frozen;
  }
  Vm Snapshot(const std::string& name) {
    std::lock_guard<std::mutex> l(mu_);
    const Vm& v = *vms_.at(name);
    Vm copy;
    copy.fmem_size = v.fmem_size;
    copy.smem_size = v.smem_size;
    copy.balloon_target = v.balloon_target;
    copy.balloon_actual = v.balloon_actual;
    copy.fmem_targets_set = v.fmem_targets_set;
    copy.pressures_set = v.pressures_set;
    return copy;
  }
  uint64_t SumTargets() {
    std::lock_guard<std::mutex> l(mu_);
    uint64_t s = 0;
    for (const auto& [n, v] : vms_) s += v->fmem_target();
    return s;
  }
  std::vector<std::string> violations() {
    std::lock_guard<std::mutex> l(mu_);
    return violations_;
  }
  tiervm::testing::FakeQmpServer& server(const std::string& name) {
    return *vms_.at(name)->server;
  }

  absl::StatusOr<uint64_t> FreeFmemBytes() override {
    std::lock_guard<std::mutex> l(mu_);
    return FreeLocked();
  }
  absl::StatusOr<MemoryPsi> Psi() override { return absl::NotFoundError("no PSI"); }
  absl::StatusOr<KsmStats> Ksm() override { return absl::NotFoundError("no KSM"); }

 private:
  uint64_t FreeLocked() const {
    uint64_t used = 0;
    for (const auto& [n, v] : vms_) used += v->fmem_actual();
    return used >= node_bytes_ ? 0 : node_bytes_ - used;
  }
  void Move(Vm& v) {
    if (v.frozen) return;
    if (v.balloon_actual < v.balloon_target) {  // inflate: VM shrinks
      v.balloon_actual += std::min(step_bytes_, v.balloon_target - v.balloon_actual);
    } else if (v.balloon_actual > v.balloon_target) {  // deflate: VM grows
      const uint64_t want = std::min(step_bytes_, v.balloon_actual - v.balloon_target);
      if (want > FreeLocked()) {
        violations_.push_back("a VM grew into FMEM the host does not have");
        return;
      }
      v.balloon_actual -= want;
    }
  }
  nlohmann::json Info(const Vm& v) const {
    return nlohmann::json::array({{
        {"id", "hb0"}, {"qom-path", "/machine/peripheral/hb0"}, {"broken", v.broken},
        {"pressure", "none"},
        {"nodes", {{{"node", 0}, {"tier", "fmem"}, {"size", v.fmem_size},
                    {"target", v.balloon_target}, {"actual", v.balloon_actual},
                    {"guest-actual", v.balloon_actual}, {"inflated-pages", 0},
                    {"deflated-pages", 0}},
                   {{"node", 1}, {"tier", "smem"}, {"size", v.smem_size},
                    {"target", 0}, {"actual", 0}, {"guest-actual", 0},
                    {"inflated-pages", 0}, {"deflated-pages", 0}}}},
        {"discard-calls", 0}, {"discarded-bytes", 0}, {"discard-errors", 0},
        {"rejected-requests", 0}, {"stats", v.stats}}});
  }

  std::string dir_;
  uint64_t node_bytes_, budget_bytes_, step_bytes_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Vm>> vms_;
  std::vector<std::string> violations_;
};

}  // namespace tiervm::agent::testing

#endif  // TIERVM_TESTS_UNIT_AGENT_FAKE_TIERED_HOST_H_
