// The control socket and the metrics responder over real sockets, and the
// control request parser.  Not tested here: refusal of a non-root peer of
// another uid — the tests run as root, and every peer of a root process
// passes the SO_PEERCRED check (uid 0); the check itself is in
// ControlServer::Admit.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <cstdlib>
#include <thread>

#include "absl/strings/str_cat.h"
#include "daemon/control_protocol.h"
#include "daemon/servers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace tiervm::agent {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(ControlProtocolTest, GoodRequests) {
  auto r = ParseControlRequest(R"({"cmd":"status"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, ControlRequest::Kind::kStatus);
  r = ParseControlRequest(
      R"({"cmd":"set","vm":"db-1","min_fmem_bytes":1,"max_fmem_bytes":2,"weight":7})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->vm, "db-1");
  EXPECT_EQ(r->settings.min_fmem_bytes, 1u);
  EXPECT_EQ(r->settings.max_fmem_bytes, 2u);
  EXPECT_EQ(r->settings.weight, 7u);
  r = ParseControlRequest(
      R"({"cmd":"vm-event","vm":"w","event":"started","qmp_socket":"/run/q.sock","weight":2})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->event, ControlRequest::Event::kStarted);
  EXPECT_EQ(r->qmp_socket, "/run/q.sock");
  r = ParseControlRequest(R"({"cmd":"vm-event","vm":"w","event":"release"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->event, ControlRequest::Event::kRelease);
}

TEST(ControlProtocolTest, BadRequests) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "not valid JSON"},
      {"{", "not valid JSON"},
      {"[1]", "not a JSON object"},
      {R"({"cmd":1})", "cmd: required string"},
      {R"({"cmd":"status","x":1})", "unknown member 'x'"},
      {R"({"cmd":"set","vm":"a"})", "at least one of"},
      {R"({"cmd":"set","vm":"../etc","weight":1})", "vm: names are"},
      {R"({"cmd":"set","vm":"a","weight":0})", "weight: expected an integer in 1..1000"},
      {R"({"cmd":"set","vm":"a","weight":1.5})", "weight"},
      {R"({"cmd":"set","vm":"a","min_fmem_bytes":-1})", "non-negative integer"},
      {R"({"cmd":"set","vm":"a","min_fmem_bytes":3,"max_fmem_bytes":2})", "above"},
      {R"({"cmd":"vm-event","vm":"a","event":"exploded"})", "event: expected"},
      {R"({"cmd":"vm-event","vm":"a","event":"started","qmp_socket":"rel"})", "absolute"},
      {R"({"cmd":"vm-event","vm":"a"})", "event: required"},
      {R"({"cmd":"frobnicate"})", "unknown cmd"},
  };
  for (const auto& [req, want] : cases) {
    auto r = ParseControlRequest(req);
    ASSERT_FALSE(r.ok()) << req;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(want)) << req;
  }
  std::string deep(10000, '[');
  EXPECT_FALSE(ParseControlRequest(deep).ok());
  EXPECT_THAT(std::string(ParseControlRequest(std::string(kMaxControlRequestBytes + 1, ' '))
                              .status().message()),
              HasSubstr("too long"));
}

// Runs the servers on a thread until destroyed.
class ServerThread {
 public:
  explicit ServerThread(std::vector<StreamServer*> servers)
      : thread_([this, servers] {
          while (!stop_) ServeFor(servers, 20);
        }) {}
  ~ServerThread() {
    stop_ = true;
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

int ConnectUnix(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", path.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

void SendAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;  // the server may close early (oversized)
    off += static_cast<size_t>(n);
  }
}

// Reads until `lines` newlines or EOF.
std::string ReadLines(int fd, int lines) {
  std::string out;
  char buf[4096];
  while (std::count(out.begin(), out.end(), '\n') < lines) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

class ControlSocketTest : public ::testing::Test {
 protected:
  ControlSocketTest() {
    char t[] = "/tmp/tiervm-ctl-XXXXXX";
    dir_ = ::mkdtemp(t);
    path_ = dir_ + "/sub/agent.sock";
  }
  ~ControlSocketTest() override { std::system(absl::StrCat("rm -rf ", dir_).c_str()); }
  std::string dir_, path_;
};

TEST_F(ControlSocketTest, LinesInLinesOut) {
  int calls = 0;
  auto server = ControlServer::Listen(path_, [&calls](std::string_view line) {
    ++calls;
    auto r = ParseControlRequest(line);
    return r.ok() ? std::string(R"({"ok":true})") : ControlError(std::string(r.status().message()));
  });
  ASSERT_TRUE(server.ok()) << server.status();
  struct stat st;
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "control socket must be root-only";
  ServerThread t({server->get()});
  const int fd = ConnectUnix(path_);
  ASSERT_GE(fd, 0);
  // Two requests in one write, one split across writes, a bad one, CRLF.
  SendAll(fd, "{\"cmd\":\"status\"}\n{\"cmd\":\"status\"}\r\n{\"cmd\":");
  SendAll(fd, "\"status\"}\nnot json\n\n");
  const std::string out = ReadLines(fd, 4);
  EXPECT_EQ(out,
            "{\"ok\":true}\n{\"ok\":true}\n{\"ok\":true}\n"
            "{\"error\":\"request is not valid JSON\",\"ok\":false}\n");
  ::close(fd);
}

TEST_F(ControlSocketTest, OversizedRequestIsRefusedAndClosed) {
  auto server = ControlServer::Listen(path_, [](std::string_view) { return std::string("{}"); });
  ASSERT_TRUE(server.ok()) << server.status();
  ServerThread t({server->get()});
  const int fd = ConnectUnix(path_);
  ASSERT_GE(fd, 0);
  SendAll(fd, std::string(kMaxControlRequestBytes + 4096, 'x'));
  const std::string out = ReadLines(fd, 2);
  EXPECT_EQ(out, "{\"error\":\"request too long\",\"ok\":false}\n");
  ::close(fd);
  // The server still serves others.
  const int fd2 = ConnectUnix(path_);
  SendAll(fd2, "{}\n");
  EXPECT_EQ(ReadLines(fd2, 1), "{}\n");
  ::close(fd2);
}

TEST_F(ControlSocketTest, RefusesToReplaceANonSocket) {
  std::system(absl::StrCat("mkdir -p ", dir_, "/sub && touch ", path_).c_str());
  auto server = ControlServer::Listen(path_, [](std::string_view) { return std::string(); });
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(std::string(server.status().message()), HasSubstr("not a socket"));
}

TEST_F(ControlSocketTest, StaleSocketIsReplacedAndRemovedOnExit) {
  {
    auto s1 = ControlServer::Listen(path_, [](std::string_view) { return std::string(); });
    ASSERT_TRUE(s1.ok());
  }
  struct stat st;
  EXPECT_NE(::stat(path_.c_str(), &st), 0) << "socket file not removed";
  auto s2 = ControlServer::Listen(path_, [](std::string_view) { return std::string(); });
  ASSERT_TRUE(s2.ok()) << s2.status();
}

// A second agent must not take over (or, failing later, delete) the
// socket of one that is running: it fails, and the first keeps serving.
TEST_F(ControlSocketTest, LiveSocketIsNotReplaced) {
  auto s1 = ControlServer::Listen(path_, [](std::string_view) { return std::string("{}"); });
  ASSERT_TRUE(s1.ok()) << s1.status();
  {
    auto s2 = ControlServer::Listen(path_, [](std::string_view) { return std::string(); });
    ASSERT_FALSE(s2.ok());
    EXPECT_TRUE(absl::IsFailedPrecondition(s2.status())) << s2.status();
    EXPECT_THAT(std::string(s2.status().message()), HasSubstr("another tiervm-agent"));
  }
  ServerThread t({s1->get()});
  const int fd = ConnectUnix(path_);
  ASSERT_GE(fd, 0) << "the first agent's socket is gone";
  SendAll(fd, "{}\n");
  EXPECT_EQ(ReadLines(fd, 1), "{}\n");
  ::close(fd);
}

// A server whose socket file was replaced by somebody else's leaves that
// file alone when it goes.
TEST_F(ControlSocketTest, ExitRemovesOnlyItsOwnSocketFile) {
  auto s1 = ControlServer::Listen(path_, [](std::string_view) { return std::string(); });
  ASSERT_TRUE(s1.ok()) << s1.status();
  ASSERT_EQ(::unlink(path_.c_str()), 0);
  auto s2 = ControlServer::Listen(path_, [](std::string_view) { return std::string(); });
  ASSERT_TRUE(s2.ok()) << s2.status();
  s1->reset();
  struct stat st;
  EXPECT_EQ(::stat(path_.c_str(), &st), 0) << "the other server's socket was removed";
  s2->reset();
  EXPECT_NE(::stat(path_.c_str(), &st), 0);
}

std::string Http(uint16_t port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) return "connect failed";
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  SendAll(fd, request);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

// Out of file descriptors, a connection waiting in the listen queue kept
// the socket readable: poll() returned at once, ServeFor spun and nobody
// was answered (bench_agent_scale: 1,020 VMs under LimitNOFILE=1024).  Now
// the waiting client is told why and closed, and ServeFor waits again.
// Runs in a child process: it lowers RLIMIT_NOFILE and fills the table.
TEST_F(ControlSocketTest, OutOfFileDescriptorsRefusesWithAReasonAndDoesNotSpin) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto server = ControlServer::Listen(path_, [](std::string_view) { return std::string("{}"); });
    if (!server.ok()) ::_exit(10);
    const int client = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    if (client < 0 || ::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ::_exit(11);
    }
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = 64;
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) ::_exit(12);
    while (::open("/dev/null", O_RDONLY | O_CLOEXEC) >= 0) {
    }
    if (errno != EMFILE) ::_exit(13);
    std::vector<StreamServer*> servers = {server->get()};
    ServeFor(servers, 100);
    if ((*server)->refused_no_fd() != 1) ::_exit(14);
    char buf[256] = {};
    const ssize_t n = ::recv(client, buf, sizeof(buf) - 1, 0);
    if (n <= 0 || std::string(buf).find("out of file descriptors") == std::string::npos) {
      ::_exit(15);
    }
    // Nothing waits any more: the next ServeFor sleeps its timeout.
    const auto t0 = std::chrono::steady_clock::now();
    ServeFor(servers, 200);
    if (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(150)) ::_exit(16);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10 listen, 11 connect, 12 setrlimit, 13 no EMFILE, "
                                       "14 not refused, 15 no reason given, 16 spun";
}

TEST(MetricsServerTest, ServesMetricsOverHttp) {
  auto m = MetricsServer::Listen("127.0.0.1:0", [] { return std::string("tiervm_x 1\n"); });
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_NE((*m)->port(), 0);
  ServerThread t({m->get()});
  const std::string ok = Http((*m)->port(), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_THAT(ok, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(ok, HasSubstr("Content-Type: text/plain; version=0.0.4"));
  EXPECT_THAT(ok, HasSubstr("Content-Length: 11\r\n"));
  EXPECT_THAT(ok, HasSubstr("\r\n\r\ntiervm_x 1\n"));
  EXPECT_THAT(Http((*m)->port(), "GET / HTTP/1.1\r\n\r\n"), StartsWith("HTTP/1.1 404"));
  EXPECT_THAT(Http((*m)->port(), "POST /metrics HTTP/1.1\r\n\r\n"), StartsWith("HTTP/1.1 405"));
  EXPECT_THAT(Http((*m)->port(), std::string(10000, 'A')), StartsWith("HTTP/1.1 431"));
}

TEST(MetricsServerTest, BadListenAddress) {
  EXPECT_FALSE(MetricsServer::Listen("nonsense", [] { return std::string(); }).ok());
  EXPECT_FALSE(MetricsServer::Listen("example.com:80", [] { return std::string(); }).ok());
  EXPECT_FALSE(MetricsServer::Listen("127.0.0.1:70000", [] { return std::string(); }).ok());
}

}  // namespace
}  // namespace tiervm::agent
