#include "daemon/hplaced/config.h"

#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string_view>

#include <toml++/toml.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "daemon/adapters/file_util.h"

namespace tiervm::hplaced {
namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr size_t kMaxConfigBytes = 1 << 20;

std::string Where(absl::string_view file, const toml::source_region& src) {
  return absl::StrCat(std::string(file), ":", src.begin.line, ":", src.begin.column);
}

// A key's handler gets its node and reports a problem as a plain reason;
// the caller adds file:line:col and the key's name.
using Handler = std::function<std::optional<std::string>(const toml::node&, HplacedConfig&)>;

Handler Int(int64_t lo, int64_t hi, std::function<void(HplacedConfig&, int64_t)> set) {
  return [=](const toml::node& n, HplacedConfig& c) -> std::optional<std::string> {
    if (!n.is_integer()) return std::string("expected an integer");
    const int64_t v = n.as_integer()->get();
    if (v < lo || v > hi) return absl::StrCat("must be in [", lo, ", ", hi, "], got ", v);
    set(c, v);
    return std::nullopt;
  };
}

Handler Real(double lo, double hi, std::function<void(HplacedConfig&, double)> set) {
  return [=](const toml::node& n, HplacedConfig& c) -> std::optional<std::string> {
    double v;
    if (n.is_floating_point()) {
      v = n.as_floating_point()->get();
    } else if (n.is_integer()) {
      v = static_cast<double>(n.as_integer()->get());
    } else {
      return std::string("expected a number");
    }
    if (!std::isfinite(v) || v < lo || v > hi) {
      return absl::StrCat("must be in [", lo, ", ", hi, "], got ", v);
    }
    set(c, v);
    return std::nullopt;
  };
}

Handler Bool(std::function<void(HplacedConfig&, bool)> set) {
  return [=](const toml::node& n, HplacedConfig& c) -> std::optional<std::string> {
    if (!n.is_boolean()) return std::string("expected true or false");
    set(c, n.as_boolean()->get());
    return std::nullopt;
  };
}

Handler Str(std::vector<std::string> allowed, std::function<void(HplacedConfig&, std::string)> set) {
  return [=](const toml::node& n, HplacedConfig& c) -> std::optional<std::string> {
    if (!n.is_string()) return std::string("expected a string");
    std::string v = n.as_string()->get();
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
      return absl::StrCat("must be one of ", absl::StrJoin(allowed, ", "), ", got \"", v, "\"");
    }
    set(c, std::move(v));
    return std::nullopt;
  };
}

// An absolute file path: these are opened by a daemon whose working
// directory is whatever systemd or a shell gave it.
Handler Path(std::function<void(HplacedConfig&, std::string)> set) {
  return [=](const toml::node& n, HplacedConfig& c) -> std::optional<std::string> {
    if (!n.is_string()) return std::string("expected a string");
    std::string v = n.as_string()->get();
    if (v.empty() || v[0] != '/' || v.back() == '/') {
      return absl::StrCat("expected an absolute file path, got \"", v, "\"");
    }
    set(c, std::move(v));
    return std::nullopt;
  };
}

const std::map<std::string, Handler, std::less<>>& Handlers() {
  static const auto* h = new std::map<std::string, Handler, std::less<>>{
      {"daemon.tick_ms", Int(10, 3'600'000, [](auto& c, int64_t v) { c.tick_ms = v; })},
      {"daemon.epoch_ticks", Int(1, 1000, [](auto& c, int64_t v) { c.epoch_ticks = v; })},
      {"daemon.maps_refresh_ms",
       Int(10, 3'600'000, [](auto& c, int64_t v) { c.maps_refresh_ms = v; })},
      {"daemon.refresh_growth_mib",
       Int(0, 1 << 20, [](auto& c, int64_t v) { c.refresh_growth_mib = v; })},
      {"daemon.full_refresh_ms",
       Int(10, 86'400'000, [](auto& c, int64_t v) { c.full_refresh_ms = v; })},
      {"daemon.status_interval_ms",
       Int(0, 3'600'000, [](auto& c, int64_t v) { c.status_interval_ms = v; })},
      {"daemon.telemetry_interval_ms",
       Int(0, 3'600'000, [](auto& c, int64_t v) { c.telemetry_interval_ms = v; })},
      {"daemon.source", Str({"auto", "pebs", "abit", "replay", "none"},
                            [](auto& c, std::string v) { c.source = std::move(v); })},
      {"daemon.trace_file", Str({}, [](auto& c, std::string v) { c.trace_file = std::move(v); })},
      {"daemon.status_file",
       Str({}, [](auto& c, std::string v) { c.status_file = std::move(v); })},
      {"daemon.hballoon_device",
       Str({}, [](auto& c, std::string v) { c.hballoon_device = std::move(v); })},
      {"daemon.log_level", Str({"trace", "debug", "info", "warn", "error", "off"},
                               [](auto& c, std::string v) { c.log_level = std::move(v); })},
      {"daemon.deny_comms",
       [](const toml::node& n, HplacedConfig& c) -> std::optional<std::string> {
         const toml::array* a = n.as_array();
         if (a == nullptr) return std::string("expected an array of strings");
         std::vector<std::string> v;
         for (const toml::node& e : *a) {
           if (!e.is_string()) return std::string("expected an array of strings");
           const std::string s = e.as_string()->get();
           // /proc/PID/stat truncates comm to 15 bytes: a longer name never matches.
           if (s.empty() || s.size() > 15) {
             return absl::StrCat("\"", s, "\": a comm is 1..15 characters");
           }
           v.push_back(s);
         }
         c.deny_comms = std::move(v);
         return std::nullopt;
       }},
      {"daemon.numa_balancing",
       Str({"off", "keep"}, [](auto& c, std::string v) { c.numa_balancing = std::move(v); })},
      {"daemon.numa_balancing_sysctl", Path([](auto& c, std::string v) {
         c.numa_balancing_sysctl = std::move(v);
       })},
      {"daemon.numa_balancing_state_file", Path([](auto& c, std::string v) {
         c.numa_balancing_state_file = std::move(v);
       })},
      {"daemon.max_samples_per_tick", Int(1, 1 << 26, [](auto& c, int64_t v) {
         c.max_samples_per_tick = static_cast<size_t>(v);
       })},
      {"nodes.fmem", Int(0, 7, [](auto& c, int64_t v) { c.planner.fmem_node = static_cast<int>(v); })},
      {"nodes.smem", Int(0, 7, [](auto& c, int64_t v) { c.planner.smem_node = static_cast<int>(v); })},
      {"placement.headroom_mib", Int(0, 1 << 20, [](auto& c, int64_t v) {
         c.planner.headroom_bytes = static_cast<uint64_t>(v) * kMiB;
       })},
      {"placement.rate_limit_mib_per_s",
       Real(0.001, 1e6, [](auto& c, double v) { c.planner.rate_limit_mib_per_s = v; })},
      {"placement.min_rate_mib_per_s",
       Real(0, 1e6, [](auto& c, double v) { c.planner.min_rate_mib_per_s = v; })},
      {"placement.round_mib", Int(1, 1 << 16, [](auto& c, int64_t v) {
         c.planner.round_bytes = static_cast<uint64_t>(v) * kMiB;
       })},
      {"placement.promote_hold_epochs",
       Int(0, 1000, [](auto& c, int64_t v) { c.planner.promote_hold_epochs = v; })},
      {"placement.min_exchange_gain",
       Real(0, 1e6, [](auto& c, double v) { c.planner.min_exchange_gain = v; })},
      {"placement.page_exchange_gain",
       Real(0, 1e6, [](auto& c, double v) { c.planner.page_exchange_gain = v; })},
      {"placement.thp_max_unevenness",
       Real(1, 8, [](auto& c, double v) { c.planner.thp_max_unevenness = v; })},
      {"placement.file_backed", Bool([](auto& c, bool v) { c.place_file_backed = v; })},
      {"placement.shared", Bool([](auto& c, bool v) { c.place_shared = v; })},
      {"placement.initial_move_cost_us_per_mib",
       Real(1, 1e7, [](auto& c, double v) { c.planner.initial_move_cost_us_per_mib = v; })},
      {"placement.max_batch_pages", Int(1, 1 << 16, [](auto& c, int64_t v) {
         c.max_batch_pages = static_cast<size_t>(v);
       })},
      {"placement.min_hot_weight_per_mib",
       Real(0, 1e12, [](auto& c, double v) { c.planner.min_hot_weight_per_mib = v; })},
      {"placement.locator", Str({"auto", "hballoon", "move_pages"},
                                [](auto& c, std::string v) { c.locator = std::move(v); })},
      {"placement.locate_exact_pages", Int(1, 1 << 28, [](auto& c, int64_t v) {
         c.locate_exact_pages = static_cast<size_t>(v);
       })},
      {"placement.locate_sample_pages", Int(1, 1 << 24, [](auto& c, int64_t v) {
         c.locate_sample_pages = static_cast<size_t>(v);
       })},
      {"placement.restore_after_ticks",
       Int(0, 1 << 20, [](auto& c, int64_t v) { c.planner.restore_after_ticks = v; })},
      {"placement.locate_refresh_ticks",
       Int(1, 1 << 20, [](auto& c, int64_t v) { c.planner.locate_refresh_ticks = v; })},
      {"placement.locate_idle_refresh_ticks",
       Int(0, 1 << 20, [](auto& c, int64_t v) { c.planner.locate_idle_refresh_ticks = v; })},
      {"placement.locate_window_pages", Int(0, 1 << 28, [](auto& c, int64_t v) {
         c.planner.locate_window_pages = static_cast<uint64_t>(v);
       })},
      {"placement.locate_tick_pages", Int(0, 1 << 28, [](auto& c, int64_t v) {
         c.planner.locate_tick_pages = static_cast<uint64_t>(v);
       })},
      {"placement.enomem_step_mib", Int(0, 1 << 20, [](auto& c, int64_t v) {
         c.planner.enomem_step_bytes = static_cast<uint64_t>(v) * kMiB;
       })},
      {"placement.enomem_max_extra_mib", Int(0, 1 << 20, [](auto& c, int64_t v) {
         c.planner.enomem_max_extra_bytes = static_cast<uint64_t>(v) * kMiB;
       })},
      {"tracker.max_ranges", Int(16, 1 << 20, [](auto& c, int64_t v) {
         c.tracker.max_ranges = static_cast<size_t>(v);
       })},
      {"tracker.min_range_kib", Int(4, 1 << 20, [](auto& c, int64_t v) {
         c.tracker.min_range_bytes = static_cast<uint64_t>(v) << 10;
       })},
      {"tracker.min_span_kib", Int(4, 1 << 30, [](auto& c, int64_t v) {
         c.tracker.min_span_bytes = static_cast<uint64_t>(v) << 10;
       })},
      {"tracker.decay_factor", Real(0.01, 1, [](auto& c, double v) { c.tracker.decay_factor = v; })},
      {"tracker.split_min_weight",
       Real(0, 1e12, [](auto& c, double v) { c.tracker.split_min_weight = v; })},
      {"tracker.split_contrast",
       Real(0, 1, [](auto& c, double v) { c.tracker.split_contrast = v; })},
      {"tracker.merge_contrast",
       Real(0, 1, [](auto& c, double v) { c.tracker.merge_contrast = v; })},
      {"tracker.merge_max_weight",
       Real(0, 1e12, [](auto& c, double v) { c.tracker.merge_max_weight = v; })},
      {"tracker.max_page_counts", Int(0, 1 << 26, [](auto& c, int64_t v) {
         c.tracker.max_page_counts = static_cast<size_t>(v);
       })},
      {"tracker.page_decay_factor",
       Real(0.01, 1, [](auto& c, double v) { c.tracker.page_decay_factor = v; })},
      {"tracker.page_min_count",
       Real(0, 1e6, [](auto& c, double v) { c.tracker.page_min_count = v; })},
      {"budget.budget_pct", Real(0.001, 100, [](auto& c, double v) { c.budget.budget_pct = v; })},
      {"budget.target_fraction",
       Real(0.05, 1, [](auto& c, double v) { c.budget.target_fraction = v; })},
      {"budget.sampling_share",
       Real(0.01, 1, [](auto& c, double v) { c.budget.sampling_share = v; })},
      {"budget.max_sampling_gap_ticks",
       Int(0, 1000, [](auto& c, int64_t v) { c.max_sampling_gap_ticks = v; })},
      {"budget.max_scan_pass_s", Real(0, 86400, [](auto& c, double v) { c.max_scan_pass_s = v; })},
      {"budget.burst_s", Real(0, 3600, [](auto& c, double v) { c.budget.burst_s = v; })},
      {"budget.max_debt_s", Real(0, 3600, [](auto& c, double v) { c.budget.max_debt_s = v; })},
      {"budget.sample_cost_ns", Real(0, 1e6, [](auto& c, double v) { c.budget.sample_cost_ns = v; })},
      {"budget.scan_cost_ns_per_page",
       Real(0, 1e6, [](auto& c, double v) { c.budget.scan_cost_ns_per_page = v; })},
      {"budget.initial_scan_pages_per_s",
       Real(1, 1e9, [](auto& c, double v) { c.budget.initial_scan_pages_per_s = v; })},
      {"budget.min_scan_pages_per_s",
       Real(1, 1e9, [](auto& c, double v) { c.budget.min_scan_pages_per_s = v; })},
      {"budget.max_scan_pages_per_s",
       Real(1, 1e9, [](auto& c, double v) { c.budget.max_scan_pages_per_s = v; })},
      {"budget.initial_sample_period", Int(1, 1 << 30, [](auto& c, int64_t v) {
         c.budget.initial_sample_period = static_cast<uint64_t>(v);
       })},
  };
  return *h;
}

}  // namespace

absl::Status HplacedConfig::Validate() const {
  if (planner.fmem_node == planner.smem_node) {
    return absl::InvalidArgumentError("nodes.fmem and nodes.smem must differ");
  }
  if (absl::Status s = planner.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("placement: ", s.message()));
  }
  if (source == "replay" && trace_file.empty()) {
    return absl::InvalidArgumentError("daemon.source = \"replay\" needs daemon.trace_file");
  }
  if (absl::Status s = tracker.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("tracker: ", s.message()));
  }
  if (absl::Status s = budget.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("budget: ", s.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<HplacedConfig> ParseConfig(absl::string_view text, absl::string_view file_name) {
  toml::table root;
  try {
    root = toml::parse(std::string_view(text.data(), text.size()),
                       std::string_view(file_name.data(), file_name.size()));
  } catch (const toml::parse_error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(file_name, e.source()), ": ", std::string(e.description())));
  }
  HplacedConfig cfg;
  const auto& handlers = Handlers();
  for (const auto& [section_key, section] : root) {
    const std::string section_name(section_key.str());
    const toml::table* t = section.as_table();
    if (t == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          Where(file_name, section.source()), ": ", section_name,
          ": top-level keys are sections ([daemon], [nodes], [placement], [tracker], [budget])"));
    }
    for (const auto& [key, node] : *t) {
      const std::string full = absl::StrCat(section_name, ".", std::string(key.str()));
      auto it = handlers.find(full);
      if (it == handlers.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat(Where(file_name, node.source()), ": ", full, ": unknown key"));
      }
      if (std::optional<std::string> err = it->second(node, cfg)) {
        return absl::InvalidArgumentError(
            absl::StrCat(Where(file_name, node.source()), ": ", full, ": ", *err));
      }
    }
  }
  if (absl::Status s = cfg.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(file_name), ": ", s.message()));
  }
  return cfg;
}

absl::StatusOr<HplacedConfig> LoadConfigFile(const std::string& path) {
  absl::StatusOr<std::string> text = adapters::ReadFileBounded(path, kMaxConfigBytes);
  if (!text.ok()) return text.status();
  return ParseConfig(*text, path);
}

}  // namespace tiervm::hplaced
