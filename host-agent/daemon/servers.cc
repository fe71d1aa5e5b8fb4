#include "daemon/servers.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "daemon/control_protocol.h"

namespace tiervm::agent {

namespace {
constexpr size_t kMaxClients = 16;
constexpr size_t kMaxOutBytes = 8 << 20;
constexpr auto kIdle = std::chrono::seconds(10);

absl::Status Errno(std::string_view what) {
  return absl::UnavailableError(absl::StrCat(std::string(what), ": ", std::strerror(errno)));
}
}  // namespace

StreamServer::StreamServer(int listen_fd)
    : listen_fd_(listen_fd), reserve_fd_(::open("/dev/null", O_RDONLY | O_CLOEXEC)) {}

StreamServer::~StreamServer() {
  for (auto& c : clients_) ::close(c->fd);
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (reserve_fd_ >= 0) ::close(reserve_fd_);
}

void StreamServer::RefuseOne() {
  if (reserve_fd_ < 0) return;
  ::close(reserve_fd_);
  const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd >= 0) {
    const std::string line = RefusalLine();
    // Best effort: a fresh socket's buffer takes one short line.
    (void)!::send(fd, line.data(), line.size(), MSG_NOSIGNAL);
    ::close(fd);
    ++refused_no_fd_;
  }
  reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

void StreamServer::AppendPollFds(std::vector<pollfd>* fds) const {
  fds->push_back({listen_fd_, POLLIN, 0});
  for (const auto& c : clients_) {
    fds->push_back({c->fd, static_cast<short>(c->out.empty() ? POLLIN : POLLIN | POLLOUT), 0});
  }
}

void StreamServer::Accept() {
  for (;;) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE) RefuseOne();
      return;
    }
    if (clients_.size() >= kMaxClients) {
      ::close(fd);
      continue;
    }
    auto c = std::make_unique<Client>();
    c->fd = fd;
    c->last_active = std::chrono::steady_clock::now();
    if (!Admit(*c)) c->close_after_write = true;
    clients_.push_back(std::move(c));
  }
}

bool StreamServer::ReadFrom(Client& c) {
  char buf[16384];
  for (;;) {
    const ssize_t n = ::recv(c.fd, buf, sizeof(buf), 0);
    if (n > 0) {
      c.in.append(buf, static_cast<size_t>(n));
      c.last_active = std::chrono::steady_clock::now();
      if (c.close_after_write) c.in.clear();
      OnInput(c);
      continue;
    }
    if (n == 0) return !c.out.empty() && (c.close_after_write = true);
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  }
}

bool StreamServer::WriteTo(Client& c) {
  while (!c.out.empty()) {
    const ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    c.out.erase(0, static_cast<size_t>(n));
    c.last_active = std::chrono::steady_clock::now();
  }
  return !c.close_after_write;
}

void StreamServer::Process(const std::vector<pollfd>& fds) {
  for (const pollfd& p : fds) {
    if (p.fd == listen_fd_ && (p.revents & POLLIN)) Accept();
  }
  const auto now = std::chrono::steady_clock::now();
  for (size_t i = 0; i < clients_.size();) {
    Client& c = *clients_[i];
    short rev = 0;
    for (const pollfd& p : fds) {
      if (p.fd == c.fd) rev = p.revents;
    }
    bool keep = true;
    if (rev & (POLLIN | POLLHUP | POLLERR)) keep = ReadFrom(c);
    if (keep && !c.out.empty()) keep = WriteTo(c);
    if (keep && c.out.empty() && c.close_after_write) keep = false;
    if (keep && c.out.size() > kMaxOutBytes) keep = false;
    if (keep && now - c.last_active > kIdle) keep = false;
    if (!keep) {
      ::close(c.fd);
      clients_.erase(clients_.begin() + static_cast<ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
}

void ServeFor(const std::vector<StreamServer*>& servers, int timeout_ms) {
  std::vector<pollfd> fds;
  for (StreamServer* s : servers) s->AppendPollFds(&fds);
  const int n = ::poll(fds.data(), fds.size(), timeout_ms < 0 ? 0 : timeout_ms);
  if (n < 0) return;
  for (StreamServer* s : servers) s->Process(fds);
}

// ---- control ----

absl::StatusOr<std::unique_ptr<ControlServer>> ControlServer::Listen(
    const std::string& path, Handler handler) {
  sockaddr_un addr{};
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("control socket path too long: ", path));
  }
  const size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    const std::string dir = path.substr(0, slash);
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return Errno(absl::StrCat("mkdir ", dir));
    }
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, " exists and is not a socket; not replacing it"));
    }
    // A socket somebody still listens on belongs to a running agent:
    // replacing it would cut that agent off from its CLI.  Only a socket
    // nobody answers (ECONNREFUSED: its agent died) is stale.
    const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0) return Errno("socket");
    const int c = ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    const int connect_errno = errno;
    ::close(probe);
    if (c == 0 || connect_errno == EAGAIN) {
      return absl::FailedPreconditionError(absl::StrCat(
          path, ": another tiervm-agent is listening on it; not replacing it (stop that agent "
                "or choose another control_socket)"));
    }
    ::unlink(path.c_str());
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket");
  // The socket is created with 0600 (umask) so that there is no window in
  // which others could connect.
  const mode_t old = ::umask(0177);
  const int b = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::umask(old);
  if (b != 0 || ::chmod(path.c_str(), 0600) != 0 || ::listen(fd, 16) != 0 ||
      ::lstat(path.c_str(), &st) != 0) {
    absl::Status s = Errno(absl::StrCat("listen on ", path));
    ::close(fd);
    return s;
  }
  return std::unique_ptr<ControlServer>(
      new ControlServer(fd, path, st.st_dev, st.st_ino, std::move(handler)));
}

ControlServer::~ControlServer() {
  // Only the socket file this server created: if somebody replaced it
  // meanwhile, the new file is theirs.
  struct stat st;
  if (::lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) {
    ::unlink(path_.c_str());
  }
}

bool ControlServer::Admit(Client& c) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(c.fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    c.out = ControlError("cannot read peer credentials") + "\n";
    return false;
  }
  if (cred.uid != 0 && cred.uid != ::geteuid()) {
    c.out = ControlError(absl::StrCat("permission denied for uid ", cred.uid)) + "\n";
    return false;
  }
  return true;
}

std::string ControlServer::RefusalLine() const {
  return ControlError("tiervm-agent is out of file descriptors (raise LimitNOFILE)") + "\n";
}

void ControlServer::OnInput(Client& c) {
  if (c.close_after_write) return;
  size_t nl;
  while ((nl = c.in.find('\n')) != std::string::npos) {
    std::string line = c.in.substr(0, nl);
    c.in.erase(0, nl + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (line.size() > kMaxControlRequestBytes) {
      c.out += ControlError("request too long") + "\n";
      c.close_after_write = true;
      c.in.clear();
      return;
    }
    c.out += handler_(line) + "\n";
  }
  if (c.in.size() > kMaxControlRequestBytes) {
    c.out += ControlError("request too long") + "\n";
    c.close_after_write = true;
    c.in.clear();
  }
}

// ---- metrics ----

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Listen(
    const std::string& listen, Render render) {
  const size_t colon = listen.rfind(':');
  uint32_t port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port) ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics_listen '", listen, "': expected HOST:PORT"));
  }
  std::string host = listen.substr(0, colon);
  if (host == "localhost") host = "127.0.0.1";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics_listen '", listen, "': host must be an IPv4 address"));
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket");
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(fd, 16) != 0) {
    absl::Status s = Errno(absl::StrCat("listen on ", listen));
    ::close(fd);
    return s;
  }
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return std::unique_ptr<MetricsServer>(
      new MetricsServer(fd, ntohs(addr.sin_port), std::move(render)));
}

std::string MetricsServer::RefusalLine() const {
  static constexpr char kBody[] = "tiervm-agent is out of file descriptors\n";
  return absl::StrCat("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                      "Connection: close\r\nContent-Length: ",
                      sizeof(kBody) - 1, "\r\n\r\n", kBody);
}

void MetricsServer::OnInput(Client& c) {
  if (c.close_after_write) return;
  const size_t end = c.in.find("\r\n\r\n");
  if (end == std::string::npos) {
    if (c.in.size() > 8192) {
      c.out = "HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
      c.close_after_write = true;
    }
    return;
  }
  const std::string line = c.in.substr(0, c.in.find("\r\n"));
  c.close_after_write = true;
  std::string status = "200 OK", body, type = "text/plain; version=0.0.4; charset=utf-8";
  if (line.rfind("GET ", 0) != 0) {
    status = "405 Method Not Allowed";
    body = "only GET\n";
    type = "text/plain";
  } else if (line.rfind("GET /metrics ", 0) != 0 && line != "GET /metrics") {
    status = "404 Not Found";
    body = "try /metrics\n";
    type = "text/plain";
  } else {
    body = render_();
  }
  c.out = absl::StrCat("HTTP/1.1 ", status, "\r\nContent-Type: ", type,
                       "\r\nContent-Length: ", body.size(),
                       "\r\nConnection: close\r\n\r\n", body);
  c.in.clear();
}

}  // namespace tiervm::agent
