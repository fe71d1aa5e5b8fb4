// Fault injection for hplaced's kernel.numa_balancing guard (issue 13,
// defect 8): the real hplaced binary, in a restart loop, SIGKILLed 50 times
// at random moments (from during start-up to well into its ticks), as
// systemd's Restart=on-failure would start it again.  After half of the
// kills the unit's ExecStopPost= is run as systemd would
// (`hplaced --restore-numa-balancing`); after the others the daemon is just
// started again.  Now and then "the user" sets another value while hplaced
// has it off: from then on that value is the original.
//
// hplaced runs with daemon.numa_balancing_sysctl and _state_file pointed at
// temp files, source "none" (no sampling) and no /dev/hballoon, so it needs
// no VM and never touches the host's sysctl; with headroom 0 and no samples
// it plans no moves (checked: the last run's status file reports none).
//
// Invariants, after every kill: the original can still come back -- the
// sysctl reads the original, or it reads 0 and the state file holds the
// original; after every ExecStopPost= run: the sysctl reads the original
// and the state file is gone.  At the end a last run is stopped with
// SIGTERM: the sysctl must read the original and no state file be left.
// A daemon that exits by itself, or an ExecStopPost= run that fails, is a
// crash.
//
// TIERVM_FAULT_KILLS (default 50) and TIERVM_FAULT_SEED (default 1) change
// the run.  Writes results/fault_hplaced_restart.json (fields in
// guest-driver/daemon/README.md, "Tests").
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

#ifndef TIERVM_RESULTS_DIR
#define TIERVM_RESULTS_DIR "results"
#endif

namespace {

std::string ResultsDir() {
  const char* v = std::getenv("TIERVM_RESULTS_DIR");
  return v != nullptr && *v != '\0' ? v : TIERVM_RESULTS_DIR;
}

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteValue(const std::string& path, int value) {
  std::ofstream(path, std::ios::trunc) << value << "\n";
}

struct Totals {
  int tried = 0;            // daemon starts
  int kills = 0;            // SIGKILLs delivered to a running daemon
  int kills_while_off = 0;  // ... while the sysctl read 0
  int user_changes = 0;     // values set by "the user" while it was off
  int stop_post_runs = 0;   // ExecStopPost= runs
  int stop_post_restored = 0;  // ... that found a 0 to put back
  int adopted_starts = 0;   // daemon starts that took the original from the state file
  int violations = 0;
  int crashes = 0;
  int final_value = -1;
  int original = 0;
  std::vector<std::string> first_violations;
};

class RestartLoop {
 public:
  RestartLoop(uint64_t seed, Totals* totals) : rng_(seed), t_(totals) {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "tiervm-hplaced-fault-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    dir_ = tmpl;
    sysctl_ = dir_ + "/numa_balancing";
    state_ = dir_ + "/run/numa_balancing";
    config_ = dir_ + "/hplaced.toml";
    log_ = dir_ + "/hplaced.log";
    status_ = dir_ + "/status.json";
    std::ofstream(config_) << "[daemon]\n"
                           << "source = \"none\"\n"
                           << "tick_ms = 20\n"
                           << "telemetry_interval_ms = 0\n"
                           << "status_file = \"" << status_ << "\"\n"
                           << "hballoon_device = \"" << dir_ << "/no-hballoon\"\n"
                           << "numa_balancing_sysctl = \"" << sysctl_ << "\"\n"
                           << "numa_balancing_state_file = \"" << state_ << "\"\n"
                           << "[placement]\n"
                           << "headroom_mib = 0\n";
  }
  ~RestartLoop() {
    std::error_code ec;
    if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir_, ec);
  }

  void Run(int kills) {
    t_->original = 1;
    WriteValue(sysctl_, t_->original);
    // Set when a kill left the sysctl at 0 and no ExecStopPost= ran: the
    // next start must adopt the saved original.  That start is let run
    // until it has (under ASan a start-up takes longer than an early
    // kill's delay, and the runs that were to adopt were all cut short).
    bool to_adopt = false;
    for (int k = 0; k < kills; ++k) {
      const pid_t pid = Start({});
      if (to_adopt) (void)WaitForOff(pid, 2000);
      // A third of the kills land in start-up (reading the state file and
      // the sysctl, saving, writing 0), the rest while it ticks.
      std::uniform_int_distribution<int> early(0, 15), late(15, 300);
      const int delay_ms = std::bernoulli_distribution(1.0 / 3)(rng_) ? early(rng_) : late(rng_);
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      if (std::bernoulli_distribution(0.1)(rng_) && WaitForOff(pid, 2000)) {
        // The user chooses a value while hplaced has it off.
        t_->original = t_->original % 3 + 1;
        WriteValue(sysctl_, t_->original);
        ++t_->user_changes;
      }
      const bool was_off = Sysctl() == 0;
      if (!Kill(pid, SIGKILL)) continue;
      ++t_->kills;
      t_->kills_while_off += was_off;
      CheckRecoverable(absl::StrCat("after kill ", k + 1, " (", delay_ms, " ms)"));
      to_adopt = Sysctl() == 0;
      if (std::bernoulli_distribution(0.5)(rng_)) {
        to_adopt = false;
        const bool off = Sysctl() == 0;
        if (RunStopPost()) {
          ++t_->stop_post_runs;
          t_->stop_post_restored += off;
          if (Sysctl() != t_->original || Exists(state_)) {
            Violation(absl::StrCat("after ExecStopPost= ", k + 1, ": sysctl ", Sysctl(),
                                   ", original ", t_->original,
                                   Exists(state_) ? ", state file left" : ""));
          }
        }
      }
    }
    // The last run ends cleanly.
    const pid_t pid = Start({});
    if (!WaitForOff(pid, 5000)) Violation("last run: the sysctl never read 0");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (::kill(pid, SIGTERM) != 0) std::abort();
    int st = 0;
    ::waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      ++t_->crashes;
      Violation(absl::StrCat("last run: SIGTERM gave wait status ", st));
    }
    t_->final_value = Sysctl();
    if (t_->final_value != t_->original) {
      Violation(absl::StrCat("end: sysctl ", t_->final_value, ", original ", t_->original));
    }
    if (Exists(state_)) Violation("end: state file left");
    // Adoptions are in the daemons' log (one file for all starts).
    const std::string log = ReadFile(log_).value_or("");
    for (size_t at = 0; (at = log.find("as a stopped hplaced left it", at)) != std::string::npos;
         ++at) {
      ++t_->adopted_starts;
    }
    // It placed nothing on this host (its last status, written at exit).
    const nlohmann::json status =
        nlohmann::json::parse(ReadFile(status_).value_or(""), nullptr, /*allow_exceptions=*/false);
    if (!status.is_object() || status.value("planned_moves", -1) != 0 ||
        status.value("move_syscalls", -1) != 0) {
      Violation(absl::StrCat("last run's status: ", status.dump()));
    }
  }

  std::string log_tail() const {
    const std::string log = ReadFile(log_).value_or("");
    return log.size() > 4000 ? log.substr(log.size() - 4000) : log;
  }

 private:
  // `extra` non-empty: the ExecStopPost= run, logged apart so that the
  // daemons' log holds only daemon starts.
  pid_t Start(const std::vector<std::string>& extra) {
    ++t_->tried;
    const std::string log = extra.empty() ? log_ : log_ + ".stop-post";
    std::vector<std::string> args = {HPLACED_BIN, "--config=" + config_};
    args.insert(args.end(), extra.begin(), extra.end());
    const pid_t pid = ::fork();
    if (pid < 0) std::abort();
    if (pid == 0) {
      const int out = ::open("/dev/null", O_WRONLY);
      const int err = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (out < 0 || err < 0) ::_exit(127);
      ::dup2(out, 1);
      ::dup2(err, 2);
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    return pid;
  }

  // false: it was no longer running (counted as a crash).
  bool Kill(pid_t pid, int sig) {
    int st = 0;
    if (::waitpid(pid, &st, WNOHANG) == pid) {
      ++t_->crashes;
      Violation(absl::StrCat("hplaced exited by itself, wait status ", st));
      return false;
    }
    ::kill(pid, sig);
    ::waitpid(pid, &st, 0);
    if (!WIFSIGNALED(st) || WTERMSIG(st) != sig) {
      ++t_->crashes;
      Violation(absl::StrCat("hplaced ended with wait status ", st, ", not by signal ", sig));
      return false;
    }
    return true;
  }

  // The unit's ExecStopPost=.
  bool RunStopPost() {
    --t_->tried;  // not a daemon start
    const pid_t pid = Start({"--restore-numa-balancing"});
    int st = 0;
    ::waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      ++t_->crashes;
      Violation(absl::StrCat("--restore-numa-balancing: wait status ", st));
      return false;
    }
    return true;
  }

  bool WaitForOff(pid_t pid, int timeout_ms) {
    for (int i = 0; i < timeout_ms; i += 5) {
      if (Sysctl() == 0 && Exists(state_)) return true;
      int st = 0;
      if (::waitpid(pid, &st, WNOHANG) == pid) {
        // Reaped here: Kill() would not see it.
        ++t_->crashes;
        Violation(absl::StrCat("hplaced exited during start-up, wait status ", st));
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

  void CheckRecoverable(const std::string& when) {
    const int now = Sysctl();
    if (now == t_->original) return;
    if (now != 0) {
      Violation(absl::StrCat(when, ": sysctl ", now, ", original ", t_->original));
      return;
    }
    const std::optional<std::string> saved = ReadFile(state_);
    if (!saved || *saved != absl::StrCat(t_->original, "\n")) {
      Violation(absl::StrCat(when, ": sysctl 0 and the state file holds ",
                             saved ? "\"" + *saved + "\"" : "nothing", ", original ",
                             t_->original));
    }
  }

  int Sysctl() const {
    const std::optional<std::string> s = ReadFile(sysctl_);
    return s && !s->empty() ? std::atoi(s->c_str()) : -1;
  }
  static bool Exists(const std::string& path) { return std::filesystem::exists(path); }

  void Violation(std::string what) {
    ++t_->violations;
    if (t_->first_violations.size() < 10) t_->first_violations.push_back(std::move(what));
  }

  std::mt19937_64 rng_;
  Totals* t_;
  std::string dir_, sysctl_, state_, config_, log_, status_;
};

void WriteJson(const std::string& path, const Totals& t, uint64_t seed, bool complete,
               double wall_s) {
  std::ofstream out(path + ".tmp");
  out << "{\n  \"name\": \"fault_hplaced_restart\",\n"
      << "  \"complete\": " << (complete ? "true" : "false") << ",\n"
      << "  \"tried\": " << t.tried << ",\n"
      << "  \"faults_injected\": " << t.kills + t.user_changes << ",\n"
      << "  \"invariant_violations\": " << t.violations << ",\n"
      << "  \"corrupted_pages\": 0,\n  \"leaked_pages\": 0,\n"
      // 1 until the run completes: a run that dies half way says so.
      << "  \"crashes\": " << (complete ? t.crashes : t.crashes + 1) << ",\n"
      << "  \"seed\": " << seed << ",\n"
      << "  \"kills\": " << t.kills << ",\n"
      << "  \"kills_while_off\": " << t.kills_while_off << ",\n"
      << "  \"user_changes\": " << t.user_changes << ",\n"
      << "  \"stop_post_runs\": " << t.stop_post_runs << ",\n"
      << "  \"stop_post_restored\": " << t.stop_post_restored << ",\n"
      << "  \"adopted_starts\": " << t.adopted_starts << ",\n"
      << "  \"original_value\": " << t.original << ",\n"
      << "  \"final_value\": " << t.final_value << ",\n"
      << "  \"wall_seconds\": " << wall_s << ",\n"
      << "  \"first_violations\": [";
  for (size_t i = 0; i < t.first_violations.size(); ++i) {
    std::string s = t.first_violations[i];
    for (char& c : s) {
      if (c == '"' || c == '\\' || c == '\n') c = '\'';
    }
    out << (i ? ", " : "") << "\"" << s << "\"";
  }
  out << "]\n}\n";
  out.close();
  std::rename((path + ".tmp").c_str(), path.c_str());
}

TEST(FaultHplacedRestart, KillNineInARestartLoopEndsAtTheOriginal) {
  const int kills = EnvInt("TIERVM_FAULT_KILLS", 50);
  const uint64_t seed = static_cast<uint64_t>(EnvInt("TIERVM_FAULT_SEED", 1));
  const std::string path = ResultsDir() + "/fault_hplaced_restart.json";
  Totals totals;
  WriteJson(path, totals, seed, /*complete=*/false, 0);
  const auto t0 = std::chrono::steady_clock::now();
  RestartLoop loop(seed, &totals);
  loop.Run(kills);
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  WriteJson(path, totals, seed, /*complete=*/true, wall_s);
  for (const std::string& v : totals.first_violations) ADD_FAILURE() << v;
  EXPECT_EQ(totals.violations, 0);
  EXPECT_EQ(totals.crashes, 0);
  EXPECT_EQ(totals.kills, kills);
  EXPECT_EQ(totals.final_value, totals.original);
  // The run must have reached the paths it is about.
  EXPECT_GT(totals.kills_while_off, 0);
  EXPECT_GT(totals.adopted_starts, 0);
  EXPECT_GT(totals.stop_post_restored, 0);
  if (::testing::Test::HasFailure()) {
    std::fprintf(stderr, "hplaced log:\n%s\n", loop.log_tail().c_str());
  }
  std::printf("fault_hplaced_restart: %d starts, %d kills (%d while off), %d user changes, "
              "%d ExecStopPost= runs (%d restored), %d adopted starts, %d violations, "
              "%d crashes, %.1f s -> %s\n",
              totals.tried, totals.kills, totals.kills_while_off, totals.user_changes,
              totals.stop_post_runs, totals.stop_post_restored, totals.adopted_starts,
              totals.violations, totals.crashes, wall_s, path.c_str());
}

}  // namespace
