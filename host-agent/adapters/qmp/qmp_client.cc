#include "adapters/qmp/qmp_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tiervm::agent::qmp {
namespace {

using json = nlohmann::json;

// Deeper nesting than this is refused before parsing: nothing QEMU sends
// is nested more than a few levels, and a bound keeps every later
// recursive walk (copy, compare, dump) shallow.
constexpr int kMaxJsonDepth = 64;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int RemainingMs(int64_t deadline_ms) {
  const int64_t left = deadline_ms - NowMs();
  if (left <= 0) return 0;
  return left > 1'000'000'000 ? 1'000'000'000 : static_cast<int>(left);
}

// Debian's Abseil 20220623 has its own string_view type, which StrCat takes
// but std::string_view does not convert to.
absl::string_view AV(std::string_view s) { return {s.data(), s.size()}; }

std::string ErrnoText(int err) { return std::strerror(err); }

// Quotes untrusted text for an error message: bounded and printable.
std::string Excerpt(std::string_view s) {
  std::string out;
  const size_t n = s.size() < 64 ? s.size() : 64;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }
  if (s.size() > n) out += "...";
  return out;
}

bool DepthWithin(std::string_view s, int max_depth) {
  int depth = 0;
  bool in_string = false;
  bool escape = false;
  for (const char c : s) {
    if (in_string) {
      if (escape) {
        escape = false;
      } else if (c == '\\') {
        escape = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

bool GetInt64(const json& j, int64_t* out) {
  if (j.is_number_unsigned()) {
    const uint64_t v = j.get<uint64_t>();
    if (v > static_cast<uint64_t>(INT64_MAX)) return false;
    *out = static_cast<int64_t>(v);
    return true;
  }
  if (j.is_number_integer()) {
    *out = j.get<int64_t>();
    return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<QmpMessage> ParseQmpMessage(std::string_view line,
                                           size_t max_line_bytes) {
  if (line.size() > max_line_bytes) {
    return absl::DataLossError(absl::StrCat("QMP: line of ", line.size(),
                                            " bytes exceeds the bound of ",
                                            max_line_bytes));
  }
  if (!DepthWithin(line, kMaxJsonDepth)) {
    return absl::DataLossError(
        absl::StrCat("QMP: JSON nested deeper than ", kMaxJsonDepth));
  }
  json j = json::parse(line.begin(), line.end(), nullptr,
                       /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return absl::DataLossError(
        absl::StrCat("QMP: not JSON: '", Excerpt(line), "'"));
  }
  if (!j.is_object()) {
    return absl::DataLossError(
        absl::StrCat("QMP: message is not a JSON object: '", Excerpt(line),
                     "'"));
  }
  QmpMessage msg;
  if (auto it = j.find("id"); it != j.end()) msg.id = *it;

  const bool has_return = j.contains("return");
  const bool has_error = j.contains("error");
  const bool has_event = j.contains("event");
  const bool has_qmp = j.contains("QMP");
  if (int(has_return) + int(has_error) + int(has_event) + int(has_qmp) != 1) {
    return absl::DataLossError(
        "QMP: message has not exactly one of return/error/event/QMP");
  }
  if (has_qmp) {
    msg.kind = QmpMessageKind::kGreeting;
    msg.value = std::move(j["QMP"]);
    if (!msg.value.is_object()) {
      return absl::DataLossError("QMP: greeting 'QMP' is not an object");
    }
    return msg;
  }
  if (has_return) {
    msg.kind = QmpMessageKind::kReturn;
    msg.value = std::move(j["return"]);
    return msg;
  }
  if (has_error) {
    msg.kind = QmpMessageKind::kError;
    const json& e = j["error"];
    if (!e.is_object()) {
      return absl::DataLossError("QMP: 'error' is not an object");
    }
    auto cls = e.find("class");
    if (cls == e.end() || !cls->is_string()) {
      return absl::DataLossError("QMP: 'error.class' missing or not a string");
    }
    msg.error_class = cls->get<std::string>();
    if (auto d = e.find("desc"); d != e.end() && d->is_string()) {
      msg.error_desc = d->get<std::string>();
    }
    return msg;
  }
  msg.kind = QmpMessageKind::kEvent;
  const json& name = j["event"];
  if (!name.is_string() || name.get_ref<const std::string&>().empty()) {
    return absl::DataLossError("QMP: 'event' is not a non-empty string");
  }
  msg.event_name = name.get<std::string>();
  if (auto d = j.find("data"); d != j.end()) {
    if (!d->is_object()) {
      return absl::DataLossError(absl::StrCat(
          "QMP: event ", Excerpt(msg.event_name), ": 'data' is not an object"));
    }
    msg.value = std::move(*d);
  } else {
    msg.value = json::object();
  }
  if (auto ts = j.find("timestamp"); ts != j.end() && ts->is_object()) {
    int64_t s = -1, us = -1;
    auto si = ts->find("seconds");
    auto ui = ts->find("microseconds");
    if (si != ts->end() && ui != ts->end() && GetInt64(*si, &s) &&
        GetInt64(*ui, &us)) {
      msg.seconds = s;
      msg.microseconds = us;
    }
  }
  return msg;
}

absl::Status QmpErrorToStatus(std::string_view command,
                              std::string_view error_class,
                              std::string_view desc) {
  const std::string text = absl::StrCat("QMP ", AV(command), ": ",
                                        Excerpt(error_class), ": ",
                                        AV(desc.substr(0, 512)));
  if (error_class == "CommandNotFound") return absl::UnimplementedError(text);
  if (error_class == "DeviceNotFound") return absl::NotFoundError(text);
  return absl::FailedPreconditionError(text);
}

QmpClient::QmpClient(QmpClientOptions options) : options_(std::move(options)) {}

QmpClient::~QmpClient() { Close(); }

void QmpClient::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  peer_pid_.reset();
  inbuf_.clear();
}

absl::Status QmpClient::Fail(absl::Status s) {
  Close();
  return s;
}

absl::Status QmpClient::Connect() {
  Close();
  greeting_ = json();
  const int64_t deadline = NowMs() + options_.connect_timeout_ms;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (options_.socket_path.empty() ||
      options_.socket_path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "QMP: bad socket path '", Excerpt(options_.socket_path), "'"));
  }
  std::memcpy(addr.sun_path, options_.socket_path.data(),
              options_.socket_path.size());
  const int fd =
      ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("QMP: socket(): ", ErrnoText(errno)));
  }
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) !=
      0) {
    const int err = errno;
    ::close(fd);
    return absl::UnavailableError(absl::StrCat(
        "QMP: connect ", options_.socket_path, ": ", ErrnoText(err)));
  }
  fd_ = fd;
  // Who listens on the socket: the agent measures that process's memory
  // (numa_maps) without being told QEMU's pid.
  ucred cred{};
  socklen_t cred_len = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) == 0 && cred.pid > 0) {
    peer_pid_ = cred.pid;
  }

  absl::StatusOr<std::string> line = ReadLine(deadline);
  if (!line.ok()) return Fail(line.status());
  absl::StatusOr<QmpMessage> msg = ParseQmpMessage(*line, options_.max_line_bytes);
  if (!msg.ok()) return Fail(msg.status());
  if (msg->kind != QmpMessageKind::kGreeting) {
    return Fail(absl::DataLossError("QMP: first message is not a greeting"));
  }
  greeting_ = std::move(msg->value);
  absl::StatusOr<json> caps = Transact("qmp_capabilities", json(), deadline);
  if (!caps.ok()) {
    return Fail(absl::Status(
        caps.status().code(),
        absl::StrCat("QMP: capabilities negotiation: ", caps.status().message())));
  }
  ++connects_;
  return absl::OkStatus();
}

absl::StatusOr<std::string> QmpClient::ReadLine(int64_t deadline_ms) {
  for (;;) {
    const size_t nl = inbuf_.find('\n');
    if (nl != std::string::npos) {
      std::string line = inbuf_.substr(0, nl);
      inbuf_.erase(0, nl + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      return line;
    }
    absl::StatusOr<bool> got = FillBuffer(deadline_ms);
    if (!got.ok()) return got.status();
    if (!*got) {
      return Fail(absl::DeadlineExceededError("QMP: timed out waiting for the server"));
    }
  }
}

// Waits until the socket is readable or `deadline_ms` passes and appends
// what arrived to inbuf_.  Returns false on timeout; errors close the
// connection (Fail).  Shared by ReadLine and PollEvents so both enforce the
// same line bound and treat EOF and errors alike.
absl::StatusOr<bool> QmpClient::FillBuffer(int64_t deadline_ms) {
  if (inbuf_.size() > options_.max_line_bytes) {
    return Fail(absl::DataLossError(absl::StrCat(
        "QMP: line exceeds the bound of ", options_.max_line_bytes, " bytes")));
  }
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, RemainingMs(deadline_ms));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Fail(absl::UnavailableError(
          absl::StrCat("QMP: poll: ", ErrnoText(errno))));
    }
    if (r == 0) return false;
    char buf[16384];
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      return Fail(absl::UnavailableError(
          absl::StrCat("QMP: read: ", ErrnoText(errno))));
    }
    if (n == 0) {
      return Fail(absl::UnavailableError("QMP: connection closed by the server"));
    }
    inbuf_.append(buf, static_cast<size_t>(n));
    return true;
  }
}

absl::Status QmpClient::WriteAll(std::string_view data, int64_t deadline_ms) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      return Fail(absl::UnavailableError(
          absl::StrCat("QMP: write: ", ErrnoText(errno))));
    }
    pollfd p{fd_, POLLOUT, 0};
    const int r = ::poll(&p, 1, RemainingMs(deadline_ms));
    if (r == 0) {
      return Fail(absl::DeadlineExceededError("QMP: timed out writing"));
    }
    if (r < 0 && errno != EINTR) {
      return Fail(absl::UnavailableError(
          absl::StrCat("QMP: poll: ", ErrnoText(errno))));
    }
  }
  return absl::OkStatus();
}

void QmpClient::QueueEvent(QmpMessage msg) {
  if (options_.max_pending_events == 0) {
    ++dropped_events_;
    return;
  }
  while (events_.size() >= options_.max_pending_events) {
    events_.pop_front();
    ++dropped_events_;
  }
  QmpEvent ev;
  ev.name = std::move(msg.event_name);
  ev.data = std::move(msg.value);
  ev.seconds = msg.seconds;
  ev.microseconds = msg.microseconds;
  events_.push_back(std::move(ev));
}

absl::StatusOr<json> QmpClient::Transact(std::string_view command,
                                         const json& arguments,
                                         int64_t deadline_ms) {
  if (!arguments.is_null() && !arguments.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("QMP ", AV(command), ": arguments must be an object"));
  }
  const json id = absl::StrCat("tiervm-", next_id_++);
  json req = {{"execute", std::string(command)}, {"id", id}};
  if (!arguments.is_null()) req["arguments"] = arguments;
  std::string wire =
      req.dump(-1, ' ', /*ensure_ascii=*/false, json::error_handler_t::replace);
  wire += "\n";
  if (absl::Status s = WriteAll(wire, deadline_ms); !s.ok()) return s;

  for (;;) {
    absl::StatusOr<std::string> line = ReadLine(deadline_ms);
    if (!line.ok()) {
      return absl::Status(line.status().code(),
                          absl::StrCat(line.status().message(), " (command ",
                                       AV(command), ")"));
    }
    absl::StatusOr<QmpMessage> msg =
        ParseQmpMessage(*line, options_.max_line_bytes);
    if (!msg.ok()) return Fail(msg.status());
    switch (msg->kind) {
      case QmpMessageKind::kEvent:
        QueueEvent(*std::move(msg));
        continue;
      case QmpMessageKind::kGreeting:
        return Fail(absl::DataLossError("QMP: unexpected greeting"));
      case QmpMessageKind::kReturn:
      case QmpMessageKind::kError:
        break;
    }
    if (msg->id != id) {
      return Fail(absl::DataLossError(absl::StrCat(
          "QMP ", AV(command), ": reply id ",
          msg->id.is_null()
              ? std::string("missing")
              : Excerpt(msg->id.dump(-1, ' ', false,
                                     json::error_handler_t::replace)),
          " does not match ", id.get<std::string>())));
    }
    if (msg->kind == QmpMessageKind::kError) {
      return QmpErrorToStatus(command, msg->error_class, msg->error_desc);
    }
    return std::move(msg->value);
  }
}

absl::StatusOr<json> QmpClient::Execute(std::string_view command,
                                        const json& arguments,
                                        int timeout_ms) {
  if (timeout_ms < 0) timeout_ms = options_.default_timeout_ms;
  if (fd_ < 0) {
    if (!options_.auto_reconnect && connects_ > 0) {
      return absl::UnavailableError("QMP: not connected");
    }
    if (absl::Status s = Connect(); !s.ok()) return s;
  }
  return Transact(command, arguments, NowMs() + timeout_ms);
}

absl::Status QmpClient::PollEvents(int timeout_ms) {
  if (fd_ < 0) return absl::UnavailableError("QMP: not connected");
  const int64_t deadline = NowMs() + (timeout_ms < 0 ? 0 : timeout_ms);
  for (;;) {
    // Consume complete lines already buffered, then wait for more.
    while (inbuf_.find('\n') != std::string::npos) {
      absl::StatusOr<std::string> line = ReadLine(deadline);
      if (!line.ok()) return line.status();
      absl::StatusOr<QmpMessage> msg =
          ParseQmpMessage(*line, options_.max_line_bytes);
      if (!msg.ok()) return Fail(msg.status());
      if (msg->kind != QmpMessageKind::kEvent) {
        return Fail(absl::DataLossError(
            "QMP: unsolicited reply or greeting while idle"));
      }
      QueueEvent(*std::move(msg));
    }
    absl::StatusOr<bool> got = FillBuffer(deadline);
    if (!got.ok()) return got.status();
    if (!*got) return absl::OkStatus();
  }
}

std::vector<QmpEvent> QmpClient::TakeEvents() {
  std::vector<QmpEvent> out(std::make_move_iterator(events_.begin()),
                            std::make_move_iterator(events_.end()));
  events_.clear();
  return out;
}

}  // namespace tiervm::agent::qmp
