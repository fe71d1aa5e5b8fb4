#include "daemon/agent_loop.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/hotness_curve.h"
#include "spdlog/spdlog.h"

namespace tiervm::agent {

using json = nlohmann::json;

uint64_t HotBytes(const Telemetry& t) {
  if (t.hotness.empty()) return 0;
  const double want = 0.9 * t.hotness.back().share_ppm;
  uint64_t prev_b = 0;
  double prev_s = 0;
  for (const HotnessPoint& p : t.hotness) {
    if (p.share_ppm >= want) {
      if (p.share_ppm <= prev_s) return p.bytes;
      const double f = (want - prev_s) / (p.share_ppm - prev_s);
      return prev_b + static_cast<uint64_t>(f * (p.bytes - prev_b));
    }
    prev_b = p.bytes;
    prev_s = p.share_ppm;
  }
  return t.hotness.back().bytes;
}

absl::StatusOr<std::unique_ptr<AgentLoop>> AgentLoop::Create(AgentConfig config,
                                                             Deps deps) {
  if (!deps.source || !deps.host || !deps.clock) {
    return absl::InvalidArgumentError("AgentLoop needs a source, a host probe and a clock");
  }
  absl::Status v = ValidateAgentConfig(config);
  if (!v.ok()) return v;
  absl::StatusOr<std::unique_ptr<AgentCore>> core =
      AgentCore::Create(config.core, *deps.clock);
  if (!core.ok()) return core.status();
  return std::unique_ptr<AgentLoop>(
      new AgentLoop(std::move(config), std::move(deps), *std::move(core)));
}

AgentLoop::AgentLoop(AgentConfig config, Deps deps,
                     std::unique_ptr<AgentCore> core)
    : config_(std::move(config)),
      deps_(std::move(deps)),
      core_(std::move(core)),
      telemetry_(config_.telemetry) {
  status_.policy = config_.core.policy;
  status_.source = deps_.source->Describe();
  status_.budget_bytes = config_.budget_bytes;
}

VmConfig AgentLoop::ConfigFor(const VmEntry& e, uint64_t fmem_node_bytes) const {
  VmSettings s = config_.defaults;
  s.MergeFrom(e.settings);
  if (auto it = config_.vms.find(e.id); it != config_.vms.end()) s.MergeFrom(it->second);
  if (auto it = runtime_.find(e.id); it != runtime_.end()) s.MergeFrom(it->second);
  VmConfig c;
  c.max_fmem_bytes = std::min(s.max_fmem_bytes.value_or(fmem_node_bytes), fmem_node_bytes);
  c.min_fmem_bytes = std::min(s.min_fmem_bytes.value_or(0), c.max_fmem_bytes);
  c.weight = s.weight.value_or(1);
  c.psi_some_target_ppm = config_.psi_some_target_ppm;
  c.smem_share_target_ppm = config_.smem_share_target_ppm;
  return c;
}

void AgentLoop::ReadVm(const VmEntry& e, VmRecord& rec, absl::Time now) {
  absl::StatusOr<std::vector<qmp::HballoonInfo>> infos =
      QueryHballoon(*e.monitor, config_.qmp_timeout_ms);
  if (!infos.ok()) {
    rec.error = std::string(infos.status().message());
    rec.status_state = "unreachable";
    return;
  }
  const qmp::HballoonInfo* dev = nullptr;
  for (const qmp::HballoonInfo& i : *infos) {
    int fmem = 0;
    for (const qmp::HballoonNode& n : i.nodes) fmem += n.tier == qmp::HballoonTier::kFmem;
    if (fmem == 1) {
      dev = &i;
      break;
    }
  }
  if (dev == nullptr) {
    rec.error = infos->empty() ? "no virtio-hballoon device"
                               : "no device with exactly one FMEM node";
    rec.status_state = "no-fmem-node";
    rec.ever_read = false;
    return;
  }
  rec.device_id = dev->id.value_or(dev->qom_path);
  rec.guest_bytes = 0;
  rec.state.smem_bytes = 0;
  for (const qmp::HballoonNode& n : dev->nodes) {
    rec.guest_bytes += n.size_bytes;
    if (n.tier == qmp::HballoonTier::kFmem) {
      rec.fmem_node = n.node;
      rec.fmem_node_bytes = n.size_bytes;
      rec.state.fmem_target_bytes = n.size_bytes - n.target_bytes;
      rec.state.fmem_actual_bytes = n.size_bytes - n.actual_bytes;
    } else {
      rec.state.smem_bytes += n.size_bytes - n.actual_bytes;
    }
  }
  rec.ever_read = true;
  // Measured for broken devices too: a guest violating the protocol is
  // the one most likely to hold memory its device does not count.
  MeasureResidency(e, rec);
  if (dev->broken) {
    rec.error = "device is broken (guest protocol violation)";
    rec.status_state = "broken";
    return;
  }
  rec.error.clear();
  rec.status_state = "idle";

  // Telemetry: decode (only a new report), then sanitize + rate limit.
  absl::StatusOr<std::optional<RawTelemetry>> raw = rec.decoder.Decode(dev->stats);
  if (!raw.ok()) {
    ++rec.decode_errors;
    rec.decode_error = std::string(raw.status().message());
    if (rec.decode_error != rec.last_logged_telemetry_error) {
      spdlog::warn("vm {}: telemetry rejected: {}", e.id, rec.decode_error);
      rec.last_logged_telemetry_error = rec.decode_error;
    }
  } else if (raw->has_value()) {
    absl::Status s = telemetry_.Submit(e.id, **raw, rec.guest_bytes, now);
    if (s.ok()) {
      rec.decode_error.clear();
    } else if (!absl::IsResourceExhausted(s)) {
      const std::string msg(s.message());
      if (msg != rec.last_logged_telemetry_error) {
        spdlog::warn("vm {}: telemetry rejected: {}", e.id, msg);
        rec.last_logged_telemetry_error = msg;
      }
    }
  }
}

void AgentLoop::MeasureResidency(const VmEntry& e, VmRecord& rec) {
  rec.state.fmem_resident_bytes.reset();
  rec.residency_error.clear();
  if (!config_.measure_fmem_residency || deps_.numa_maps == nullptr) return;
  const std::optional<int> pid = e.monitor->ProcessId();
  if (!pid) {
    rec.residency_error = "QEMU pid unknown (the VM source does not give it)";
  } else if (absl::StatusOr<NumaResidency> r = deps_.numa_maps->Read(*pid); !r.ok()) {
    rec.residency_error = absl::StrCat("pid ", *pid, ": ", r.status().message());
  } else {
    rec.state.fmem_resident_bytes = r->BytesOn(config_.fmem_nodes);
    if (r->skipped_lines > 0) {
      // Counted without the lines it could not read: a lower bound.
      rec.residency_error = absl::StrCat("pid ", *pid, ": ", r->skipped_lines,
                                         " numa_maps lines skipped: ", r->first_error);
    }
  }
  if (!rec.residency_error.empty() && rec.residency_error != rec.last_logged_residency_error) {
    spdlog::warn("vm {}: FMEM residency: {}", e.id, rec.residency_error);
  }
  rec.last_logged_residency_error = rec.residency_error;
}

absl::Status AgentLoop::Tick() {
  const auto t0 = std::chrono::steady_clock::now();
  const absl::Time now = deps_.clock->Now();
  absl::Status result = absl::OkStatus();
  auto note_error = [&](const absl::Status& s) {
    if (result.ok()) result = s;
  };

  absl::Status r = deps_.source->Refresh();
  if (!r.ok()) note_error(r);
  present_.clear();
  for (VmEntry& e : deps_.source->Vms()) present_.emplace(e.id, std::move(e));
  for (auto it = vms_.begin(); it != vms_.end();) {
    if (present_.contains(it->first)) {
      ++it;
      continue;
    }
    spdlog::info("vm {}: gone", it->first);
    telemetry_.Forget(it->first);
    it = vms_.erase(it);
  }

  absl::StatusOr<uint64_t> free = deps_.host->FreeFmemBytes();
  if (!free.ok()) {
    note_error(free.status());
  }

  HostSnapshot::Builder b;
  b.SetHost(config_.budget_bytes, free.ok() ? *free : 0, now);
  b.SetTelemetryMaxAge(config_.telemetry_max_age);
  std::vector<VmId> actuatable;
  for (auto& [id, e] : present_) {
    VmRecord& rec = vms_[id];
    ReadVm(e, rec, now);
    if (!rec.ever_read) continue;
    VmConfig c = ConfigFor(e, rec.fmem_node_bytes);
    rec.config = c;
    if (!rec.error.empty()) {
      // Pinned: charged at its target, never moved.
      c.min_fmem_bytes = c.max_fmem_bytes = rec.state.fmem_target_bytes;
    } else {
      actuatable.push_back(id);
    }
    const Telemetry* t = telemetry_.Latest(id);
    b.AddVm(id, c, rec.state,
            t ? std::optional<Telemetry>(*t) : std::optional<Telemetry>());
  }
  absl::StatusOr<HostSnapshot> snap = std::move(b).Build();
  if (!free.ok() || !snap.ok()) {
    if (!snap.ok()) note_error(snap.status());
    // Nothing is actuated without a valid view of the host.
  } else {
    absl::StatusOr<TickResult> tr = core_->Tick(*snap);
    if (!tr.ok()) {
      note_error(tr.status());
    } else {
      std::map<VmId, uint64_t> targets;
      for (const VmView& v : snap->vms()) targets[v.id] = v.state.fmem_target_bytes;
      for (const MoveEvent& ev : tr->actuation.events) {
        if (ev.kind == MoveEventKind::kShrinkTimedOut ||
            ev.kind == MoveEventKind::kGrowTimedOut) {
          if (auto it = vms_.find(ev.vm); it != vms_.end()) ++it->second.timeouts;
          spdlog::warn("vm {}: move timed out (target {} actual {}), flagged stuck",
                       ev.vm, ev.target_bytes, ev.actual_bytes);
        } else if (ev.kind == MoveEventKind::kRefusedOverBudget) {
          // The planner should never ask for this; the core's last check
          // caught it.
          spdlog::error("vm {}: target {} refused: it would exceed the budget or max",
                        ev.vm, ev.target_bytes);
        } else if (ev.kind == MoveEventKind::kAdoptedShrink ||
                   ev.kind == MoveEventKind::kAdoptedGrow) {
          spdlog::info("vm {}: adopted a {} in flight (target {} actual {})", ev.vm,
                       ev.kind == MoveEventKind::kAdoptedShrink ? "shrink" : "grow",
                       ev.target_bytes, ev.actual_bytes);
        }
      }
      // Σ targets is checked again right before each set: the core assumed
      // every earlier command of the tick took effect, but a lowering whose
      // set failed did not, and a raise whose reply was lost may have.  So
      // this map holds the higher of the two for a failed set.
      std::map<VmId, uint64_t> worst_targets = targets;
      for (const TargetCommand& cmd : tr->actuation.commands) {
        VmRecord& rec = vms_[cmd.vm];
        auto pit = present_.find(cmd.vm);
        if (pit == present_.end() ||
            std::find(actuatable.begin(), actuatable.end(), cmd.vm) == actuatable.end()) {
          continue;  // pinned VM: no commands
        }
        const uint64_t new_target = std::min(cmd.target_bytes, rec.fmem_node_bytes);
        if (new_target > worst_targets[cmd.vm]) {
          uint64_t sum = 0;
          for (const auto& [id, t] : worst_targets) sum += t;
          sum = sum - worst_targets[cmd.vm] + new_target;
          if (sum > config_.budget_bytes) {
            ++rec.target_set_errors;
            note_error(absl::FailedPreconditionError(absl::StrCat(
                "vm ", cmd.vm, ": FMEM target ", new_target, " not set: sum ", sum,
                " would exceed the budget ", config_.budget_bytes)));
            spdlog::error("vm {}: FMEM target {} not set: sum {} would exceed budget {}",
                          cmd.vm, new_target, sum, config_.budget_bytes);
            continue;
          }
        }
        TargetLogEntry log;
        log.time = deps_.clock->Now();
        log.vm = cmd.vm;
        log.node = rec.fmem_node;
        log.previous_fmem_target_bytes = targets[cmd.vm];
        log.fmem_target_bytes = std::min(cmd.target_bytes, rec.fmem_node_bytes);
        log.balloon_target_bytes = rec.fmem_node_bytes - log.fmem_target_bytes;
        log.budget_bytes = config_.budget_bytes;
        log.status = SetHballoonTarget(*pit->second.monitor, rec.device_id,
                                       rec.fmem_node, log.balloon_target_bytes,
                                       config_.qmp_timeout_ms);
        worst_targets[cmd.vm] = log.status.ok()
                                    ? log.fmem_target_bytes
                                    : std::max(worst_targets[cmd.vm], log.fmem_target_bytes);
        if (log.status.ok()) {
          ++rec.target_sets;
          targets[cmd.vm] = log.fmem_target_bytes;
          rec.state.fmem_target_bytes = log.fmem_target_bytes;
        } else {
          ++rec.target_set_errors;
          note_error(log.status);
        }
        uint64_t sum = 0;
        for (const auto& [id, t] : targets) sum += t;
        log.sum_fmem_target_bytes = sum;
        if (log.status.ok()) {
          spdlog::info("vm {}: FMEM target {} -> {} bytes (balloon {}), sum {} of budget {}",
                       cmd.vm, log.previous_fmem_target_bytes, log.fmem_target_bytes,
                       log.balloon_target_bytes, sum, config_.budget_bytes);
        } else {
          spdlog::error("vm {}: setting FMEM target {} failed: {}", cmd.vm,
                        log.fmem_target_bytes, std::string(log.status.message()));
        }
        if (deps_.on_target) deps_.on_target(log);
      }
      // Pressure levels: written when they change (and once per VM).
      for (size_t i = 0; i < snap->size(); ++i) {
        const VmId& id = snap->vm(i).id;
        VmRecord& rec = vms_[id];
        rec.pressure = tr->vm_pressure[i];
        if (tr->vm_over_target[i] != rec.over_target) {
          const VmTierState& st = snap->vm(i).state;
          if (tr->vm_over_target[i]) {
            spdlog::warn(
                "vm {}: {} bytes resident on the FMEM node(s), target {} (device actual {}): "
                "over target, charged to the budget",
                id, st.fmem_resident_bytes.value_or(0), st.fmem_target_bytes,
                st.fmem_actual_bytes);
          } else {
            spdlog::info("vm {}: back within its FMEM target", id);
          }
          rec.over_target = tr->vm_over_target[i];
        }
        if (std::find(actuatable.begin(), actuatable.end(), id) == actuatable.end()) continue;
        if (rec.written_pressure == rec.pressure) continue;
        absl::Status s = SetHballoonPressure(*present_.at(id).monitor, rec.device_id,
                                             rec.pressure, config_.qmp_timeout_ms);
        if (s.ok()) {
          rec.written_pressure = rec.pressure;
          if (rec.pressure != PressureLevel::kNone) {
            spdlog::info("vm {}: pressure level {}", id,
                         std::string(qmp::PressureLevelName(rec.pressure)));
          }
        } else {
          note_error(s);
        }
      }
      status_.host_pressure = std::string(qmp::PressureLevelName(tr->host_pressure));
      status_.low_free_bytes = tr->low_free_bytes;
    }
  }

  ++status_.ticks;
  if (!result.ok()) {
    ++status_.tick_errors;
    status_.last_error = std::string(result.message());
    if (status_.last_error != last_logged_error_) {
      spdlog::error("tick: {}", status_.last_error);
      last_logged_error_ = status_.last_error;
    }
  } else {
    status_.last_error.clear();
    last_logged_error_.clear();
  }
  status_.last_tick_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  RefreshStatus(now, free.ok() ? *free : 0);
  return result;
}

void AgentLoop::RefreshStatus(absl::Time now, uint64_t host_free) {
  status_.host_free_fmem_bytes = host_free;
  if (absl::StatusOr<KsmStats> k = deps_.host->Ksm(); k.ok()) status_.ksm = *k;
  else status_.ksm.reset();
  if (absl::StatusOr<MemoryPsi> p = deps_.host->Psi(); p.ok()) status_.host_psi = *p;
  else status_.host_psi.reset();
  status_.vms.clear();
  status_.sum_fmem_target_bytes = 0;
  for (const auto& [id, rec] : vms_) {
    VmStatus v;
    v.vm = id;
    v.state = rec.status_state;
    if (rec.ever_read && rec.error.empty()) {
      const MoveState m = core_->actuator().state(id);
      v.state = m == MoveState::kIdle ? "idle"
              : m == MoveState::kShrinking ? "shrinking"
              : m == MoveState::kGrowing ? "growing"
              : m == MoveState::kWaitingForDonors ? "waiting"
              : "stuck";
      if (core_->actuator().IsStuck(id)) v.state = "stuck";
    }
    v.fmem_target_bytes = rec.state.fmem_target_bytes;
    v.fmem_actual_bytes = rec.state.fmem_actual_bytes;
    v.fmem_node_bytes = rec.fmem_node_bytes;
    v.smem_bytes = rec.state.smem_bytes;
    if (rec.ever_read) status_.sum_fmem_target_bytes += rec.state.fmem_target_bytes;
    if (const Telemetry* t = telemetry_.Latest(id)) {
      v.hot_bytes = HotBytes(*t);
      v.smem_share_ppm = t->smem_access_share_ppm;
      v.psi_some_ppm = t->psi_some_ppm;
      v.psi_full_ppm = t->psi_full_ppm;
      v.telemetry_fresh = now - t->received <= config_.telemetry_max_age;
    }
    v.min_fmem_bytes = rec.config.min_fmem_bytes;
    v.max_fmem_bytes = rec.config.max_fmem_bytes;
    v.weight = rec.config.weight;
    v.pressure = std::string(qmp::PressureLevelName(rec.pressure));
    if (const TelemetryStore::VmCounters* c = telemetry_.Counters(id)) {
      v.telemetry_accepted = c->accepted;
      v.telemetry_rejected = c->rejected;
      v.telemetry_rate_limited = c->rate_limited;
      if (!c->last_error.ok() && !absl::IsResourceExhausted(c->last_error)) {
        v.last_telemetry_error = std::string(c->last_error.message());
      }
    }
    v.telemetry_rejected += rec.decode_errors;
    if (!rec.decode_error.empty()) v.last_telemetry_error = rec.decode_error;
    v.target_sets = rec.target_sets;
    v.target_set_errors = rec.target_set_errors;
    v.timeouts = rec.timeouts;
    v.error = rec.error;
    v.fmem_resident_bytes = rec.state.fmem_resident_bytes;
    v.residency_error = rec.residency_error;
    v.fmem_over_target = rec.over_target && rec.state.fmem_resident_bytes.has_value();
    status_.vms.push_back(std::move(v));
  }
}

json AgentLoop::StatusJson() const {
  const AgentStatus& s = status_;
  json vms = json::array();
  for (const VmStatus& v : s.vms) {
    vms.push_back({{"vm", v.vm},
                   {"state", v.state},
                   {"fmem_target_bytes", v.fmem_target_bytes},
                   {"fmem_actual_bytes", v.fmem_actual_bytes},
                   {"fmem_node_bytes", v.fmem_node_bytes},
                   {"smem_bytes", v.smem_bytes},
                   {"hot_bytes", v.hot_bytes},
                   {"smem_share_ppm", v.smem_share_ppm},
                   {"psi_some_ppm", v.psi_some_ppm},
                   {"psi_full_ppm", v.psi_full_ppm},
                   {"telemetry_fresh", v.telemetry_fresh},
                   {"min_fmem_bytes", v.min_fmem_bytes},
                   {"max_fmem_bytes", v.max_fmem_bytes},
                   {"weight", v.weight},
                   {"pressure", v.pressure},
                   {"telemetry_accepted", v.telemetry_accepted},
                   {"telemetry_rejected", v.telemetry_rejected},
                   {"telemetry_rate_limited", v.telemetry_rate_limited},
                   {"last_telemetry_error", v.last_telemetry_error},
                   {"target_sets", v.target_sets},
                   {"target_set_errors", v.target_set_errors},
                   {"timeouts", v.timeouts},
                   {"error", v.error},
                   {"fmem_resident_bytes", v.fmem_resident_bytes
                                               ? json(*v.fmem_resident_bytes)
                                               : json(nullptr)},
                   {"fmem_over_target", v.fmem_over_target},
                   {"residency_error", v.residency_error}});
  }
  json j = {{"ok", true},
            {"policy", s.policy},
            {"source", s.source},
            {"budget_bytes", s.budget_bytes},
            {"sum_fmem_target_bytes", s.sum_fmem_target_bytes},
            {"host_free_fmem_bytes", s.host_free_fmem_bytes},
            {"host_pressure", s.host_pressure},
            {"low_free_bytes", s.low_free_bytes},
            {"ticks", s.ticks},
            {"tick_errors", s.tick_errors},
            {"last_tick_seconds", s.last_tick_seconds},
            {"last_error", s.last_error},
            {"vms", vms}};
  if (s.ksm) {
    j["ksm"] = {{"merged_bytes", s.ksm->merged_bytes},
                {"pages_sharing", s.ksm->pages_sharing},
                {"pages_shared", s.ksm->pages_shared},
                {"running", s.ksm->running},
                {"scope", "host"}};
  }
  return j;
}

absl::Status AgentLoop::Apply(const ControlRequest& req, json* reply) {
  switch (req.kind) {
    case ControlRequest::Kind::kStatus:
      *reply = StatusJson();
      return absl::OkStatus();
    case ControlRequest::Kind::kSet: {
      if (!present_.contains(req.vm) && !config_.vms.contains(req.vm)) {
        return absl::NotFoundError(absl::StrCat("no VM named '", req.vm, "'"));
      }
      VmSettings merged = runtime_[req.vm];
      merged.MergeFrom(req.settings);
      // Check against what the VM will end up with.
      VmEntry e;
      e.id = req.vm;
      if (auto it = present_.find(req.vm); it != present_.end()) e.settings = it->second.settings;
      VmSettings all = config_.defaults;
      all.MergeFrom(e.settings);
      if (auto it = config_.vms.find(req.vm); it != config_.vms.end()) all.MergeFrom(it->second);
      all.MergeFrom(merged);
      if (all.min_fmem_bytes && all.max_fmem_bytes &&
          *all.min_fmem_bytes > *all.max_fmem_bytes) {
        return absl::InvalidArgumentError("min_fmem_bytes would be above max_fmem_bytes");
      }
      runtime_[req.vm] = merged;
      core_->actuator().ClearStuck(req.vm);
      spdlog::info("vm {}: set min={} max={} weight={}", req.vm,
                   merged.min_fmem_bytes ? absl::StrCat(*merged.min_fmem_bytes) : "-",
                   merged.max_fmem_bytes ? absl::StrCat(*merged.max_fmem_bytes) : "-",
                   merged.weight ? absl::StrCat(*merged.weight) : "-");
      *reply = {{"ok", true}, {"vm", req.vm}};
      return absl::OkStatus();
    }
    case ControlRequest::Kind::kVmEvent: {
      if (req.event == ControlRequest::Event::kStarted) {
        absl::Status s = deps_.source->NotifyStarted(req.vm, req.qmp_socket);
        if (!s.ok()) return s;
        if (!(req.settings == VmSettings{})) runtime_[req.vm] = req.settings;
        spdlog::info("vm {}: started (hook){}", req.vm,
                     req.qmp_socket.empty() ? "" : " qmp " + req.qmp_socket);
      } else {
        deps_.source->NotifyStopped(req.vm);
        runtime_.erase(req.vm);
        spdlog::info("vm {}: {} (hook)", req.vm,
                     req.event == ControlRequest::Event::kStopped ? "stopped" : "released");
      }
      *reply = {{"ok", true}, {"vm", req.vm}};
      return absl::OkStatus();
    }
  }
  return absl::InternalError("unreachable");
}

std::string AgentLoop::HandleControl(std::string_view line) {
  absl::StatusOr<ControlRequest> req = ParseControlRequest(line);
  if (!req.ok()) return ControlError(std::string(req.status().message()));
  json reply;
  absl::Status s = Apply(*req, &reply);
  if (!s.ok()) return ControlError(std::string(s.message()));
  return reply.dump(-1, ' ', false, json::error_handler_t::replace);
}

namespace {
// Label values are VM names ([A-Za-z0-9._-]); nothing to escape.
void Gauge(std::string& out, const char* name, const char* type,
           const char* help) {
  absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ",
                  type, "\n");
}
}  // namespace

std::string AgentLoop::MetricsText() const {
  const AgentStatus& s = status_;
  std::string o;
  Gauge(o, "tiervm_fmem_budget_bytes", "gauge", "FMEM the agent may hand out.");
  absl::StrAppend(&o, "tiervm_fmem_budget_bytes ", s.budget_bytes, "\n");
  Gauge(o, "tiervm_fmem_target_sum_bytes", "gauge", "Sum of the VMs' FMEM targets.");
  absl::StrAppend(&o, "tiervm_fmem_target_sum_bytes ", s.sum_fmem_target_bytes, "\n");
  Gauge(o, "tiervm_host_free_fmem_bytes", "gauge", "Free memory on the host FMEM node(s).");
  absl::StrAppend(&o, "tiervm_host_free_fmem_bytes ", s.host_free_fmem_bytes, "\n");
  Gauge(o, "tiervm_host_pressure_level", "gauge", "M3 host pressure: 0 none, 1 low, 2 high.");
  absl::StrAppend(&o, "tiervm_host_pressure_level ",
                  s.host_pressure == "high" ? 2 : s.host_pressure == "low" ? 1 : 0, "\n");
  Gauge(o, "tiervm_pressure_low_free_bytes", "gauge", "Adaptive low free-FMEM threshold.");
  absl::StrAppend(&o, "tiervm_pressure_low_free_bytes ", s.low_free_bytes, "\n");
  Gauge(o, "tiervm_ticks_total", "counter", "Agent ticks.");
  absl::StrAppend(&o, "tiervm_ticks_total ", s.ticks, "\n");
  Gauge(o, "tiervm_tick_errors_total", "counter", "Ticks that hit an error.");
  absl::StrAppend(&o, "tiervm_tick_errors_total ", s.tick_errors, "\n");
  Gauge(o, "tiervm_tick_duration_seconds", "gauge", "Duration of the last tick.");
  absl::StrAppend(&o, "tiervm_tick_duration_seconds ",
                  absl::StrFormat("%.6f", s.last_tick_seconds), "\n");
  if (s.ksm) {
    Gauge(o, "tiervm_ksm_merged_bytes", "gauge",
          "Host-wide memory saved by KSM (pages_sharing x page size).");
    absl::StrAppend(&o, "tiervm_ksm_merged_bytes ", s.ksm->merged_bytes, "\n");
  }
  if (s.host_psi) {
    Gauge(o, "tiervm_host_memory_psi_some_total_us", "counter", "Host memory PSI some, total us.");
    absl::StrAppend(&o, "tiervm_host_memory_psi_some_total_us ", s.host_psi->some.total_us, "\n");
  }
  struct PerVm {
    const char* name;
    const char* type;
    const char* help;
    std::function<uint64_t(const VmStatus&)> get;
  };
  const PerVm per_vm[] = {
      {"tiervm_vm_fmem_target_bytes", "gauge", "FMEM target of the VM.",
       [](const VmStatus& v) { return v.fmem_target_bytes; }},
      {"tiervm_vm_fmem_actual_bytes", "gauge", "FMEM the VM really has.",
       [](const VmStatus& v) { return v.fmem_actual_bytes; }},
      {"tiervm_vm_smem_bytes", "gauge", "SMEM the VM has.",
       [](const VmStatus& v) { return v.smem_bytes; }},
      {"tiervm_vm_hot_bytes", "gauge", "FMEM covering 90% of the VM's accesses (guest telemetry).",
       [](const VmStatus& v) { return v.hot_bytes; }},
      {"tiervm_vm_min_fmem_bytes", "gauge", "Configured FMEM minimum.",
       [](const VmStatus& v) { return v.min_fmem_bytes; }},
      {"tiervm_vm_max_fmem_bytes", "gauge", "Configured FMEM maximum.",
       [](const VmStatus& v) { return v.max_fmem_bytes; }},
      {"tiervm_vm_telemetry_accepted_total", "counter", "Guest reports accepted.",
       [](const VmStatus& v) { return v.telemetry_accepted; }},
      {"tiervm_vm_telemetry_rejected_total", "counter", "Guest reports rejected as malformed.",
       [](const VmStatus& v) { return v.telemetry_rejected; }},
      {"tiervm_vm_telemetry_rate_limited_total", "counter", "Guest reports dropped by the rate limit.",
       [](const VmStatus& v) { return v.telemetry_rate_limited; }},
      {"tiervm_vm_moves_total", "counter", "FMEM targets set on the VM.",
       [](const VmStatus& v) { return v.target_sets; }},
      {"tiervm_vm_move_errors_total", "counter", "FMEM target commands that failed.",
       [](const VmStatus& v) { return v.target_set_errors; }},
      {"tiervm_vm_move_timeouts_total", "counter", "Moves that timed out.",
       [](const VmStatus& v) { return v.timeouts; }},
      {"tiervm_vm_stuck", "gauge", "1 if the VM is flagged stuck.",
       [](const VmStatus& v) { return uint64_t{v.state == "stuck"}; }},
      {"tiervm_vm_reachable", "gauge", "1 if the VM's device was read this tick.",
       [](const VmStatus& v) { return uint64_t{v.error.empty()}; }},
      {"tiervm_vm_fmem_over_target", "gauge",
       "1 if the VM's measured FMEM residency exceeds its target beyond the tolerance.",
       [](const VmStatus& v) { return uint64_t{v.fmem_over_target}; }},
  };
  for (const PerVm& m : per_vm) {
    Gauge(o, m.name, m.type, m.help);
    for (const VmStatus& v : s.vms) {
      absl::StrAppend(&o, m.name, "{vm=\"", v.vm, "\"} ", m.get(v), "\n");
    }
  }
  // Only VMs that were measured: an absent sample, not a 0, for the rest.
  Gauge(o, "tiervm_vm_fmem_resident_bytes", "gauge",
        "Resident memory of the VM's QEMU on the host FMEM node(s) (numa_maps).");
  for (const VmStatus& v : s.vms) {
    if (v.fmem_resident_bytes) {
      absl::StrAppend(&o, "tiervm_vm_fmem_resident_bytes{vm=\"", v.vm, "\"} ",
                      *v.fmem_resident_bytes, "\n");
    }
  }
  return o;
}

}  // namespace tiervm::agent
