#include "fake_qmp_server.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

namespace tiervm::testing {
namespace {

using json = nlohmann::json;

[[noreturn]] void Die(const char* what) {
  std::perror(what);
  std::abort();
}

}  // namespace

FakeQmpServer::FakeQmpServer() {
  char tmpl[] = "/tmp/tiervm-fakeqmp-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) Die("mkdtemp");
  dir_ = tmpl;
  path_ = dir_ + "/qmp.sock";
  greeting_ =
      R"({"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, )"
      R"("package": "Debian 1:7.2+dfsg-7+deb12u18"}, "capabilities": ["oob"]}})";
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) Die("socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path_.c_str());
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    Die("bind");
  if (::listen(listen_fd_, 4) != 0) Die("listen");
  if (::pipe2(wake_pipe_, O_CLOEXEC) != 0) Die("pipe2");
  thread_ = std::thread([this] { Run(); });
}

FakeQmpServer::~FakeQmpServer() {
  stop_ = true;
  const char c = 'x';
  (void)!::write(wake_pipe_[1], &c, 1);
  thread_.join();
  {
    std::lock_guard<std::mutex> l(mu_);
    CloseClientLocked();
  }
  if (listen_fd_ >= 0) ::close(listen_fd_);
  ::close(wake_pipe_[0]);
  ::close(wake_pipe_[1]);
  ::unlink(path_.c_str());
  ::rmdir(dir_.c_str());
}

void FakeQmpServer::Handle(const std::string& command, Handler handler) {
  std::lock_guard<std::mutex> l(mu_);
  handlers_[command] = std::move(handler);
}

void FakeQmpServer::SetGreeting(std::string raw) {
  std::lock_guard<std::mutex> l(mu_);
  greeting_ = std::move(raw);
}

void FakeQmpServer::SetCapabilitiesReply(FakeReply reply) {
  std::lock_guard<std::mutex> l(mu_);
  caps_reply_ = std::move(reply);
}

void FakeQmpServer::StopListening() {
  // The server thread owns listen_fd_; removing the path is enough to make
  // new connects fail with ENOENT.
  ::unlink(path_.c_str());
}

std::vector<std::string> FakeQmpServer::commands() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<std::string> out;
  for (const auto& [cmd, args] : log_) out.push_back(cmd);
  return out;
}

std::vector<json> FakeQmpServer::arguments_of(const std::string& command) const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<json> out;
  for (const auto& [cmd, args] : log_) {
    if (cmd == command) out.push_back(args);
  }
  return out;
}

bool FakeQmpServer::WaitForClient(int timeout_ms) const {
  const auto end =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < end) {
    if (client_fd_.load() >= 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return client_fd_.load() >= 0;
}

void FakeQmpServer::CloseClientLocked() {
  const int fd = client_fd_.exchange(-1);
  if (fd >= 0) ::close(fd);
}

void FakeQmpServer::Send(const std::string& bytes, bool split) {
  std::lock_guard<std::mutex> l(mu_);
  const int fd = client_fd_.load();
  if (fd < 0) return;
  size_t off = 0;
  while (off < bytes.size()) {
    size_t chunk = bytes.size() - off;
    if (split && chunk > 3) chunk = 3;
    const ssize_t n = ::send(fd, bytes.data() + off, chunk, MSG_NOSIGNAL);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return;  // the client went away; the read side notices
    }
    off += static_cast<size_t>(n);
    if (split) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void FakeQmpServer::SendEvent(const std::string& name, const json& data) {
  const json ev = {{"event", name},
                   {"data", data},
                   {"timestamp", {{"seconds", 1700000000}, {"microseconds", 0}}}};
  Send(ev.dump() + "\r\n");
}

void FakeQmpServer::SendRaw(const std::string& bytes) { Send(bytes); }

void FakeQmpServer::DropConnection() {
  std::lock_guard<std::mutex> l(mu_);
  const int fd = client_fd_.load();
  // shutdown, not close: the server thread may be polling the fd; it sees
  // EOF/HUP and closes it itself.
  if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
}

void FakeQmpServer::Run() {
  while (!stop_) {
    pollfd fds[3] = {{wake_pipe_[0], POLLIN, 0},
                     {listen_fd_, POLLIN, 0},
                     {client_fd_.load(), POLLIN, 0}};
    const nfds_t n = fds[2].fd >= 0 ? 3 : 2;
    if (::poll(fds, n, 100) < 0) continue;
    if (stop_) break;
    if (fds[1].revents & POLLIN) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        std::string greeting;
        {
          std::lock_guard<std::mutex> l(mu_);
          CloseClientLocked();  // one client at a time, like a QMP chardev
          client_fd_ = fd;
          greeting = greeting_;
        }
        negotiated_ = false;
        inbuf_.clear();
        ++accepted_;
        Send(greeting + "\r\n");
      }
      continue;
    }
    if (n == 3 && (fds[2].revents & (POLLIN | POLLHUP | POLLERR))) {
      char buf[4096];
      const ssize_t r = ::recv(fds[2].fd, buf, sizeof(buf), 0);
      if (r <= 0) {
        std::lock_guard<std::mutex> l(mu_);
        if (client_fd_.load() == fds[2].fd) CloseClientLocked();
        continue;
      }
      inbuf_.append(buf, static_cast<size_t>(r));
      size_t nl;
      while ((nl = inbuf_.find('\n')) != std::string::npos) {
        std::string line = inbuf_.substr(0, nl);
        inbuf_.erase(0, nl + 1);
        ServeLine(line);
      }
    }
  }
}

void FakeQmpServer::ServeLine(const std::string& line) {
  json req = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (req.is_discarded() || !req.is_object() || !req.contains("execute") ||
      !req["execute"].is_string()) {
    Send(R"({"error": {"class": "GenericError", "desc": "Invalid JSON syntax"}})"
         "\r\n");
    return;
  }
  const std::string cmd = req["execute"].get<std::string>();
  const json args = req.value("arguments", json::object());
  const json id = req.value("id", json());

  FakeReply reply;
  bool have_handler = false;
  Handler handler;
  {
    std::lock_guard<std::mutex> l(mu_);
    log_.emplace_back(cmd, args);
    if (cmd == "qmp_capabilities") {
      if (caps_reply_) reply = *caps_reply_;
      have_handler = true;
    } else if (negotiated_) {
      auto it = handlers_.find(cmd);
      if (it != handlers_.end()) handler = it->second;
    }
  }
  if (handler) {  // not under mu_: a handler may call back into the server
    reply = handler(args);
    have_handler = true;
  }
  if (cmd == "qmp_capabilities") {
    if (negotiated_) {
      reply = FakeReply{};
      reply.error_class = "CommandNotFound";
      reply.error_desc = "Capabilities negotiation is already complete, command ignored";
    }
    negotiated_ = true;
  } else if (!have_handler) {
    reply = FakeReply{};
    reply.error_class = "CommandNotFound";
    reply.error_desc = negotiated_
                           ? "The command " + cmd + " has not been found"
                           : "Expecting capabilities negotiation with 'qmp_capabilities'";
  }

  if (reply.delay_ms > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(reply.delay_ms));
  }
  for (const std::string& b : reply.before) Send(b);
  if (!reply.no_reply) {
    std::string out;
    if (reply.raw) {
      out = *reply.raw;
    } else {
      json r;
      if (reply.error_class) {
        r["error"] = {{"class", *reply.error_class}, {"desc", reply.error_desc}};
      } else {
        r["return"] = reply.return_value;
      }
      const json reply_id = reply.id_override ? *reply.id_override : id;
      if (!reply_id.is_null()) r["id"] = reply_id;
      out = r.dump() + "\r\n";
    }
    Send(out, reply.split);
  }
  if (reply.drop_after) DropConnection();
}

json SampleHballoonInfo() {
  return json::parse(R"([{"id": "hb0", "qom-path": "/machine/peripheral/hb0",
    "broken": false, "pressure": "none",
    "nodes": [{"node": 0, "tier": "fmem", "size": 1073741824, "target": 268435456,
               "actual": 268435456, "guest-actual": 268435456,
               "inflated-pages": 65536, "deflated-pages": 0},
              {"node": 1, "tier": "smem", "size": 1073741824, "target": 0,
               "actual": 0, "guest-actual": 0,
               "inflated-pages": 0, "deflated-pages": 0}],
    "discard-calls": 3, "discarded-bytes": 268435456, "discard-errors": 0,
    "rejected-requests": 0,
    "stats": {"seq": 7, "last-update-ms": 1700000000000, "dropped": 0,
              "unknown-tags": 0,
              "records": [{"tag": 0, "node": 0, "value": 536870912}]}}])");
}

}  // namespace tiervm::testing
