#include "daemon/config.h"

#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "daemon/units.h"

#define TOML_ENABLE_FORMATTERS 0
#include <toml++/toml.h>

namespace tiervm::agent {

namespace {

// Collects the context of error messages: "file:line: key: what".
class Reader {
 public:
  explicit Reader(std::string_view filename) : file_(filename) {}

  absl::Status Error(const toml::node& n, std::string_view key,
                     std::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(
        file_, ":", n.source().begin.line, ": ", std::string(key), ": ",
        std::string(what)));
  }

  absl::StatusOr<int64_t> Int(const toml::node& n, std::string_view key,
                              int64_t lo, int64_t hi) const {
    std::optional<int64_t> v = n.value_exact<int64_t>();
    if (!v) return Error(n, key, "expected an integer");
    if (*v < lo || *v > hi) {
      return Error(n, key, absl::StrCat(*v, " is outside ", lo, "..", hi));
    }
    return *v;
  }
  absl::StatusOr<std::string> Str(const toml::node& n,
                                  std::string_view key) const {
    const toml::value<std::string>* s = n.as_string();
    if (!s) return Error(n, key, "expected a string");
    return s->get();
  }
  // An integer (bytes) or a string with a unit ("512MiB").
  absl::StatusOr<uint64_t> Size(const toml::node& n,
                                std::string_view key) const {
    if (std::optional<int64_t> v = n.value_exact<int64_t>()) {
      if (*v < 0) return Error(n, key, "negative size");
      return static_cast<uint64_t>(*v);
    }
    if (const toml::value<std::string>* s = n.as_string()) {
      absl::StatusOr<uint64_t> b = ParseByteSize(s->get());
      if (!b.ok()) return Error(n, key, std::string(b.status().message()));
      return *b;
    }
    return Error(n, key, "expected a size: bytes or a string like \"512MiB\"");
  }
  absl::StatusOr<absl::Duration> Ms(const toml::node& n, std::string_view key,
                                    int64_t lo_ms, int64_t hi_ms) const {
    absl::StatusOr<int64_t> v = Int(n, key, lo_ms, hi_ms);
    if (!v.ok()) return v.status();
    return absl::Milliseconds(*v);
  }

 private:
  std::string file_;
};

using Setter = std::function<absl::Status(const toml::node&, const std::string&)>;

// Runs the setter of every key in `t`; unknown keys are errors.
absl::Status ForKeys(const Reader& r, const toml::table& t,
                     const std::string& prefix,
                     const std::map<std::string, Setter>& setters) {
  for (auto&& [k, v] : t) {
    const std::string key(k.str());
    const std::string full = prefix.empty() ? key : absl::StrCat(prefix, ".", key);
    auto it = setters.find(key);
    if (it == setters.end()) {
      std::vector<std::string> known;
      for (const auto& [name, s] : setters) known.push_back(name);
      return r.Error(v, full, absl::StrCat("unknown key (known: ",
                                           absl::StrJoin(known, ", "), ")"));
    }
    absl::Status s = it->second(v, full);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ParseVmSettings(const Reader& r, const toml::node& n,
                             const std::string& prefix, VmSettings* out,
                             AgentConfig* cfg) {
  const toml::table* t = n.as_table();
  if (!t) return r.Error(n, prefix, "expected a table");
  std::map<std::string, Setter> s = {
      {"min_fmem", [&](const toml::node& v, const std::string& k) {
         absl::StatusOr<uint64_t> b = r.Size(v, k);
         if (!b.ok()) return b.status();
         out->min_fmem_bytes = *b;
         return absl::OkStatus();
       }},
      {"max_fmem", [&](const toml::node& v, const std::string& k) {
         absl::StatusOr<uint64_t> b = r.Size(v, k);
         if (!b.ok()) return b.status();
         out->max_fmem_bytes = *b;
         return absl::OkStatus();
       }},
      {"weight", [&](const toml::node& v, const std::string& k) {
         absl::StatusOr<int64_t> w = r.Int(v, k, 1, kMaxVmWeight);
         if (!w.ok()) return w.status();
         out->weight = static_cast<uint32_t>(*w);
         return absl::OkStatus();
       }},
  };
  if (cfg != nullptr) {  // [defaults] also holds the guard targets
    s["psi_some_target_ppm"] = [&](const toml::node& v, const std::string& k) {
      absl::StatusOr<int64_t> x = r.Int(v, k, 0, kPpmOne);
      if (!x.ok()) return x.status();
      cfg->psi_some_target_ppm = static_cast<uint32_t>(*x);
      return absl::OkStatus();
    };
    s["smem_share_target_ppm"] = [&](const toml::node& v, const std::string& k) {
      absl::StatusOr<int64_t> x = r.Int(v, k, 0, kPpmOne);
      if (!x.ok()) return x.status();
      cfg->smem_share_target_ppm = static_cast<uint32_t>(*x);
      return absl::OkStatus();
    };
  }
  absl::Status st = ForKeys(r, *t, prefix, s);
  if (!st.ok()) return st;
  if (out->min_fmem_bytes && out->max_fmem_bytes &&
      *out->min_fmem_bytes > *out->max_fmem_bytes) {
    return r.Error(n, prefix, "min_fmem is above max_fmem");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<spdlog::level::level_enum> ParseLogLevel(std::string_view level) {
  using spdlog::level::level_enum;
  static constexpr std::pair<std::string_view, level_enum> kNames[] = {
      {"trace", level_enum::trace}, {"debug", level_enum::debug}, {"info", level_enum::info},
      {"warn", level_enum::warn},   {"warning", level_enum::warn}, {"error", level_enum::err},
      {"off", level_enum::off}};
  for (const auto& [name, l] : kNames) {
    if (level == name) return l;
  }
  std::string names;
  for (std::string_view l : kLogLevels) {
    if (!names.empty()) names += '|';
    names += l;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--log-level: unknown level '", std::string(level), "' (one of ", names, ")"));
}

absl::Status ValidateAgentConfig(const AgentConfig& c) {
  if (c.budget_bytes == 0) return absl::InvalidArgumentError("budget: required and > 0");
  if (c.qmp_socket_dir.empty() == c.libvirt_uri.empty()) {
    return absl::InvalidArgumentError(
        "exactly one of qmp_socket_dir and libvirt_uri must be set");
  }
  if (c.period_ms < 50 || c.period_ms > 3'600'000) {
    return absl::InvalidArgumentError("period_ms: outside 50..3600000");
  }
  if (c.control_socket.empty() || c.control_socket[0] != '/') {
    return absl::InvalidArgumentError("control_socket: must be an absolute path");
  }
  for (const auto& [name, s] : c.vms) {
    if (s.min_fmem_bytes && s.max_fmem_bytes &&
        *s.min_fmem_bytes > *s.max_fmem_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("vm.\"", name, "\": min_fmem above max_fmem"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<AgentConfig> ParseAgentConfig(std::string_view text,
                                             std::string_view filename,
                                             bool complete) {
  const Reader r(filename);
  toml::table root;
  try {
    root = toml::parse(text, filename);
  } catch (const toml::parse_error& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        std::string(filename), ":", e.source().begin.line, ": ",
        std::string(e.description())));
  }
  AgentConfig c;
  auto int_field = [&](int* out, int64_t lo, int64_t hi) {
    return [&r, out, lo, hi](const toml::node& v, const std::string& k) {
      absl::StatusOr<int64_t> x = r.Int(v, k, lo, hi);
      if (!x.ok()) return x.status();
      *out = static_cast<int>(*x);
      return absl::OkStatus();
    };
  };
  auto str_field = [&](std::string* out) {
    return [&r, out](const toml::node& v, const std::string& k) {
      absl::StatusOr<std::string> x = r.Str(v, k);
      if (!x.ok()) return x.status();
      *out = *x;
      return absl::OkStatus();
    };
  };
  auto size_field = [&](uint64_t* out) {
    return [&r, out](const toml::node& v, const std::string& k) {
      absl::StatusOr<uint64_t> x = r.Size(v, k);
      if (!x.ok()) return x.status();
      *out = *x;
      return absl::OkStatus();
    };
  };
  auto ms_field = [&](absl::Duration* out, int64_t lo, int64_t hi) {
    return [&r, out, lo, hi](const toml::node& v, const std::string& k) {
      absl::StatusOr<absl::Duration> x = r.Ms(v, k, lo, hi);
      if (!x.ok()) return x.status();
      *out = *x;
      return absl::OkStatus();
    };
  };
  auto table = [&](std::map<std::string, Setter> setters) {
    return [&r, setters = std::move(setters)](const toml::node& v,
                                              const std::string& k) {
      const toml::table* t = v.as_table();
      if (!t) return r.Error(v, k, "expected a table");
      return ForKeys(r, *t, k, setters);
    };
  };
  bool have_budget = false;
  PressureConfig& p = c.core.pressure;
  ActuatorConfig& a = c.core.actuator;
  GuardConfig& g = c.core.policy_args.guard;
  const int64_t kDay = 86'400'000;
  std::map<std::string, Setter> top = {
      {"budget", [&](const toml::node& v, const std::string& k) {
         absl::StatusOr<uint64_t> b = r.Size(v, k);
         if (!b.ok()) return b.status();
         if (*b == 0) return r.Error(v, k, "must be > 0");
         c.budget_bytes = *b;
         have_budget = true;
         return absl::OkStatus();
       }},
      {"fmem_nodes", [&](const toml::node& v, const std::string& k) {
         const toml::array* arr = v.as_array();
         if (!arr || arr->empty()) return r.Error(v, k, "expected a non-empty array of node numbers");
         c.fmem_nodes.clear();
         for (const toml::node& e : *arr) {
           absl::StatusOr<int64_t> n = r.Int(e, k, 0, 1023);
           if (!n.ok()) return n.status();
           c.fmem_nodes.push_back(static_cast<int>(*n));
         }
         return absl::OkStatus();
       }},
      {"period_ms", int_field(&c.period_ms, 50, 3'600'000)},
      {"policy", str_field(&c.core.policy)},
      {"qmp_socket_dir", str_field(&c.qmp_socket_dir)},
      {"libvirt_uri", str_field(&c.libvirt_uri)},
      {"qmp_timeout_ms", int_field(&c.qmp_timeout_ms, 10, 600'000)},
      {"control_socket", str_field(&c.control_socket)},
      {"metrics_listen", str_field(&c.metrics_listen)},
      {"target_log", str_field(&c.target_log)},
      {"host_root", str_field(&c.host_root)},
      {"measure_fmem_residency", [&](const toml::node& v, const std::string& k) {
         const toml::value<bool>* b = v.as_boolean();
         if (!b) return r.Error(v, k, "expected true or false");
         c.measure_fmem_residency = b->get();
         return absl::OkStatus();
       }},
      {"defaults", [&](const toml::node& v, const std::string& k) {
         return ParseVmSettings(r, v, k, &c.defaults, &c);
       }},
      {"vm", [&](const toml::node& v, const std::string& k) {
         const toml::table* t = v.as_table();
         if (!t) return r.Error(v, k, "expected tables [vm.\"name\"]");
         for (auto&& [name, sub] : *t) {
           const std::string n(name.str());
           const std::string key = absl::StrCat(k, ".\"", n, "\"");
           if (!IsValidVmName(n)) {
             return r.Error(sub, key, "VM names are 1..64 of [A-Za-z0-9._-]");
           }
           VmSettings s;
           absl::Status st = ParseVmSettings(r, sub, key, &s, nullptr);
           if (!st.ok()) return st;
           c.vms[n] = s;
         }
         return absl::OkStatus();
       }},
      {"telemetry", table({
           {"min_interval_ms", ms_field(&c.telemetry.min_interval, 0, kDay)},
           {"max_age_ms", ms_field(&c.telemetry_max_age, 1, kDay)},
       })},
      {"actuator", table({
           {"shrink_timeout_ms", ms_field(&a.shrink_timeout, 1, kDay)},
           {"grow_timeout_ms", ms_field(&a.grow_timeout, 1, kDay)},
           {"stuck_retry_ms", ms_field(&a.stuck_retry_after, 1, kDay)},
           {"settle_tolerance", size_field(&a.settle_tolerance_bytes)},
       })},
      {"guard", table({
           {"min_shrink_step", size_field(&g.min_shrink_step_bytes)},
           {"shrink_step_ppm", [&](const toml::node& v, const std::string& k) {
              absl::StatusOr<int64_t> x = r.Int(v, k, 0, kPpmOne);
              if (!x.ok()) return x.status();
              g.shrink_step_ppm = static_cast<uint32_t>(*x);
              return absl::OkStatus();
            }},
           {"max_grow_step", size_field(&g.max_grow_step_bytes)},
       })},
      {"pressure", table({
           {"high_free", size_field(&p.high_free_bytes)},
           {"low_free", size_field(&p.initial_low_free_bytes)},
           {"min_low_free", size_field(&p.min_low_free_bytes)},
           {"max_low_free", size_field(&p.max_low_free_bytes)},
           {"adapt_step", size_field(&p.adapt_step_bytes)},
           {"adapt_period_ms", ms_field(&p.adapt_period, 1, kDay)},
           {"expected_high_ticks", [&](const toml::node& v, const std::string& k) {
              absl::StatusOr<int64_t> x = r.Int(v, k, 0, 1'000'000);
              if (!x.ok()) return x.status();
              p.expected_high_ticks_per_period = static_cast<uint32_t>(*x);
              return absl::OkStatus();
            }},
       })},
  };
  absl::Status st = ForKeys(r, root, "", top);
  if (!st.ok()) return st;
  if (!have_budget && complete) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(filename), ": budget: required (e.g. budget = \"8GiB\")"));
  }
  if (!c.qmp_socket_dir.empty() && !c.libvirt_uri.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        std::string(filename), ":",
        root.get("libvirt_uri")->source().begin.line,
        ": libvirt_uri: set either qmp_socket_dir or libvirt_uri, not both"));
  }
  if (c.qmp_socket_dir.empty() && c.libvirt_uri.empty() && complete) {
    return absl::InvalidArgumentError(absl::StrCat(
        std::string(filename),
        ": one of qmp_socket_dir or libvirt_uri is required"));
  }
  if (c.defaults.min_fmem_bytes && c.defaults.max_fmem_bytes &&
      *c.defaults.min_fmem_bytes > *c.defaults.max_fmem_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        std::string(filename), ": defaults: min_fmem above max_fmem"));
  }
  if (complete) st = ValidateAgentConfig(c);
  if (!st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(filename), ": ", st.message()));
  }
  return c;
}

absl::StatusOr<AgentConfig> LoadAgentConfig(const std::string& path,
                                            bool complete) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (ss.str().size() > (size_t{1} << 20)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": larger than 1 MiB"));
  }
  return ParseAgentConfig(ss.str(), path, complete);
}

}  // namespace tiervm::agent
