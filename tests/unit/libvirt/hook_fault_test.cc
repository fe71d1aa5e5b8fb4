// Fault injection for the qemu hook (issue 13, defect 10): the hook program
// run as libvirt runs it, with hostile stdin — entity expansion (billion
// laughs), external entities (SYSTEM "file:///etc/passwd", a network DTD,
// parameter entities), 100 MB of stdin, malformed and binary XML, deep
// nesting — for tiered and untiered domains and several operations.  Each
// run is checked for the right exit code, bounded wall time and peak RSS
// (wait4), an empty stdout, no file content leaking to stderr, and no
// death by signal.  Writes results/fault_hook.json (libvirt-hooks/README.md).
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "converter/metadata.h"
#include "converter/xml_command.h"
#include "test_util.h"

#ifndef TIERVM_RESULTS_DIR
#define TIERVM_RESULTS_DIR "results"
#endif

namespace tiervm::libvirt {
namespace {

using testing::MakeFakeSysfs;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

#if defined(__SANITIZE_ADDRESS__)
constexpr long kMaxRssKib = 128 * 1024;  // ASan: shadow and quarantine
constexpr double kMaxWallS = 30;
#else
constexpr long kMaxRssKib = 64 * 1024;
constexpr double kMaxWallS = 5;
#endif

// stdin: `head`, then `filler_bytes` of `filler` repeated, then `tail`.
struct Input {
  Input(std::string h) : head(std::move(h)) {}  // NOLINT: a document
  Input(std::string h, std::string f, uint64_t n, std::string t)
      : head(std::move(h)), filler(std::move(f)), filler_bytes(n), tail(std::move(t)) {}
  std::string head;
  std::string filler;
  uint64_t filler_bytes = 0;
  std::string tail;
  uint64_t size() const { return head.size() + filler_bytes + tail.size(); }
};

struct Case {
  Case(std::string n, std::string o, Input i, int want, bool is_fault = true,
       std::string in_err = "")
      : name(std::move(n)), op(std::move(o)), input(std::move(i)), want_exit(want),
        fault(is_fault), want_in_err(std::move(in_err)) {}
  std::string name;
  std::string op;
  Input input;
  int want_exit;
  bool fault;               // false: a control (a normal domain)
  std::string want_in_err;  // "" = no check
};

struct Outcome {
  int exit_code = -1;
  int signal = 0;
  double wall_s = 0;
  long max_rss_kib = 0;
  std::string out, err;
};

void WriteAll(int fd, const Input& in) {
  auto put = [fd](const char* p, size_t n) {
    while (n > 0) {
      const ssize_t w = write(fd, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;  // EPIPE: the hook stopped reading
      p += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  };
  if (!put(in.head.data(), in.head.size())) return;
  if (in.filler_bytes > 0) {
    std::string chunk;
    while (chunk.size() < (1 << 20)) chunk += in.filler;
    chunk.resize(1 << 20);
    for (uint64_t left = in.filler_bytes; left > 0;) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(left, chunk.size()));
      if (!put(chunk.data(), n)) return;
      left -= n;
    }
  }
  put(in.tail.data(), in.tail.size());
}

Outcome RunHookProgram(const std::string& op, const Input& input,
                       const std::vector<std::string>& env, const std::string& dir) {
  Outcome o;
  int in_pipe[2];
  EXPECT_EQ(pipe2(in_pipe, O_CLOEXEC), 0);
  const std::string out_path = dir + "/out", err_path = dir + "/err";
  const auto t0 = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(in_pipe[0], 0);
    const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(out, 1);
    dup2(err, 2);
    for (const std::string& e : env) putenv(const_cast<char*>(e.c_str()));
    execl(TIERVM_HOOK_BIN, TIERVM_HOOK_BIN, "fault-vm", op.c_str(), "begin", "-",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(in_pipe[0]);
  std::thread writer([&] {
    WriteAll(in_pipe[1], input);
    close(in_pipe[1]);
  });
  // The hook must finish on its own; past 4x the bound it is killed (and
  // the case counts as a violation through its wall time).
  int status = 0;
  rusage ru{};
  for (;;) {
    const pid_t r = wait4(pid, &status, WNOHANG, &ru);
    if (r == pid) break;
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() >
        4 * kMaxWallS) {
      kill(pid, SIGKILL);
      wait4(pid, &status, 0, &ru);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  o.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  writer.join();
  o.max_rss_kib = ru.ru_maxrss;
  if (WIFEXITED(status)) o.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) o.signal = WTERMSIG(status);
  o.out = ReadFile(out_path);
  o.err = ReadFile(err_path);
  return o;
}

std::string JsonString(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      o += ' ';
    } else {
      o += c;
    }
  }
  return o + "\"";
}

class HookFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    signal(SIGPIPE, SIG_IGN);  // the hook stops reading early, by design
    MakeFakeSysfs(dir_ / "sys", {{0, 8192}, {1, 4096}});
    WriteFile(dir_ / "plain.xml",
              ReadFile(std::string(TIERVM_LIBVIRT_CORPUS_DIR) + "/i440fx_minimal.xml"));
    plain_ = ReadFile(std::string(TIERVM_LIBVIRT_CORPUS_DIR) + "/q35_virt_install.xml");
    std::ostringstream out, err;
    ASSERT_EQ(RunXmlCommand({"--fmem-min", "512", "--fmem-max", "1G", "--smem", "1G",
                             "--sysfs-root", dir_ / "sys", dir_ / "plain.xml"},
                            out, err),
              0)
        << err.str();
    tiered_ = out.str();
  }

  TempDir dir_;
  std::string plain_, tiered_;
};

// `<!DOCTYPE ...>` + a domain whose <name> uses entity `ref`, optionally
// with TierVM metadata.
std::string WithDoctype(const std::string& subset, const std::string& ref, bool tiered) {
  std::string d = "<?xml version=\"1.0\"?>\n<!DOCTYPE domain [\n" + subset +
                  "]>\n<domain type=\"kvm\"><name>" + ref +
                  "</name><memory unit=\"KiB\">1048576</memory>";
  if (tiered) {
    d += std::string("<metadata><tiervm:tiering xmlns:tiervm=\"") + kTieringNsUri +
         "\"><tiervm:fmem min=\"512\" max=\"1024\" unit=\"MiB\"/>"
         "<tiervm:smem size=\"1024\" unit=\"MiB\" dedup=\"off\"/></tiervm:tiering></metadata>";
  }
  return d + "</domain>\n";
}

std::string BillionLaughs() {
  std::string s = "<!ENTITY lol \"lol\">\n";
  std::string prev = "lol";
  for (int i = 1; i <= 9; ++i) {
    const std::string name = "lol" + std::to_string(i);
    s += "<!ENTITY " + name + " \"";
    for (int j = 0; j < 10; ++j) s += "&" + prev + ";";
    s += "\">\n";
    prev = name;
  }
  return s;
}

TEST_F(HookFaultTest, HostileInputsAreBoundedAndExitRight) {
  const std::string ns = kTieringNsUri;
  const std::string untiered_head = "<domain type=\"kvm\"><name>big</name><!-- ";
  // A tiered domain's start, so that its text names our namespace.
  const std::string tiered_head = tiered_.substr(0, tiered_.find("</metadata>")) + "<!-- ";
  // Cut short after the metadata: the text still names our namespace.
  const std::string truncated_tiered =
      tiered_.substr(0, tiered_.find("</metadata>") + std::string("</metadata>").size() + 10);
  const std::string truncated_plain = plain_.substr(0, plain_.size() / 2);
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "<a>";

  std::vector<Case> cases = {
      {"control_tiered_prepare", "prepare", {tiered_}, 0, false},
      {"control_untiered_prepare", "prepare", {plain_}, 0, false},
      {"billion_laughs_tiered_prepare", "prepare",
       {WithDoctype(BillionLaughs(), "&lol9;", true)}, 1, true, "DOCTYPE"},
      {"billion_laughs_untiered_prepare", "prepare",
       {WithDoctype(BillionLaughs(), "&lol9;", false)}, 0, true, "DOCTYPE"},
      {"billion_laughs_tiered_started", "started",
       {WithDoctype(BillionLaughs(), "&lol9;", true)}, 0},
      {"external_entity_passwd_tiered_prepare", "prepare",
       {WithDoctype("<!ENTITY x SYSTEM \"file:///etc/passwd\">\n", "&x;", true)}, 1, true,
       "DOCTYPE"},
      {"external_entity_passwd_untiered_prepare", "prepare",
       {WithDoctype("<!ENTITY x SYSTEM \"file:///etc/passwd\">\n", "&x;", false)}, 0},
      {"parameter_entity_passwd_tiered_prepare", "prepare",
       {WithDoctype("<!ENTITY % p SYSTEM \"file:///etc/passwd\">\n%p;\n", "x", true)}, 1},
      {"network_dtd_tiered_prepare", "prepare",
       {"<!DOCTYPE domain SYSTEM \"http://127.0.0.1:9/d.dtd\">\n" +
        WithDoctype("", "x", true).substr(WithDoctype("", "x", true).find("<domain"))},
       1},
      {"stdin_100mb_untiered_prepare", "prepare",
       {untiered_head, "lol ", 100ull << 20, " --></domain>\n"}, 0, true, "not read"},
      {"stdin_100mb_tiered_prepare", "prepare",
       {tiered_head, "lol ", 100ull << 20, " --></metadata></domain>\n"}, 1, true,
       "not read"},
      {"stdin_100mb_tiered_started", "started",
       {tiered_head, "lol ", 100ull << 20, " -->"}, 0},
      {"stdin_100mb_other_op", "migrate", {untiered_head, "x", 100ull << 20, ""}, 0},
      {"malformed_untiered_prepare", "prepare", {truncated_plain}, 0, true, "warning"},
      {"malformed_untiered_started", "started", {truncated_plain}, 0},
      {"malformed_untiered_release", "release", {truncated_plain}, 0},
      {"malformed_tiered_prepare", "prepare", {truncated_tiered}, 1, true, "refused"},
      {"malformed_tiered_stopped", "stopped", {truncated_tiered}, 0},
      {"undeclared_entity_untiered_prepare", "prepare",
       {"<domain><name>&nope;</name></domain>"}, 0},
      {"binary_garbage_prepare", "prepare", {"\xff\xfe<", "\x01\xfe\x80", 1 << 20, ""}, 0},
      {"deep_nesting_untiered_prepare", "prepare", {deep}, 0},
      {"empty_stdin_prepare", "prepare", {""}, 0},
  };

  const std::vector<std::string> env = {"TIERVM_HOOK_CONFIG=/nonexistent",
                                        "TIERVM_SYSFS_ROOT=" + (dir_ / "sys"),
                                        "TIERVM_AGENT_SOCKET=" + (dir_ / "none.sock"),
                                        "TIERVM_HOOK_TIMEOUT_MS=200"};
  int tried = 0, faults = 0, violations = 0, crashes = 0;
  std::ostringstream rows;
  for (const Case& c : cases) {
    const Outcome o = RunHookProgram(c.op, c.input, env, dir_.path());
    ++tried;
    if (c.fault) ++faults;
    std::vector<std::string> bad;
    if (o.signal != 0) {
      ++crashes;
      bad.push_back("killed by signal " + std::to_string(o.signal));
    }
    if (o.exit_code != c.want_exit) {
      bad.push_back("exit " + std::to_string(o.exit_code) + ", want " +
                    std::to_string(c.want_exit));
    }
    if (o.wall_s > kMaxWallS) bad.push_back("took " + std::to_string(o.wall_s) + " s");
    if (o.max_rss_kib > kMaxRssKib) {
      bad.push_back("peak RSS " + std::to_string(o.max_rss_kib) + " KiB");
    }
    if (!o.out.empty()) bad.push_back("wrote stdout");
    if (o.err.find("root:") != std::string::npos) bad.push_back("/etc/passwd on stderr");
    if (!c.want_in_err.empty() && o.err.find(c.want_in_err) == std::string::npos) {
      bad.push_back("stderr lacks '" + c.want_in_err + "'");
    }
    if (!bad.empty()) ++violations;
    for (const std::string& b : bad) ADD_FAILURE() << c.name << ": " << b << "\n" << o.err;
    rows << (tried > 1 ? ",\n    " : "\n    ") << "{\"name\": " << JsonString(c.name)
         << ", \"op\": " << JsonString(c.op) << ", \"input_bytes\": " << c.input.size()
         << ", \"exit\": " << o.exit_code << ", \"want_exit\": " << c.want_exit
         << ", \"signal\": " << o.signal << ", \"wall_s\": " << o.wall_s
         << ", \"max_rss_kib\": " << o.max_rss_kib << ", \"ok\": " << (bad.empty() ? "true" : "false")
         << ", \"stderr\": " << JsonString(o.err.substr(0, 300)) << "}";
  }
  const char* env_dir = std::getenv("TIERVM_RESULTS_DIR");
  const std::string path = std::string(env_dir && *env_dir ? env_dir : TIERVM_RESULTS_DIR) +
                           "/fault_hook.json";
  std::ofstream(path) << "{\n  \"name\": \"fault_hook\",\n  \"tried\": " << tried
                      << ",\n  \"faults_injected\": " << faults
                      << ",\n  \"invariant_violations\": " << violations
                      << ",\n  \"corrupted_pages\": 0,\n  \"leaked_pages\": 0,\n  \"crashes\": "
                      << crashes << ",\n  \"max_wall_s\": " << kMaxWallS
                      << ",\n  \"max_rss_kib\": " << kMaxRssKib << ",\n  \"cases\": ["
                      << rows.str() << "\n  ]\n}\n";
  EXPECT_EQ(violations, 0);
  EXPECT_EQ(crashes, 0);
}

}  // namespace
}  // namespace tiervm::libvirt
