// hplaced: the TierVM guest placement daemon (see ../README.md "hplaced").
//
//   hplaced [--config=PATH] [--source=auto|abit|pebs|replay|none]
//           [--trace=PATH] [--status-file=PATH] [--print-status]
//           [--tick-ms=N] [--telemetry-ms=N] [--log-level=LEVEL]
//           [--once] [--duration-s=SECONDS]
//   hplaced [--config=PATH] --restore-numa-balancing
//
// Flags override the config file; without --config the built-in defaults
// apply (hplaced.toml documents them).  --restore-numa-balancing only puts
// back the kernel.numa_balancing a killed hplaced left off (the unit's
// ExecStopPost=; numa_balancing.h) and exits: 0 done or nothing to do, 1
// failed.  Logs go to stderr; the counters JSON
// goes to --status-file every status_interval_ms, to stdout every tick with
// --print-status, and to stdout once at exit.  SIGTERM/SIGINT end the loop
// after the current tick.
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "daemon/adapters/hballoon_dev.h"
#include "daemon/adapters/move_pages.h"
#include "daemon/adapters/real_clock.h"
#include "daemon/hplaced/config.h"
#include "daemon/hplaced/numa_balancing.h"
#include "daemon/hplaced/placement_loop.h"
#include "daemon/hplaced/sources.h"
#include "daemon/hplaced/system_view.h"

namespace {

using tiervm::hplaced::HplacedConfig;

constexpr char kUsage[] =
    "usage: hplaced [--config=PATH] [--source=auto|abit|pebs|replay|none] [--trace=PATH]\n"
    "               [--status-file=PATH] [--print-status] [--tick-ms=N] [--telemetry-ms=N]\n"
    "               [--log-level=trace|debug|info|warn|error|off] [--once] [--duration-s=S]\n"
    "               [--budget-pct=P]\n"
    "       hplaced [--config=PATH] --restore-numa-balancing\n";

struct Flags {
  std::string config;
  std::string source, trace, status_file, log_level;
  int64_t tick_ms = -1, telemetry_ms = -1;
  double duration_s = -1;
  double budget_pct = -1;  // -1: the config's
  bool once = false, print_status = false;
  bool restore_numa_balancing = false;
};

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "hplaced: %s\n", msg.c_str());
  std::exit(2);
}

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string key = a, val;
    bool has_val = false;
    if (size_t eq = a.find('='); eq != std::string::npos) {
      key = a.substr(0, eq);
      val = a.substr(eq + 1);
      has_val = true;
    }
    auto need = [&]() -> const std::string& {
      if (!has_val) {
        if (i + 1 >= argc) Die(absl::StrCat(key, " needs a value\n", kUsage));
        val = argv[++i];
        has_val = true;
      }
      return val;
    };
    auto num = [&](int64_t* out) {
      if (!absl::SimpleAtoi(need(), out) || *out < 0) Die(absl::StrCat(key, ": bad number \"", val, "\""));
    };
    if (key == "--help" || key == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (key == "--config") {
      f.config = need();
    } else if (key == "--source") {
      f.source = need();
    } else if (key == "--trace") {
      f.trace = need();
    } else if (key == "--status-file") {
      f.status_file = need();
    } else if (key == "--log-level") {
      f.log_level = need();
    } else if (key == "--tick-ms") {
      num(&f.tick_ms);
    } else if (key == "--telemetry-ms") {
      num(&f.telemetry_ms);
    } else if (key == "--duration-s") {
      if (!absl::SimpleAtod(need(), &f.duration_s) || !(f.duration_s > 0)) {
        Die(absl::StrCat("--duration-s: bad number \"", val, "\""));
      }
    } else if (key == "--budget-pct") {
      if (!absl::SimpleAtod(need(), &f.budget_pct) || !(f.budget_pct > 0) ||
          !(f.budget_pct <= 100)) {
        Die(absl::StrCat("--budget-pct: want a number in (0, 100], got \"", val, "\""));
      }
    } else if (key == "--once" && !has_val) {
      f.once = true;
    } else if (key == "--print-status" && !has_val) {
      f.print_status = true;
    } else if (key == "--restore-numa-balancing" && !has_val) {
      f.restore_numa_balancing = true;
    } else {
      Die(absl::StrCat("unknown argument \"", a, "\"\n", kUsage));
    }
  }
  return f;
}

void WriteStatusFile(const std::string& path, const std::string& json) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << json << "\n";
    if (!out) {
      spdlog::warn("cannot write {}", tmp);
      return;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    spdlog::warn("cannot rename {} to {}: errno {}", tmp, path, errno);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Flags flags = ParseFlags(argc, argv);
  auto logger = spdlog::stderr_logger_mt("hplaced");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %L hplaced: %v");
  spdlog::set_default_logger(logger);

  HplacedConfig config;
  if (!flags.config.empty()) {
    absl::StatusOr<HplacedConfig> c = tiervm::hplaced::LoadConfigFile(flags.config);
    if (!c.ok()) Die(std::string(c.status().message()));
    config = *c;
  }
  // Flags override the file; re-validate with the same rules.
  if (!flags.source.empty()) config.source = flags.source;
  if (!flags.trace.empty()) config.trace_file = flags.trace;
  if (!flags.status_file.empty()) config.status_file = flags.status_file;
  if (!flags.log_level.empty()) config.log_level = flags.log_level;
  if (flags.tick_ms >= 0) {
    if (flags.tick_ms < 10) Die("--tick-ms: at least 10");
    config.tick_ms = flags.tick_ms;
  }
  if (flags.telemetry_ms >= 0) config.telemetry_interval_ms = flags.telemetry_ms;
  if (flags.budget_pct > 0) config.budget.budget_pct = flags.budget_pct;
  if (config.source != "auto" && config.source != "abit" && config.source != "pebs" &&
      config.source != "replay" && config.source != "none") {
    Die(absl::StrCat("--source: unknown source \"", config.source, "\""));
  }
  if (absl::Status s = config.Validate(); !s.ok()) Die(std::string(s.message()));
  spdlog::level::level_enum lvl = spdlog::level::from_str(config.log_level);
  if (config.log_level != "off" && lvl == spdlog::level::off) {
    Die(absl::StrCat("--log-level: unknown level \"", config.log_level, "\""));
  }
  spdlog::set_level(lvl);
  if (flags.restore_numa_balancing) {
    // The same guard code as the daemon's, from the same config: one
    // source of truth for where the value from before is kept.
    const absl::Status s = tiervm::hplaced::NumaBalancingGuard::RestoreLeftOver(
        config.numa_balancing_sysctl, config.numa_balancing_state_file);
    return s.ok() ? 0 : 1;
  }

  // Signals are taken synchronously by sigtimedwait between ticks.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigprocmask(SIG_BLOCK, &sigs, nullptr);

  std::unique_ptr<tiervm::adapters::HballoonDev> hb;
  {
    auto dev = tiervm::adapters::LinuxHballoonDev::Open(config.hballoon_device);
    if (dev.ok()) {
      hb = std::move(*dev);
    } else {
      spdlog::warn("{}: {}; no telemetry and no balloon target view", config.hballoon_device,
                   dev.status().ToString());
    }
  }
  tiervm::adapters::RealClock clock;
  std::unique_ptr<tiervm::hplaced::OpenedSource> src;
  {
    auto opened = tiervm::hplaced::OpenSource(config, hb.get(), &clock);
    if (opened.ok()) {
      src = std::move(*opened);
    } else if (config.source == "auto") {
      // The daemon still keeps FMEM headroom for the balloon and reports
      // node telemetry without samples.
      spdlog::warn("no sample source ({}); running without sampling",
                   opened.status().ToString());
      HplacedConfig none = config;
      none.source = "none";
      src = std::move(*tiervm::hplaced::OpenSource(none, nullptr, &clock));
    } else {
      Die(absl::StrCat("sample source: ", opened.status().message()));
    }
  }
  spdlog::info("source {} ({}), tick {} ms, budget {}% of one vCPU, headroom {} MiB, rate {} MiB/s",
               src->name, src->detail, config.tick_ms, config.budget.budget_pct,
               config.planner.headroom_bytes >> 20, config.planner.rate_limit_mib_per_s);

  // The budget's sampling loop turns the knob of the source in use.
  config.budget.knob = src->name == "abit" ? tiervm::placement::SamplingKnob::kScanRate
                                           : tiervm::placement::SamplingKnob::kSamplePeriod;
  // Page counts (tracker.max_page_counts) are for sampled sources.  The
  // accessed-bit source reports every young page in every pass, so its
  // page counts say "young in n passes", which the ranges already see,
  // and resolving ranges page by page costs O(counted pages) per tick: in
  // the VM harness (TCG) hplaced took 12 % of a vCPU instead of 2.5-5 %
  // on redis and sqlite for the same share of their RSS on FMEM.
  if (src->name == "abit" && config.tracker.max_page_counts > 0) {
    spdlog::info("page counts off with the accessed-bit source (tracker.max_page_counts {} unused)",
                 config.tracker.max_page_counts);
    config.tracker.max_page_counts = 0;
  }
  // placement.locate_idle_refresh_ticks = 0 is "auto": with accessed bits
  // every page a range gains is sampled, so an idle range's residency
  // stays true for longer (tick_planner.h); a sampled source gets no
  // such rule.
  if (config.planner.locate_idle_refresh_ticks == 0 && src->name == "abit") {
    config.planner.locate_idle_refresh_ticks =
        std::max<int64_t>(tiervm::hplaced::kAbitLocateIdleRefreshTicks, config.planner.locate_refresh_ticks);
  }

  tiervm::hplaced::ProcfsSystemView system;
  tiervm::adapters::LinuxPageMoveSyscall syscall;
  tiervm::hplaced::LoopDeps deps;
  deps.system = &system;
  deps.source = src->source.get();
  deps.source_control = src->control;
  deps.source_optional = config.source == "auto";
  deps.syscall = &syscall;
  deps.hballoon = hb.get();
  deps.clock = &clock;
  tiervm::hplaced::PlacementLoop loop(config, deps, static_cast<tiervm::placement::Pid>(::getpid()));
  // Before the first tick: the first moves must not race NUMA balancing.
  tiervm::hplaced::NumaBalancingGuard numa_balancing(
      config.numa_balancing, config.numa_balancing_sysctl, config.numa_balancing_state_file);
  loop.NoteNumaBalancing(numa_balancing.state());

  const int64_t start = clock.MonotonicNs();
  const int64_t tick_ns = config.tick_ms * 1'000'000;
  const int64_t end = flags.duration_s > 0
                          ? start + static_cast<int64_t>(flags.duration_s * 1e9)
                          : INT64_MAX;
  int rc = 0;
  int64_t next = start;
  int64_t last_log = start;
  // The status file is fixed overhead: every status_interval_ms, not every
  // tick (building and writing it cost ~2 ms of TCG CPU), and at exit.
  int64_t last_status = INT64_MIN;
  auto write_status = [&](bool force) {
    const int64_t now = clock.MonotonicNs();
    const bool to_file = !config.status_file.empty() &&
                         (force || last_status == INT64_MIN ||
                          now - last_status >= config.status_interval_ms * 1'000'000);
    if (!to_file && !flags.print_status) return;
    const int64_t status_cpu0 = clock.OwnCpuNs();
    const std::string status = loop.StatusJson();
    if (to_file) {
      WriteStatusFile(config.status_file, status);
      last_status = now;
    }
    if (flags.print_status) {
      std::fprintf(stdout, "%s\n", status.c_str());
      std::fflush(stdout);
    }
    loop.NoteStatusCpu(clock.OwnCpuNs() - status_cpu0);
  };
  while (true) {
    absl::Status st = loop.Tick();
    write_status(false);
    if (!st.ok()) {
      spdlog::error("stopping: {}", st.ToString());
      rc = 1;
      break;
    }
    const int64_t now = clock.MonotonicNs();
    if (now - last_log >= 10'000'000'000) {
      last_log = now;
      const auto& c = loop.counters();
      spdlog::info("procs {} ranges {} samples {} promoted {} demoted {} hot {} MiB fmem free {} MiB "
                   "budget {:.3f}%",
                   c.processes, c.ranges, c.samples, c.promoted_pages, c.demoted_pages,
                   c.hot_bytes >> 20, c.fmem_free_bytes >> 20, c.budget.smoothed_pct);
    }
    if (flags.once || now >= end) break;
    next += tick_ns;
    if (next < now) next = now;  // fell behind: do not burst
    int64_t wait = std::min(next, end) - now;
    struct timespec ts = {static_cast<time_t>(wait / 1'000'000'000),
                          static_cast<long>(wait % 1'000'000'000)};
    int sig = sigtimedwait(&sigs, nullptr, &ts);
    if (sig == SIGTERM || sig == SIGINT) {
      spdlog::info("signal {}: exiting", sig);
      break;
    }
    if (clock.MonotonicNs() >= end) {
      // One last tick at the end of the run is not needed: stop here.
      break;
    }
  }
  // Restored before the last status, which then says so.
  numa_balancing.Restore().IgnoreError();
  loop.NoteNumaBalancing(numa_balancing.state());
  if (!config.status_file.empty()) WriteStatusFile(config.status_file, loop.StatusJson());
  std::fprintf(stdout, "%s\n", loop.StatusJson().c_str());
  std::fflush(stdout);
  return rc;
}
