// agent_scale: the real tiervm-agent against 1,000 fake VMs (issue 13,
// defect 11).  Measures how long the agent's ticks take and how long a
// control-socket client waits for a reply while the agent serves that many
// VMs, and how many file descriptors it holds -- one persistent QMP socket
// per VM -- against the unit's LimitNOFILE=.
//
// The fake VMs are QMP unix sockets in one directory (the agent's
// qmp_socket_dir source), all served by one epoll thread of this process:
// the QMP greeting and capabilities negotiation, CRLF-terminated JSON, ids
// echoed; __org.tiervm_query-hballoon answers a device with an FMEM and an
// SMEM node of 1 GiB each whose balloon follows its target at once, and a
// new guest stats report (PSI, hotness curve, SMEM share) every 2 s;
// set-target and set-pressure answer {}.  The host's /proc and /sys are a
// fixture tree (--host-root) with plenty of free FMEM.  The budget is 60 %
// of what the VMs hold, so the first ticks shrink VMs (set-target
// commands) before the agent settles.
//
// The agent runs as its own process, with RLIMIT_NOFILE set to the
// LimitNOFILE= of host-agent/systemd/tiervm-agent.service.in (systemd's
// default soft limit, 1024, if the unit sets none).  A client sends
// {"cmd":"status"} (what `tiervm status` sends) over one connection every
// 100 ms, times the reply, and reads `ticks` and `last_tick_seconds` from
// it: each new tick's duration is recorded once (ticks that ended between
// two replies are counted as unobserved).
//
// Fails (exit 1) if the agent dies, does not reach every VM, or if its peak
// fd count plus the bounded extras it may need at any moment (control and
// metrics clients, a libvirt connection, files it opens in passing) does
// not fit under the unit's limit.  Latency is measured, not judged
// (defect 2 is the loop's structure).  Writes results/agent_scale.json
// (fields in benchmarks/README.md, "agent_scale").
//
//   agent_scale --agent=PATH --unit=PATH [--out=PATH] [--vms=N]
//               [--seconds=S] [--period-ms=N]
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kGiB = 1ull << 30;
constexpr uint64_t kNodeBytes = kGiB;  // each fake VM: 1 GiB FMEM + 1 GiB SMEM
// systemd >= 240 starts services with a soft RLIMIT_NOFILE of 1024
// (DefaultLimitNOFILE=1024:524288) unless the unit says otherwise.
constexpr uint64_t kSystemdDefaultSoftNofile = 1024;
// What the agent may open on top of its steady state, all bounded:
// servers.cc caps control and metrics clients at 16 each; the libvirt
// source keeps one connection (and its event loop's fds); a tick opens
// /proc and /sys files one at a time, the target log and journal stay open.
constexpr uint64_t kBoundedExtraFds = 16 + 16 + 4 + 8;
constexpr int kStatsReportMs = 2000;
constexpr int kReplyTimeoutS = 10;

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "agent_scale: %s\n", msg.c_str());
  std::exit(2);
}

// ---------------------------------------------------------------------------
// N fake QEMUs, `<dir>/vm-NNNN.sock`, served by one epoll thread (1,000
// tests/fake FakeQmpServers would be 1,000 threads on this 2-core machine,
// competing with the agent being measured).
// Owns: the listening sockets, the accepted connections, the thread.
// Thread-safety: the VM state is the fleet thread's between Start() and
// Stop(); commands() is read after Stop().
class FakeQmpFleet {
 public:
  FakeQmpFleet(const std::string& dir, int vms) : epfd_(::epoll_create1(EPOLL_CLOEXEC)) {
    if (epfd_ < 0) Die("epoll_create1");
    vms_.resize(vms);
    for (int i = 0; i < vms; ++i) {
      Vm& vm = vms_[i];
      vm.name = absl::StrFormat("vm-%04d", i);
      const std::string path = absl::StrCat(dir, "/", vm.name, ".sock");
      vm.listen_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (vm.listen_fd < 0) Die(absl::StrCat("socket: ", std::strerror(errno)));
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
      if (::bind(vm.listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
          ::listen(vm.listen_fd, 4) != 0) {
        Die(absl::StrCat("bind/listen ", path, ": ", std::strerror(errno)));
      }
      Watch(vm.listen_fd, EPOLLIN, Key(kListen, i));
      // Hot sets differ between VMs, so the policy has something to weigh.
      vm.hot_scale = 0.25 + 0.25 * (i % 4);
    }
    if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) Die("pipe2");
    Watch(wake_[0], EPOLLIN, Key(kWake, 0));
  }
  ~FakeQmpFleet() {
    Stop();
    for (Vm& vm : vms_) ::close(vm.listen_fd);
    for (auto& [fd, c] : conns_) ::close(fd);
    ::close(wake_[0]);
    ::close(wake_[1]);
    ::close(epfd_);
  }

  void Start() { thread_ = std::thread([this] { Run(); }); }
  void Stop() {
    if (!thread_.joinable()) return;
    stop_ = true;
    (void)!::write(wake_[1], "x", 1);
    thread_.join();
  }
  // Commands served, by name; read after Stop().
  const std::map<std::string, uint64_t>& commands() const { return commands_; }

 private:
  enum Kind : uint64_t { kListen = 1, kConn = 2, kWake = 3 };
  static uint64_t Key(Kind k, uint64_t v) { return (static_cast<uint64_t>(k) << 32) | v; }

  struct Vm {
    std::string name;
    int listen_fd = -1;
    uint64_t balloon_target = 0;  // FMEM node; the SMEM node keeps none
    double hot_scale = 1;
  };
  struct Conn {
    int vm = 0;
    std::string in, out;
  };

  void Watch(int fd, uint32_t events, uint64_t key) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = key;
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) Die("epoll_ctl");
  }

  void Run() {
    std::vector<epoll_event> evs(256);
    while (!stop_) {
      const int n = ::epoll_wait(epfd_, evs.data(), static_cast<int>(evs.size()), 1000);
      for (int i = 0; i < n; ++i) {
        const uint64_t key = evs[i].data.u64;
        const auto kind = static_cast<Kind>(key >> 32);
        const int v = static_cast<int>(key & 0xffffffff);
        if (kind == kListen) {
          Accept(v);
        } else if (kind == kConn) {
          Serve(v, evs[i].events);
        }
      }
    }
  }

  void Accept(int vm) {
    for (;;) {
      const int fd = ::accept4(vms_[vm].listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;
      conns_[fd].vm = vm;
      Watch(fd, EPOLLIN | EPOLLRDHUP, Key(kConn, static_cast<uint64_t>(fd)));
      Send(fd,
           R"({"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, )"
           R"("package": "agent_scale fake"}, "capabilities": ["oob"]}})");
    }
  }

  void Close(int fd) {
    ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    conns_.erase(fd);
  }

  void Serve(int fd, uint32_t events) {
    auto it = conns_.find(fd);
    if (it == conns_.end()) return;
    if (events & EPOLLOUT) Flush(fd);
    char buf[16384];
    for (;;) {
      const ssize_t r = ::read(fd, buf, sizeof(buf));
      if (r > 0) {
        it->second.in.append(buf, static_cast<size_t>(r));
        continue;
      }
      if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        Close(fd);
        return;
      }
      if (errno == EAGAIN) break;
    }
    size_t nl;
    while (conns_.contains(fd) && (nl = conns_[fd].in.find('\n')) != std::string::npos) {
      const std::string line = conns_[fd].in.substr(0, nl);
      conns_[fd].in.erase(0, nl + 1);
      Handle(fd, conns_[fd].vm, line);
    }
  }

  void Handle(int fd, int vm_index, const std::string& line) {
    const json req = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!req.is_object() || !req.contains("execute")) return;
    if (!req["execute"].is_string()) return;
    const std::string cmd = req["execute"].get<std::string>();
    ++commands_[cmd];
    const json args = req.value("arguments", json::object());
    Vm& vm = vms_[vm_index];
    json reply;
    if (cmd == "qmp_capabilities" || cmd == "__org.tiervm_hballoon-set-pressure") {
      reply = {{"return", json::object()}};
    } else if (cmd == "__org.tiervm_hballoon-set-target") {
      // As the device: rounded down to 4 KiB, at most the node.
      if (args.value("node", -1) == 0) {
        vm.balloon_target = std::min(args.value("target", uint64_t{0}), kNodeBytes) & ~4095ull;
      }
      reply = {{"return", json::object()}};
    } else if (cmd == "__org.tiervm_query-hballoon") {
      reply = {{"return", json::array({Info(vm)})}};
    } else {
      reply = {{"error", {{"class", "CommandNotFound"},
                          {"desc", absl::StrCat("The command ", cmd, " has not been found")}}}};
    }
    if (req.contains("id")) reply["id"] = req["id"];
    Send(fd, reply.dump());
  }

  // One device; the balloon reaches its target at once (the agent's
  // actuation waits for actual before handing FMEM on).
  json Info(const Vm& vm) const {
    const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    const int64_t seq = now_ms / kStatsReportMs;
    const int64_t update_ms = seq * kStatsReportMs;
    // PSI some 0.5 %, full 0.2 % of wall time, cumulative.
    const uint64_t psi_some_us = static_cast<uint64_t>(update_ms) * 5;
    const uint64_t psi_full_us = static_cast<uint64_t>(update_ms) * 2;
    json records = json::array();
    records.push_back({{"tag", 0}, {"node", 0}, {"value", 128ull << 20}});
    records.push_back({{"tag", 1}, {"node", 0}, {"value", kNodeBytes}});
    records.push_back({{"tag", 2}, {"node", 0xffff}, {"value", psi_some_us}});
    records.push_back({{"tag", 3}, {"node", 0xffff}, {"value", psi_full_us}});
    const uint32_t shares[] = {500'000, 800'000, 950'000, 1'000'000};
    for (int p = 0; p < 4; ++p) {
      const uint64_t bytes = static_cast<uint64_t>(vm.hot_scale * (p + 1) * (256ull << 20));
      records.push_back({{"tag", 4}, {"node", p}, {"value", bytes}});
      records.push_back({{"tag", 5}, {"node", p}, {"value", shares[p]}});
    }
    records.push_back({{"tag", 6}, {"node", 0xffff}, {"value", 100'000}});
    const uint64_t actual = vm.balloon_target;
    json nodes = json::array(
        {{{"node", 0}, {"tier", "fmem"}, {"size", kNodeBytes}, {"target", vm.balloon_target},
          {"actual", actual}, {"guest-actual", actual},
          {"inflated-pages", actual / 4096}, {"deflated-pages", 0}},
         {{"node", 1}, {"tier", "smem"}, {"size", kNodeBytes}, {"target", 0}, {"actual", 0},
          {"guest-actual", 0}, {"inflated-pages", 0}, {"deflated-pages", 0}}});
    return {{"id", "hb0"},
            {"qom-path", "/machine/peripheral/hb0"},
            {"broken", false},
            {"pressure", "none"},
            {"nodes", nodes},
            {"discard-calls", 0},
            {"discarded-bytes", actual},
            {"discard-errors", 0},
            {"rejected-requests", 0},
            {"stats",
             {{"seq", seq},
              {"last-update-ms", update_ms},
              {"dropped", 0},
              {"unknown-tags", 0},
              {"records", records}}}};
  }

  void Send(int fd, const std::string& msg) {
    Conn& c = conns_[fd];
    c.out += msg;
    c.out += "\r\n";
    Flush(fd);
  }
  void Flush(int fd) {
    Conn& c = conns_[fd];
    while (!c.out.empty()) {
      const ssize_t w = ::send(fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
      if (w > 0) {
        c.out.erase(0, static_cast<size_t>(w));
        continue;
      }
      if (w < 0 && errno == EINTR) continue;
      break;
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | (c.out.empty() ? 0u : static_cast<uint32_t>(EPOLLOUT));
    ev.data.u64 = Key(kConn, static_cast<uint64_t>(fd));
    ::epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev);
  }

  int epfd_;
  int wake_[2] = {-1, -1};
  std::atomic<bool> stop_{false};
  std::vector<Vm> vms_;
  std::map<int, Conn> conns_;
  std::map<std::string, uint64_t> commands_;  // fleet thread; read after Stop()
  std::thread thread_;
};

// ---------------------------------------------------------------------------

struct Args {
  std::string agent, unit, out = "results/agent_scale.json";
  int vms = 1000;
  double seconds = 30;
  int period_ms = 1000;
};

Args ParseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    const size_t eq = s.find('=');
    if (s.rfind("--", 0) != 0 || eq == std::string::npos) Die(absl::StrCat("bad argument ", s));
    const std::string k = s.substr(0, eq), v = s.substr(eq + 1);
    if (k == "--agent") {
      a.agent = v;
    } else if (k == "--unit") {
      a.unit = v;
    } else if (k == "--out") {
      a.out = v;
    } else if (k == "--vms") {
      if (!absl::SimpleAtoi(v, &a.vms) || a.vms < 1) Die("--vms: want a count");
    } else if (k == "--seconds") {
      if (!absl::SimpleAtod(v, &a.seconds) || !(a.seconds > 0)) Die("--seconds: want > 0");
    } else if (k == "--period-ms") {
      if (!absl::SimpleAtoi(v, &a.period_ms) || a.period_ms < 50) Die("--period-ms: >= 50");
    } else {
      Die(absl::StrCat("unknown argument ", s));
    }
  }
  if (a.agent.empty() || a.unit.empty()) Die("--agent and --unit are required");
  return a;
}

// The unit's LimitNOFILE= soft value; nullopt if the unit sets none.
std::optional<uint64_t> UnitNofile(const std::string& unit) {
  std::ifstream in(unit);
  if (!in) Die(absl::StrCat("cannot read ", unit));
  std::optional<uint64_t> out;
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view v = line;
    if (!absl::ConsumePrefix(&v, "LimitNOFILE=")) continue;
    v = v.substr(0, v.find(':'));
    uint64_t n = 0;
    if (v == "infinity") {
      n = RLIM_INFINITY;
    } else if (!absl::SimpleAtoi(v, &n)) {
      Die(absl::StrCat(unit, ": bad ", line));
    }
    out = n;
  }
  return out;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << text;
}

int CountFds(pid_t pid) {
  std::error_code ec;
  int n = 0;
  for (auto it = std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/fd"), ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

// utime + stime of a process, in seconds.
double CpuSeconds(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t rp = s.rfind(')');
  if (rp == std::string::npos) return 0;
  std::istringstream f(s.substr(rp + 2));
  std::string tok;
  uint64_t utime = 0, stime = 0;
  for (int field = 3; f >> tok; ++field) {
    if (field == 14) absl::SimpleAtoi(tok, &utime);
    if (field == 15) {
      absl::SimpleAtoi(tok, &stime);
      break;
    }
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

class ControlClient {
 public:
  explicit ControlClient(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
    // An agent out of fds never accepts: the kernel's backlog takes the
    // connection and the reply never comes.  Bounded, that is a failed reply.
    const timeval tv{kReplyTimeoutS, 0};
    if (fd_ < 0 || ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      if (fd_ >= 0) ::close(fd_);
      fd_ = -1;
    }
  }
  ~ControlClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  // One request line, one reply line; nullopt if the connection broke.
  std::optional<std::string> Ask(const std::string& line) {
    const std::string req = line + "\n";
    if (::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
      return std::nullopt;
    }
    std::string buf;
    char chunk[65536];
    for (;;) {
      const ssize_t r = ::read(fd_, chunk, sizeof(chunk));
      if (r <= 0) {
        return std::nullopt;  // closed, error, or kReplyTimeoutS without a byte
      }
      buf.append(chunk, static_cast<size_t>(r));
      if (const size_t nl = buf.find('\n'); nl != std::string::npos) return buf.substr(0, nl);
    }
  }

 private:
  int fd_ = -1;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = ParseArgs(argc, argv);
  ::signal(SIGPIPE, SIG_IGN);

  // This process holds the fleet: a listening and an accepted socket per VM.
  rlimit own{};
  ::getrlimit(RLIMIT_NOFILE, &own);
  own.rlim_cur = own.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &own);
  if (own.rlim_cur < static_cast<rlim_t>(2 * args.vms + 64)) {
    Die(absl::StrCat("RLIMIT_NOFILE hard limit ", own.rlim_max, " is too low for ", args.vms,
                     " fake VMs"));
  }
  const std::optional<uint64_t> unit_nofile = UnitNofile(args.unit);
  const uint64_t agent_nofile = unit_nofile.value_or(kSystemdDefaultSoftNofile);

  std::string tmpl = (std::filesystem::temp_directory_path() / "tiervm-agent-scale-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) Die("mkdtemp");
  const std::string dir = tmpl;
  const std::string qmp_dir = dir + "/qmp", root = dir + "/root";
  std::filesystem::create_directories(qmp_dir);
  WriteFile(root + "/sys/devices/system/node/node0/meminfo",
            "Node 0 MemTotal:       2147483648 kB\nNode 0 MemFree:        1073741824 kB\n");
  WriteFile(root + "/proc/pressure/memory",
            "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
            "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
  for (const char* k : {"pages_shared", "pages_sharing", "pages_unshared", "full_scans", "run"}) {
    WriteFile(root + "/sys/kernel/mm/ksm/" + k, "0\n");
  }
  const std::string control = dir + "/agent.sock";
  const uint64_t budget = static_cast<uint64_t>(args.vms) * kNodeBytes * 6 / 10;
  WriteFile(dir + "/agent.toml",
            absl::StrCat("budget = \"", budget >> 20, "MiB\"\n", "qmp_socket_dir = \"", qmp_dir,
                         "\"\n", "fmem_nodes = [0]\n", "period_ms = ", args.period_ms, "\n",
                         "policy = \"utility\"\n", "control_socket = \"", control, "\"\n",
                         "metrics_listen = \"127.0.0.1:0\"\n", "host_root = \"", root, "\"\n",
                         "[defaults]\nmin_fmem = \"256MiB\"\nweight = 1\n"));

  FakeQmpFleet fleet(qmp_dir, args.vms);
  fleet.Start();

  const std::string log = dir + "/agent.log";
  const std::string cfg = dir + "/agent.toml";
  // Opened here: in the child the fleet's fds hold every number below the
  // limit the child is about to get, so an open() there would fail.
  const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) Die(absl::StrCat("open ", log, ": ", std::strerror(errno)));
  const pid_t agent = ::fork();
  if (agent < 0) Die("fork");
  if (agent == 0) {
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    // As systemd starts it: stdio and nothing else inherited, and
    // LimitNOFILE= from the unit.
    ::close_range(3, ~0u, 0);
    rlimit lim{static_cast<rlim_t>(agent_nofile), static_cast<rlim_t>(agent_nofile)};
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) ::_exit(126);
    ::execl(args.agent.c_str(), args.agent.c_str(), "--config", cfg.c_str(), "--log-level",
            "warn", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(log_fd);

  auto agent_alive = [&] {
    int st = 0;
    return ::waitpid(agent, &st, WNOHANG) == 0;
  };
  // Warm-up: the first ticks connect to every VM and shrink the donors.
  const auto t_start = Clock::now();
  std::optional<ControlClient> client;
  json last;
  int reachable = 0;
  for (;;) {
    if (!agent_alive()) break;
    if (Clock::now() - t_start > std::chrono::seconds(60)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (!client || !client->ok()) client.emplace(control);
    if (!client->ok()) continue;
    const std::optional<std::string> r = client->Ask(R"({"cmd":"status"})");
    if (!r) {
      client.reset();
      continue;
    }
    last = json::parse(*r, nullptr, false);
    if (!last.is_object() || !last.value("ok", false)) continue;
    reachable = 0;
    for (const json& v : last.value("vms", json::array())) {
      reachable += v.value("state", "") != "unreachable";
    }
    if (last.value("ticks", 0) >= 3 && reachable == args.vms) break;
  }
  const double warmup_s = std::chrono::duration<double>(Clock::now() - t_start).count();

  // Measurement.
  std::vector<double> reply_ms, tick_ms;
  uint64_t reply_bytes_max = 0, ticks_unobserved = 0, broken_replies = 0;
  int fds_max = CountFds(agent);
  uint64_t seen_tick = last.is_object() ? last.value("ticks", uint64_t{0}) : 0;
  int min_reachable = reachable;
  const double cpu0 = CpuSeconds(agent);
  const auto m0 = Clock::now();
  const auto m_end = m0 + std::chrono::milliseconds(static_cast<int64_t>(args.seconds * 1000));
  auto next_fd_count = m0;
  while (Clock::now() < m_end && agent_alive() && client && client->ok()) {
    const auto q0 = Clock::now();
    const std::optional<std::string> r = client->Ask(R"({"cmd":"status"})");
    const auto q1 = Clock::now();
    if (!r) {
      ++broken_replies;
      break;
    }
    reply_ms.push_back(std::chrono::duration<double, std::milli>(q1 - q0).count());
    reply_bytes_max = std::max<uint64_t>(reply_bytes_max, r->size() + 1);
    const json j = json::parse(*r, nullptr, false);
    if (j.is_object() && j.value("ok", false)) {
      const uint64_t t = j.value("ticks", uint64_t{0});
      if (t > seen_tick) {
        tick_ms.push_back(1000.0 * j.value("last_tick_seconds", 0.0));
        ticks_unobserved += t - seen_tick - 1;
        seen_tick = t;
      }
      int reach = 0;
      for (const json& v : j.value("vms", json::array())) {
        reach += v.value("state", "") != "unreachable";
      }
      min_reachable = std::min(min_reachable, reach);
      last = j;
    } else {
      ++broken_replies;
    }
    if (Clock::now() >= next_fd_count) {
      fds_max = std::max(fds_max, CountFds(agent));
      next_fd_count += std::chrono::seconds(1);
    }
    std::this_thread::sleep_until(q0 + std::chrono::milliseconds(100));
  }
  const double measured_s = std::chrono::duration<double>(Clock::now() - m0).count();
  const double cpu_pct = 100.0 * (CpuSeconds(agent) - cpu0) / std::max(measured_s, 1e-9);
  const bool alive = agent_alive();
  if (alive) {
    ::kill(agent, SIGTERM);
    ::waitpid(agent, nullptr, 0);
  }
  client.reset();
  fleet.Stop();

  // Verdict.
  std::vector<std::string> problems;
  if (!alive) problems.push_back("the agent exited during the run");
  if (min_reachable < args.vms) {
    problems.push_back(absl::StrCat("only ", min_reachable, " of ", args.vms, " VMs reachable"));
  }
  if (tick_ms.empty()) problems.push_back("no tick observed");
  if (broken_replies > 0) problems.push_back(absl::StrCat(broken_replies, " broken replies"));
  const uint64_t fds_needed = static_cast<uint64_t>(fds_max) + kBoundedExtraFds;
  if (fds_needed > agent_nofile) {
    problems.push_back(absl::StrCat("fds: ", fds_max, " open + ", kBoundedExtraFds,
                                    " bounded extras > RLIMIT_NOFILE ", agent_nofile,
                                    unit_nofile ? " (the unit's LimitNOFILE=)"
                                                : " (systemd's default: the unit sets none)"));
  }
  if (!problems.empty()) {
    std::ifstream in(log);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (text.size() > 3000) text = text.substr(text.size() - 3000);
    std::fprintf(stderr, "agent log (tail):\n%s\n", text.c_str());
  }

  json commands = json::object();
  for (const auto& [k, v] : fleet.commands()) commands[k] = v;
  json out = {
      {"name", "agent_scale"},
      {"vms", args.vms},
      {"period_ms", args.period_ms},
      {"warmup_seconds", warmup_s},
      {"measured_seconds", measured_s},
      {"limit_nofile", agent_nofile},
      {"limit_nofile_from", unit_nofile ? "unit" : "systemd default"},
      {"agent_open_fds_max", fds_max},
      {"bounded_extra_fds", kBoundedExtraFds},
      {"vms_reachable_min", min_reachable},
      {"ticks_observed", tick_ms.size()},
      {"ticks_unobserved", ticks_unobserved},
      {"tick_ms_p50", Percentile(tick_ms, 50)},
      {"tick_ms_p99", Percentile(tick_ms, 99)},
      {"tick_ms_max", tick_ms.empty() ? 0 : *std::max_element(tick_ms.begin(), tick_ms.end())},
      {"control_requests", reply_ms.size()},
      {"control_reply_ms_p50", Percentile(reply_ms, 50)},
      {"control_reply_ms_p99", Percentile(reply_ms, 99)},
      {"control_reply_ms_max",
       reply_ms.empty() ? 0 : *std::max_element(reply_ms.begin(), reply_ms.end())},
      {"control_reply_bytes_max", reply_bytes_max},
      {"agent_cpu_pct", cpu_pct},
      {"sum_fmem_target_bytes",
       last.is_object() ? last.value("sum_fmem_target_bytes", uint64_t{0}) : 0},
      {"budget_bytes", budget},
      {"qmp_commands", commands},
      {"problems", problems},
  };
  std::filesystem::create_directories(std::filesystem::path(args.out).parent_path());
  {
    std::ofstream f(args.out + ".tmp");
    f << out.dump(2) << "\n";
  }
  std::rename((args.out + ".tmp").c_str(), args.out.c_str());
  std::printf(
      "agent_scale: %d VMs, %.0f s: tick p50 %.1f ms p99 %.1f ms max %.1f ms (%zu observed, "
      "%llu not); control reply p50 %.2f ms p99 %.2f ms max %.2f ms (%zu requests, %llu bytes); "
      "agent CPU %.1f %%; fds %d + %llu extras vs limit %llu (%s) -> %s\n",
      args.vms, measured_s, Percentile(tick_ms, 50), Percentile(tick_ms, 99),
      tick_ms.empty() ? 0.0 : *std::max_element(tick_ms.begin(), tick_ms.end()), tick_ms.size(),
      static_cast<unsigned long long>(ticks_unobserved), Percentile(reply_ms, 50),
      Percentile(reply_ms, 99),
      reply_ms.empty() ? 0.0 : *std::max_element(reply_ms.begin(), reply_ms.end()),
      reply_ms.size(), static_cast<unsigned long long>(reply_bytes_max), cpu_pct, fds_max,
      static_cast<unsigned long long>(kBoundedExtraFds),
      static_cast<unsigned long long>(agent_nofile), unit_nofile ? "unit" : "systemd default",
      args.out.c_str());
  for (const std::string& p : problems) std::fprintf(stderr, "agent_scale: FAIL: %s\n", p.c_str());
  std::error_code ec;
  if (problems.empty()) std::filesystem::remove_all(dir, ec);
  return problems.empty() ? 0 : 1;
}
