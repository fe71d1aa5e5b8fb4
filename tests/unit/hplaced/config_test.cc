// hplaced's TOML config: defaults, every section, errors naming
// file:line:column and key, and the shipped hplaced.toml.
#include "daemon/hplaced/config.h"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tiervm::hplaced {
namespace {

using ::testing::HasSubstr;

std::string Err(const std::string& text) {
  absl::StatusOr<HplacedConfig> c = ParseConfig(text, "t.toml");
  EXPECT_FALSE(c.ok()) << text;
  return c.ok() ? "" : std::string(c.status().message());
}

TEST(Config, EmptyFileGivesDefaults) {
  absl::StatusOr<HplacedConfig> c = ParseConfig("", "t.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->source, "auto");
  EXPECT_EQ(c->tick_ms, 1000);
  EXPECT_EQ(c->planner.fmem_node, 0);
  EXPECT_EQ(c->planner.smem_node, 1);
  EXPECT_DOUBLE_EQ(c->budget.budget_pct, 1.0);
  EXPECT_EQ(c->numa_balancing, "off");
  EXPECT_EQ(c->numa_balancing_sysctl, "/proc/sys/kernel/numa_balancing");
  EXPECT_EQ(c->numa_balancing_state_file, "/run/hplaced/numa_balancing");
  EXPECT_TRUE(c->Validate().ok());
}

TEST(Config, EverySectionParses) {
  absl::StatusOr<HplacedConfig> c = ParseConfig(R"(
[daemon]
tick_ms = 500
epoch_ticks = 2
maps_refresh_ms = 4000
refresh_growth_mib = 0
telemetry_interval_ms = 0
source = "replay"
trace_file = "/tmp/x.trace"
status_file = "/run/hplaced.json"
hballoon_device = "/dev/hb"
log_level = "debug"
deny_comms = ["a", "bb"]
numa_balancing = "keep"
numa_balancing_sysctl = "/tmp/nb/sysctl"
numa_balancing_state_file = "/tmp/nb/state"
max_samples_per_tick = 1000
[nodes]
fmem = 1
smem = 0
[placement]
headroom_mib = 32
restore_after_ticks = 5
rate_limit_mib_per_s = 12.5
round_mib = 8
thp_max_unevenness = 3
min_exchange_gain = 1.5
page_exchange_gain = 3
file_backed = true
shared = true
max_batch_pages = 64
locate_exact_pages = 100
min_hot_weight_per_mib = 0
locate_sample_pages = 10
locate_refresh_ticks = 3
locate_window_pages = 0
[tracker]
max_ranges = 512
min_range_kib = 4
min_span_kib = 64
decay_factor = 0.75
split_min_weight = 8
split_contrast = 0.6
merge_contrast = 0.1
merge_max_weight = 2
max_page_counts = 1000
page_decay_factor = 0.9
page_min_count = 0.5
[budget]
budget_pct = 2.5
max_sampling_gap_ticks = 0
max_scan_pass_s = 4.5
target_fraction = 0.8
sample_cost_ns = 300
scan_cost_ns_per_page = 10
initial_scan_pages_per_s = 100000
min_scan_pages_per_s = 1000
max_scan_pages_per_s = 1000000
initial_sample_period = 8191
)", "t.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->tick_ms, 500);
  EXPECT_EQ(c->epoch_ticks, 2);
  EXPECT_EQ(c->refresh_growth_mib, 0);
  EXPECT_EQ(c->telemetry_interval_ms, 0);
  EXPECT_EQ(c->source, "replay");
  EXPECT_EQ(c->trace_file, "/tmp/x.trace");
  EXPECT_EQ(c->status_file, "/run/hplaced.json");
  EXPECT_EQ(c->deny_comms, (std::vector<std::string>{"a", "bb"}));
  EXPECT_EQ(c->numa_balancing, "keep");
  EXPECT_EQ(c->numa_balancing_sysctl, "/tmp/nb/sysctl");
  EXPECT_EQ(c->numa_balancing_state_file, "/tmp/nb/state");
  EXPECT_EQ(c->max_sampling_gap_ticks, 0);
  EXPECT_DOUBLE_EQ(c->max_scan_pass_s, 4.5);
  EXPECT_EQ(c->planner.fmem_node, 1);
  EXPECT_EQ(c->planner.headroom_bytes, 32ull << 20);
  EXPECT_EQ(c->planner.restore_after_ticks, 5);
  EXPECT_DOUBLE_EQ(c->planner.rate_limit_mib_per_s, 12.5);
  EXPECT_EQ(c->planner.round_bytes, 8ull << 20);
  EXPECT_DOUBLE_EQ(c->planner.min_exchange_gain, 1.5);
  EXPECT_DOUBLE_EQ(c->planner.page_exchange_gain, 3);
  EXPECT_TRUE(c->place_file_backed);
  EXPECT_EQ(c->locate_exact_pages, 100u);
  EXPECT_EQ(c->planner.min_hot_weight_per_mib, 0.0);
  EXPECT_EQ(c->locate_sample_pages, 10u);
  EXPECT_EQ(c->planner.locate_refresh_ticks, 3);
  EXPECT_EQ(c->planner.locate_window_pages, 0u);
  EXPECT_EQ(c->tracker.max_ranges, 512u);
  EXPECT_EQ(c->tracker.min_range_bytes, 4096u);
  EXPECT_DOUBLE_EQ(c->tracker.decay_factor, 0.75);
  EXPECT_EQ(c->tracker.max_page_counts, 1000u);
  EXPECT_DOUBLE_EQ(c->tracker.page_decay_factor, 0.9);
  EXPECT_DOUBLE_EQ(c->tracker.page_min_count, 0.5);
  EXPECT_DOUBLE_EQ(c->budget.budget_pct, 2.5);
  EXPECT_EQ(c->budget.initial_sample_period, 8191u);
}

TEST(Config, ErrorsNameFileLineAndKey) {
  EXPECT_THAT(Err("[daemon]\ntick_ms = 5\n"), HasSubstr("t.toml:2:11: daemon.tick_ms: must be in [10,"));
  EXPECT_THAT(Err("[daemon]\n\ntickms = 100\n"), HasSubstr("t.toml:3:10: daemon.tickms: unknown key"));
  EXPECT_THAT(Err("[daemon]\ntick_ms = \"fast\"\n"),
              HasSubstr("t.toml:2:11: daemon.tick_ms: expected an integer"));
  EXPECT_THAT(Err("[daemon]\nsource = \"magic\"\n"),
              HasSubstr("daemon.source: must be one of auto, pebs, abit, replay, none"));
  EXPECT_THAT(Err("[daemon]\nnuma_balancing = \"on\"\n"),
              HasSubstr("t.toml:2:18: daemon.numa_balancing: must be one of off, keep"));
  EXPECT_THAT(Err("[daemon]\nnuma_balancing_state_file = \"nb\"\n"),
              HasSubstr("daemon.numa_balancing_state_file: expected an absolute file path"));
  EXPECT_THAT(Err("[daemon]\nnuma_balancing_sysctl = \"/proc/sys/\"\n"),
              HasSubstr("daemon.numa_balancing_sysctl: expected an absolute file path"));
  EXPECT_THAT(Err("[daemon]\ndeny_comms = [\"x\", 3]\n"), HasSubstr("t.toml:2:14: daemon.deny_comms"));
  EXPECT_THAT(Err("[daemon]\ndeny_comms = [\"a_name_longer_than_15\"]\n"),
              HasSubstr("1..15 characters"));
  EXPECT_THAT(Err("[placement]\nfile_backed = 1\n"), HasSubstr("expected true or false"));
  EXPECT_THAT(Err("[placement]\npage_exchange_gain = 0.5\n"), HasSubstr("page_exchange_gain"));
  EXPECT_THAT(Err("[budget]\nbudget_pct = nan\n"), HasSubstr("budget.budget_pct: must be in"));
  EXPECT_THAT(Err("[budget]\nmax_sampling_gap_ticks = -1\n"),
              HasSubstr("budget.max_sampling_gap_ticks: must be in [0,"));
  EXPECT_THAT(Err("[budget]\nmax_scan_pass_s = -2.0\n"),
              HasSubstr("budget.max_scan_pass_s: must be in"));
  EXPECT_THAT(Err("tick_ms = 100\n"), HasSubstr("t.toml:1:11: tick_ms: top-level keys are sections"));
  EXPECT_THAT(Err("[daemon]\ntick_ms = \n"), HasSubstr("t.toml:2:"));
  EXPECT_THAT(Err("[nodes]\nfmem = 1\nsmem = 1\n"), HasSubstr("t.toml: nodes.fmem and nodes.smem must differ"));
  EXPECT_THAT(Err("[daemon]\nsource = \"replay\"\n"), HasSubstr("needs daemon.trace_file"));
  EXPECT_THAT(Err("[tracker]\nmerge_contrast = 0.9\n"), HasSubstr("t.toml: tracker:"));
}

TEST(Config, MissingFileIsNotFound) {
  absl::StatusOr<HplacedConfig> c = LoadConfigFile("/nonexistent/hplaced.toml");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
}

// The shipped file documents every key with its default value: it must
// parse, and to the defaults.
TEST(Config, ShippedFileIsTheDefaults) {
  absl::StatusOr<HplacedConfig> c = LoadConfigFile(HPLACED_TOML);
  ASSERT_TRUE(c.ok()) << c.status();
  HplacedConfig d;
  EXPECT_EQ(c->source, d.source);
  EXPECT_EQ(c->tick_ms, d.tick_ms);
  EXPECT_EQ(c->epoch_ticks, d.epoch_ticks);
  EXPECT_EQ(c->maps_refresh_ms, d.maps_refresh_ms);
  EXPECT_EQ(c->refresh_growth_mib, d.refresh_growth_mib);
  EXPECT_EQ(c->telemetry_interval_ms, d.telemetry_interval_ms);
  EXPECT_EQ(c->deny_comms, d.deny_comms);
  EXPECT_EQ(c->numa_balancing, d.numa_balancing);
  EXPECT_EQ(c->numa_balancing_sysctl, d.numa_balancing_sysctl);
  EXPECT_EQ(c->numa_balancing_state_file, d.numa_balancing_state_file);
  EXPECT_EQ(c->max_sampling_gap_ticks, d.max_sampling_gap_ticks);
  EXPECT_DOUBLE_EQ(c->max_scan_pass_s, d.max_scan_pass_s);
  EXPECT_EQ(c->planner.headroom_bytes, d.planner.headroom_bytes);
  EXPECT_EQ(c->planner.restore_after_ticks, d.planner.restore_after_ticks);
  EXPECT_DOUBLE_EQ(c->planner.rate_limit_mib_per_s, d.planner.rate_limit_mib_per_s);
  EXPECT_EQ(c->planner.round_bytes, d.planner.round_bytes);
  EXPECT_DOUBLE_EQ(c->planner.min_exchange_gain, d.planner.min_exchange_gain);
  EXPECT_DOUBLE_EQ(c->planner.page_exchange_gain, d.planner.page_exchange_gain);
  EXPECT_EQ(c->locate_exact_pages, d.locate_exact_pages);
  EXPECT_DOUBLE_EQ(c->planner.min_hot_weight_per_mib, d.planner.min_hot_weight_per_mib);
  EXPECT_EQ(c->locate_sample_pages, d.locate_sample_pages);
  EXPECT_EQ(c->planner.locate_refresh_ticks, d.planner.locate_refresh_ticks);
  EXPECT_EQ(c->planner.locate_window_pages, d.planner.locate_window_pages);
  EXPECT_EQ(c->planner.locate_tick_pages, d.planner.locate_tick_pages);
  EXPECT_EQ(c->planner.enomem_step_bytes, d.planner.enomem_step_bytes);
  EXPECT_EQ(c->planner.enomem_max_extra_bytes, d.planner.enomem_max_extra_bytes);
  EXPECT_EQ(c->tracker.max_ranges, d.tracker.max_ranges);
  EXPECT_DOUBLE_EQ(c->tracker.decay_factor, d.tracker.decay_factor);
  EXPECT_EQ(c->tracker.max_page_counts, d.tracker.max_page_counts);
  EXPECT_DOUBLE_EQ(c->tracker.page_decay_factor, d.tracker.page_decay_factor);
  EXPECT_DOUBLE_EQ(c->tracker.page_min_count, d.tracker.page_min_count);
  EXPECT_DOUBLE_EQ(c->budget.budget_pct, d.budget.budget_pct);
  EXPECT_DOUBLE_EQ(c->budget.initial_scan_pages_per_s, d.budget.initial_scan_pages_per_s);
}

}  // namespace
}  // namespace tiervm::hplaced
