#include "hook/agent_client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tiervm::libvirt {
namespace {

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Waits for `events` until `deadline_ms`; false on timeout.
absl::Status WaitFor(int fd, short events, int64_t deadline_ms, const char* what) {
  for (;;) {
    const int64_t left = deadline_ms - NowMs();
    if (left <= 0) {
      return absl::DeadlineExceededError(absl::StrCat("agent did not answer in time (", what, ")"));
    }
    pollfd p{fd, events, 0};
    const int r = poll(&p, 1, static_cast<int>(left));
    if (r > 0) return absl::OkStatus();
    if (r < 0 && errno != EINTR) {
      return absl::InternalError(absl::StrCat("poll: ", std::strerror(errno)));
    }
  }
}

}  // namespace

absl::StatusOr<std::string> AgentExchange(const std::string& socket_path,
                                          const std::string& line, int timeout_ms) {
  const int64_t deadline = NowMs() + timeout_ms;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.empty() || socket_path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("bad agent socket path '", socket_path, "'"));
  }
  std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());
  Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (errno == ENOENT || errno == ECONNREFUSED || errno == ENOTDIR) {
      return absl::UnavailableError(
          absl::StrCat("agent not running (", socket_path, ": ", std::strerror(errno), ")"));
    }
    if (errno != EINPROGRESS && errno != EAGAIN) {
      return absl::InternalError(absl::StrCat("connect ", socket_path, ": ", std::strerror(errno)));
    }
    // A full listen backlog: wait for the connection within the deadline.
    if (auto s = WaitFor(fd.get(), POLLOUT, deadline, "connect"); !s.ok()) return s;
    int so_error = 0;
    socklen_t len = sizeof(so_error);
    getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so_error, &len);
    if (so_error != 0) {
      return absl::UnavailableError(absl::StrCat("connect ", socket_path, ": ", std::strerror(so_error)));
    }
  }
  const std::string msg = line + "\n";
  size_t sent = 0;
  while (sent < msg.size()) {
    // MSG_NOSIGNAL: an agent closing early must not kill the hook.
    const ssize_t n = send(fd.get(), msg.data() + sent, msg.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (auto s = WaitFor(fd.get(), POLLOUT, deadline, "write"); !s.ok()) return s;
    } else {
      return absl::InternalError(absl::StrCat("write to agent: ", std::strerror(errno)));
    }
  }
  std::string reply;
  char buf[4096];
  for (;;) {
    const size_t nl = reply.find('\n');
    if (nl != std::string::npos) return reply.substr(0, nl);
    if (reply.size() > 65536) return absl::InternalError("agent reply line too long");
    const ssize_t n = recv(fd.get(), buf, sizeof(buf), 0);
    if (n > 0) {
      reply.append(buf, static_cast<size_t>(n));
    } else if (n == 0) {
      return absl::InternalError("agent closed the connection without a reply");
    } else if (errno == EAGAIN || errno == EINTR) {
      if (auto s = WaitFor(fd.get(), POLLIN, deadline, "reply"); !s.ok()) return s;
    } else {
      return absl::InternalError(absl::StrCat("read from agent: ", std::strerror(errno)));
    }
  }
}

}  // namespace tiervm::libvirt
