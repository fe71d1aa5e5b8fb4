#include "daemon/control_protocol.h"

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace tiervm::agent {

using json = nlohmann::json;

namespace {

absl::Status Bad(std::string_view what) {
  return absl::InvalidArgumentError(std::string(what));
}

absl::StatusOr<uint64_t> U64(const json& v, const char* name) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    return static_cast<uint64_t>(v.get<int64_t>());
  }
  return Bad(absl::StrCat(name, ": expected a non-negative integer (bytes)"));
}

// Reads the optional min/max/weight members into *s.
absl::Status Settings(const json& j, VmSettings* s) {
  if (auto it = j.find("min_fmem_bytes"); it != j.end()) {
    absl::StatusOr<uint64_t> v = U64(*it, "min_fmem_bytes");
    if (!v.ok()) return v.status();
    s->min_fmem_bytes = *v;
  }
  if (auto it = j.find("max_fmem_bytes"); it != j.end()) {
    absl::StatusOr<uint64_t> v = U64(*it, "max_fmem_bytes");
    if (!v.ok()) return v.status();
    s->max_fmem_bytes = *v;
  }
  if (auto it = j.find("weight"); it != j.end()) {
    absl::StatusOr<uint64_t> v = U64(*it, "weight");
    if (!v.ok() || *v < 1 || *v > kMaxVmWeight) {
      return Bad(absl::StrCat("weight: expected an integer in 1..", kMaxVmWeight));
    }
    s->weight = static_cast<uint32_t>(*v);
  }
  if (s->min_fmem_bytes && s->max_fmem_bytes &&
      *s->min_fmem_bytes > *s->max_fmem_bytes) {
    return Bad("min_fmem_bytes is above max_fmem_bytes");
  }
  return absl::OkStatus();
}

absl::Status OnlyMembers(const json& j, std::initializer_list<const char*> ok) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool known = false;
    for (const char* k : ok) known = known || it.key() == k;
    if (!known) return Bad(absl::StrCat("unknown member '", it.key().substr(0, 64), "'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> VmName(const json& j) {
  auto it = j.find("vm");
  if (it == j.end() || !it->is_string()) return Bad("vm: required string");
  const std::string& s = it->get_ref<const std::string&>();
  if (!IsValidVmName(s)) {
    return Bad("vm: names are 1..64 characters of [A-Za-z0-9._-]");
  }
  return s;
}

}  // namespace

absl::StatusOr<ControlRequest> ParseControlRequest(std::string_view line) {
  if (line.size() > kMaxControlRequestBytes) return Bad("request too long");
  // Depth-limited: a request is at most two levels deep.
  int depth = 0;
  json j = json::parse(line.begin(), line.end(),
                       [&depth](int d, json::parse_event_t e, json&) {
                         if (e == json::parse_event_t::object_start ||
                             e == json::parse_event_t::array_start) {
                           depth = std::max(depth, d + 1);
                         }
                         return depth <= 8;
                       },
                       /*allow_exceptions=*/false);
  if (depth > 8) return Bad("request nested too deeply");
  if (j.is_discarded()) return Bad("request is not valid JSON");
  if (!j.is_object()) return Bad("request is not a JSON object");
  auto cmd = j.find("cmd");
  if (cmd == j.end() || !cmd->is_string()) return Bad("cmd: required string");
  const std::string& c = cmd->get_ref<const std::string&>();
  ControlRequest r;
  if (c == "status") {
    absl::Status s = OnlyMembers(j, {"cmd"});
    if (!s.ok()) return s;
    r.kind = ControlRequest::Kind::kStatus;
    return r;
  }
  if (c == "set") {
    absl::Status s = OnlyMembers(
        j, {"cmd", "vm", "min_fmem_bytes", "max_fmem_bytes", "weight"});
    if (!s.ok()) return s;
    r.kind = ControlRequest::Kind::kSet;
    absl::StatusOr<std::string> vm = VmName(j);
    if (!vm.ok()) return vm.status();
    r.vm = *vm;
    s = Settings(j, &r.settings);
    if (!s.ok()) return s;
    if (r.settings == VmSettings{}) {
      return Bad("set: give at least one of min_fmem_bytes, max_fmem_bytes, weight");
    }
    return r;
  }
  if (c == "vm-event") {
    absl::Status s = OnlyMembers(j, {"cmd", "vm", "event", "qmp_socket",
                                     "min_fmem_bytes", "max_fmem_bytes", "weight"});
    if (!s.ok()) return s;
    r.kind = ControlRequest::Kind::kVmEvent;
    absl::StatusOr<std::string> vm = VmName(j);
    if (!vm.ok()) return vm.status();
    r.vm = *vm;
    auto ev = j.find("event");
    if (ev == j.end() || !ev->is_string()) return Bad("event: required string");
    const std::string& e = ev->get_ref<const std::string&>();
    if (e == "started") r.event = ControlRequest::Event::kStarted;
    else if (e == "stopped") r.event = ControlRequest::Event::kStopped;
    else if (e == "release") r.event = ControlRequest::Event::kRelease;
    else return Bad("event: expected started, stopped or release");
    if (auto q = j.find("qmp_socket"); q != j.end()) {
      if (!q->is_string()) return Bad("qmp_socket: expected a string");
      r.qmp_socket = q->get<std::string>();
      if (r.qmp_socket.empty() || r.qmp_socket[0] != '/' ||
          r.qmp_socket.size() > 107) {
        return Bad("qmp_socket: expected an absolute path of at most 107 bytes");
      }
    }
    s = Settings(j, &r.settings);
    if (!s.ok()) return s;
    return r;
  }
  return Bad(absl::StrCat("unknown cmd '", c.substr(0, 64),
                          "' (known: status, set, vm-event)"));
}

std::string ControlError(std::string_view message) {
  return json{{"ok", false}, {"error", std::string(message)}}.dump(
      -1, ' ', false, json::error_handler_t::replace);
}

}  // namespace tiervm::agent
