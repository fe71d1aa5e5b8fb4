#include "adapters/qmp/hballoon_qmp.h"

#include <cstdint>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace tiervm::agent::qmp {
namespace {

using json = nlohmann::json;

absl::Status Bad(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

// Looks up a required member of object `obj` (described by `where`).
absl::StatusOr<const json*> Member(const json& obj, absl::string_view where,
                                   const char* name) {
  auto it = obj.find(name);
  if (it == obj.end()) return Bad(absl::StrCat(where, ".", name), "missing");
  return &*it;
}

absl::StatusOr<uint64_t> GetU64(const json& obj, absl::string_view where,
                                const char* name,
                                uint64_t max = UINT64_MAX) {
  absl::StatusOr<const json*> m = Member(obj, where, name);
  if (!m.ok()) return m.status();
  const json& v = **m;
  const std::string field = absl::StrCat(where, ".", name);
  // The parser stores non-negative integers as unsigned; a json built in
  // memory from a signed int is number_integer: accept it when >= 0.
  uint64_t x = 0;
  if (v.is_number_unsigned()) {
    x = v.get<uint64_t>();
  } else if (v.is_number_integer()) {
    const int64_t i = v.get<int64_t>();
    if (i < 0) return Bad(field, "negative");
    x = static_cast<uint64_t>(i);
  } else {
    return Bad(field, "not a non-negative integer");
  }
  if (x > max) {
    return Bad(field, absl::StrCat(x, " exceeds the maximum ", max));
  }
  return x;
}

absl::StatusOr<int64_t> GetNonNegI64(const json& obj, absl::string_view where,
                                     const char* name) {
  absl::StatusOr<uint64_t> v =
      GetU64(obj, where, name, static_cast<uint64_t>(INT64_MAX));
  if (!v.ok()) return v.status();
  return static_cast<int64_t>(*v);
}

absl::StatusOr<std::string> GetString(const json& obj, absl::string_view where,
                                      const char* name) {
  absl::StatusOr<const json*> m = Member(obj, where, name);
  if (!m.ok()) return m.status();
  const std::string field = absl::StrCat(where, ".", name);
  if (!(*m)->is_string()) return Bad(field, "not a string");
  const std::string& s = (*m)->get_ref<const std::string&>();
  if (s.empty()) return Bad(field, "empty");
  if (s.size() > kMaxHballoonStringBytes) return Bad(field, "too long");
  return s;
}

absl::StatusOr<bool> GetBool(const json& obj, absl::string_view where,
                             const char* name) {
  absl::StatusOr<const json*> m = Member(obj, where, name);
  if (!m.ok()) return m.status();
  if (!(*m)->is_boolean()) {
    return Bad(absl::StrCat(where, ".", name), "not a boolean");
  }
  return (*m)->get<bool>();
}

absl::StatusOr<const json*> GetArray(const json& obj, absl::string_view where,
                                     const char* name, size_t max_size) {
  absl::StatusOr<const json*> m = Member(obj, where, name);
  if (!m.ok()) return m.status();
  const std::string field = absl::StrCat(where, ".", name);
  if (!(*m)->is_array()) return Bad(field, "not an array");
  if ((*m)->size() > max_size) {
    return Bad(field, absl::StrCat((*m)->size(), " entries, more than ",
                                   max_size));
  }
  return *m;
}

absl::StatusOr<PressureLevel> ParsePressure(const json& obj,
                                            absl::string_view where) {
  absl::StatusOr<std::string> s = GetString(obj, where, "pressure");
  if (!s.ok()) return s.status();
  if (*s == "none") return PressureLevel::kNone;
  if (*s == "low") return PressureLevel::kLow;
  if (*s == "high") return PressureLevel::kHigh;
  return Bad(absl::StrCat(where, ".pressure"), "not none/low/high");
}

#define ASSIGN_OR_RETURN_IMPL(var, expr, tmp) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  var = *std::move(tmp)
#define TV_CONCAT2(a, b) a##b
#define TV_CONCAT(a, b) TV_CONCAT2(a, b)
#define ASSIGN_OR_RETURN(var, expr) \
  ASSIGN_OR_RETURN_IMPL(var, expr, TV_CONCAT(_status_or_, __LINE__))

absl::StatusOr<HballoonTier> ParseTier(const json& j,
                                       const std::string& where) {
  absl::StatusOr<std::string> s = GetString(j, where, "tier");
  if (!s.ok()) return s.status();
  if (*s == "fmem") return HballoonTier::kFmem;
  if (*s == "smem") return HballoonTier::kSmem;
  return Bad(absl::StrCat(where, ".tier"), "not fmem/smem");
}

absl::StatusOr<HballoonNode> ParseNode(const json& j, const std::string& where) {
  if (!j.is_object()) return Bad(where, "not an object");
  HballoonNode n;
  ASSIGN_OR_RETURN(n.node, GetU64(j, where, "node", kMaxHballoonNodes - 1));
  ASSIGN_OR_RETURN(n.tier, ParseTier(j, where));
  ASSIGN_OR_RETURN(n.size_bytes, GetU64(j, where, "size"));
  if (n.size_bytes == 0 || n.size_bytes % kHballoonPageBytes != 0) {
    return Bad(absl::StrCat(where, ".size"),
               absl::StrCat(n.size_bytes, " is not a positive multiple of 4 KiB"));
  }
  ASSIGN_OR_RETURN(n.target_bytes, GetU64(j, where, "target"));
  if (n.target_bytes > n.size_bytes) {
    return Bad(absl::StrCat(where, ".target"),
               absl::StrCat(n.target_bytes, " exceeds size ", n.size_bytes));
  }
  if (n.target_bytes % kHballoonPageBytes != 0) {
    return Bad(absl::StrCat(where, ".target"), "not a multiple of 4 KiB");
  }
  ASSIGN_OR_RETURN(n.actual_bytes, GetU64(j, where, "actual"));
  if (n.actual_bytes > n.size_bytes) {
    return Bad(absl::StrCat(where, ".actual"),
               absl::StrCat(n.actual_bytes, " exceeds size ", n.size_bytes));
  }
  if (n.actual_bytes % kHballoonPageBytes != 0) {
    return Bad(absl::StrCat(where, ".actual"), "not a multiple of 4 KiB");
  }
  ASSIGN_OR_RETURN(n.guest_actual_bytes, GetU64(j, where, "guest-actual"));
  ASSIGN_OR_RETURN(n.inflated_pages, GetU64(j, where, "inflated-pages"));
  ASSIGN_OR_RETURN(n.deflated_pages, GetU64(j, where, "deflated-pages"));
  return n;
}

absl::StatusOr<HballoonStats> ParseStats(const json& j,
                                         const std::string& where) {
  if (!j.is_object()) return Bad(where, "not an object");
  HballoonStats s;
  ASSIGN_OR_RETURN(s.seq, GetU64(j, where, "seq", UINT32_MAX));
  ASSIGN_OR_RETURN(s.last_update_ms, GetNonNegI64(j, where, "last-update-ms"));
  ASSIGN_OR_RETURN(s.dropped, GetU64(j, where, "dropped"));
  ASSIGN_OR_RETURN(s.unknown_tags, GetU64(j, where, "unknown-tags"));
  ASSIGN_OR_RETURN(const json* recs,
                   GetArray(j, where, "records", kMaxHballoonStatRecords));
  absl::flat_hash_set<uint32_t> seen;
  s.records.reserve(recs->size());
  for (size_t i = 0; i < recs->size(); ++i) {
    const std::string rw = absl::StrCat(where, ".records[", i, "]");
    const json& r = (*recs)[i];
    if (!r.is_object()) return Bad(rw, "not an object");
    HballoonStatRecord rec;
    ASSIGN_OR_RETURN(rec.tag, GetU64(r, rw, "tag", UINT16_MAX));
    ASSIGN_OR_RETURN(rec.node, GetU64(r, rw, "node", UINT16_MAX));
    if (rec.node > kMaxHballoonStatsNode && rec.node != kHballoonStatsVmWide) {
      return Bad(absl::StrCat(rw, ".node"),
                 absl::StrCat(rec.node, " is neither < 128 nor 65535"));
    }
    ASSIGN_OR_RETURN(rec.value, GetU64(r, rw, "value"));
    if (!seen.insert((uint32_t{rec.tag} << 16) | rec.node).second) {
      return Bad(rw, absl::StrCat("duplicate (tag ", rec.tag, ", node ",
                                  rec.node, ")"));
    }
    s.records.push_back(rec);
  }
  return s;
}

absl::StatusOr<HballoonInfo> ParseInfo(const json& j, const std::string& where) {
  if (!j.is_object()) return Bad(where, "not an object");
  HballoonInfo info;
  if (j.contains("id")) {
    ASSIGN_OR_RETURN(info.id, GetString(j, where, "id"));
  }
  ASSIGN_OR_RETURN(info.qom_path, GetString(j, where, "qom-path"));
  ASSIGN_OR_RETURN(info.broken, GetBool(j, where, "broken"));
  ASSIGN_OR_RETURN(info.pressure, ParsePressure(j, where));
  ASSIGN_OR_RETURN(const json* nodes,
                   GetArray(j, where, "nodes", kMaxHballoonNodes));
  if (nodes->empty()) return Bad(absl::StrCat(where, ".nodes"), "empty");
  bool seen[kMaxHballoonNodes] = {};
  for (size_t i = 0; i < nodes->size(); ++i) {
    const std::string nw = absl::StrCat(where, ".nodes[", i, "]");
    ASSIGN_OR_RETURN(HballoonNode n, ParseNode((*nodes)[i], nw));
    if (seen[n.node]) {
      return Bad(absl::StrCat(nw, ".node"),
                 absl::StrCat("duplicate node ", n.node));
    }
    seen[n.node] = true;
    info.nodes.push_back(n);
  }
  ASSIGN_OR_RETURN(info.discard_calls, GetU64(j, where, "discard-calls"));
  ASSIGN_OR_RETURN(info.discarded_bytes, GetU64(j, where, "discarded-bytes"));
  ASSIGN_OR_RETURN(info.discard_errors, GetU64(j, where, "discard-errors"));
  ASSIGN_OR_RETURN(info.rejected_requests,
                   GetU64(j, where, "rejected-requests"));
  ASSIGN_OR_RETURN(const json* stats, Member(j, where, "stats"));
  ASSIGN_OR_RETURN(info.stats,
                   ParseStats(*stats, absl::StrCat(where, ".stats")));
  return info;
}

}  // namespace

std::string_view PressureLevelName(PressureLevel level) {
  switch (level) {
    case PressureLevel::kNone:
      return "none";
    case PressureLevel::kLow:
      return "low";
    case PressureLevel::kHigh:
      return "high";
  }
  return "none";
}

absl::StatusOr<std::vector<HballoonInfo>> ParseQueryHballoon(const json& ret) {
  if (!ret.is_array()) return Bad("hballoon", "reply is not an array");
  if (ret.size() > kMaxHballoonDevices) {
    return Bad("hballoon", absl::StrCat(ret.size(), " devices, more than ",
                                        kMaxHballoonDevices));
  }
  std::vector<HballoonInfo> out;
  out.reserve(ret.size());
  for (size_t i = 0; i < ret.size(); ++i) {
    ASSIGN_OR_RETURN(HballoonInfo info,
                     ParseInfo(ret[i], absl::StrCat("hballoon[", i, "]")));
    out.push_back(std::move(info));
  }
  return out;
}

absl::StatusOr<HballoonChange> ParseHballoonChange(const json& data) {
  const std::string where = "HBALLOON_CHANGE";
  if (!data.is_object()) return Bad(where, "data is not an object");
  HballoonChange c;
  ASSIGN_OR_RETURN(c.qom_path, GetString(data, where, "qom-path"));
  ASSIGN_OR_RETURN(c.node, GetU64(data, where, "node", kMaxHballoonNodes - 1));
  ASSIGN_OR_RETURN(c.actual_bytes, GetU64(data, where, "actual"));
  if (c.actual_bytes % kHballoonPageBytes != 0) {
    return Bad(absl::StrCat(where, ".actual"), "not a multiple of 4 KiB");
  }
  return c;
}

absl::StatusOr<std::vector<HballoonInfo>> QueryHballoon(QmpClient& client,
                                                        int timeout_ms) {
  absl::StatusOr<json> ret =
      client.Execute(kQueryHballoonCmd, json(), timeout_ms);
  if (!ret.ok()) return ret.status();
  return ParseQueryHballoon(*ret);
}

namespace {
// QMP replies `{}` to both setters; anything else means the server is not
// the device we think it is.
absl::Status ExpectEmptyReturn(std::string_view cmd,
                               const absl::StatusOr<json>& ret) {
  if (!ret.ok()) return ret.status();
  if (!ret->is_object() || !ret->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("QMP ", absl::string_view(cmd.data(), cmd.size()),
                     ": return is not {}"));
  }
  return absl::OkStatus();
}
}  // namespace

absl::Status SetHballoonTarget(QmpClient& client, std::string_view id,
                               uint32_t node, uint64_t target_bytes,
                               int timeout_ms) {
  if (id.empty()) return absl::InvalidArgumentError("hballoon id is empty");
  if (node >= kMaxHballoonNodes) {
    return absl::InvalidArgumentError(absl::StrCat("hballoon node ", node,
                                                   " out of range"));
  }
  const json args = {{"id", std::string(id)},
                     {"node", node},
                     {"target", target_bytes}};
  return ExpectEmptyReturn(kSetTargetCmd,
                           client.Execute(kSetTargetCmd, args, timeout_ms));
}

absl::Status SetHballoonPressure(QmpClient& client, std::string_view id,
                                 PressureLevel level, int timeout_ms) {
  if (id.empty()) return absl::InvalidArgumentError("hballoon id is empty");
  const json args = {{"id", std::string(id)},
                     {"level", std::string(PressureLevelName(level))}};
  return ExpectEmptyReturn(kSetPressureCmd,
                           client.Execute(kSetPressureCmd, args, timeout_ms));
}

}  // namespace tiervm::agent::qmp
