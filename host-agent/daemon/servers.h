// The daemon's two small socket servers, both non-blocking and driven from
// the agent's single thread by poll() between ticks, so no request can
// block the loop and nothing needs a lock:
//   * ControlServer: unix socket (mode 0600), line-delimited JSON; a peer
//     must be root or the agent's own uid (SO_PEERCRED), else it gets one
//     error line and is closed.  A request line longer than
//     kMaxControlRequestBytes gets an error and the connection is closed.
//   * MetricsServer: TCP on a loopback address, answers GET /metrics with
//     the Prometheus text format (HTTP/1.0-style: one response, close).
// Both cap their clients (16) and per-client buffers, and drop a client
// that sends nothing for 10 s.  Out of file descriptors (EMFILE/ENFILE:
// one QMP socket per VM under a low LimitNOFILE), a server answers the
// waiting connection with its refusal (RefusalLine) through one fd it
// keeps in reserve and closes it: left in the queue, the connection kept
// the listening socket readable, so poll() returned at once and the
// agent's loop spun without ever answering.
//
// Owns: the listening and client sockets.
// Thread-safety: not synchronized; one thread.
#ifndef TIERVM_HOST_AGENT_DAEMON_SERVERS_H_
#define TIERVM_HOST_AGENT_DAEMON_SERVERS_H_

#include <poll.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tiervm::agent {

class StreamServer {
 public:
  virtual ~StreamServer();
  // Adds the fds to watch (listen + clients).
  void AppendPollFds(std::vector<pollfd>* fds) const;
  // Handles whatever the poll() result says is ready on our fds.
  void Process(const std::vector<pollfd>& fds);
  size_t clients() const { return clients_.size(); }
  // Connections refused for want of a file descriptor.
  uint64_t refused_no_fd() const { return refused_no_fd_; }

 protected:
  struct Client {
    int fd = -1;
    std::string in;
    std::string out;
    bool close_after_write = false;
    std::chrono::steady_clock::time_point last_active;
  };
  explicit StreamServer(int listen_fd);
  // Accept-time check; false closes the client (after queued output).
  virtual bool Admit(Client& c) = 0;
  // What a connection refused for want of a file descriptor is told.
  virtual std::string RefusalLine() const = 0;
  // Consume complete requests from c.in, append replies to c.out.
  virtual void OnInput(Client& c) = 0;

 private:
  void Accept();
  bool ReadFrom(Client& c);   // false: drop
  bool WriteTo(Client& c);    // false: drop
  // Answers and closes one waiting connection through the reserve fd.
  void RefuseOne();
  int listen_fd_;
  int reserve_fd_ = -1;  // /dev/null, given up for a moment by RefuseOne
  uint64_t refused_no_fd_ = 0;
  std::vector<std::unique_ptr<Client>> clients_;
};

class ControlServer final : public StreamServer {
 public:
  using Handler = std::function<std::string(std::string_view line)>;
  // Creates the parent directory (0755) if missing, replaces a stale
  // socket file (one nobody listens on), binds, chmods 0600.
  // FailedPrecondition when the path is not a socket or another process
  // listens on it (a running agent keeps its socket).
  static absl::StatusOr<std::unique_ptr<ControlServer>> Listen(
      const std::string& path, Handler handler);
  // Removes the socket file if it is still the one Listen created.
  ~ControlServer() override;

 private:
  ControlServer(int fd, std::string path, dev_t dev, ino_t ino, Handler h)
      : StreamServer(fd), path_(std::move(path)), dev_(dev), ino_(ino), handler_(std::move(h)) {}
  bool Admit(Client& c) override;
  void OnInput(Client& c) override;
  std::string RefusalLine() const override;
  std::string path_;
  dev_t dev_;  // identity of the socket file bound, for the destructor
  ino_t ino_;
  Handler handler_;
};

class MetricsServer final : public StreamServer {
 public:
  using Render = std::function<std::string()>;
  // `listen` is "HOST:PORT" with an IPv4 host (e.g. 127.0.0.1:9848);
  // port 0 picks a free port (see port()).
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Listen(
      const std::string& listen, Render render);
  uint16_t port() const { return port_; }

 private:
  MetricsServer(int fd, uint16_t port, Render r)
      : StreamServer(fd), port_(port), render_(std::move(r)) {}
  bool Admit(Client&) override { return true; }
  void OnInput(Client& c) override;
  std::string RefusalLine() const override;
  uint16_t port_;
  Render render_;
};

// Polls the servers' fds for up to timeout_ms and processes what is ready.
void ServeFor(const std::vector<StreamServer*>& servers, int timeout_ms);

}  // namespace tiervm::agent

#endif  // TIERVM_HOST_AGENT_DAEMON_SERVERS_H_
