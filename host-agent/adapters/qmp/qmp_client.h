// QMP client: the QEMU Machine Protocol over a unix socket
// (qemu/qemu:docs/interop/qmp-spec.rst).
//
// Connect() reads the greeting and leaves capabilities-negotiation mode with
// `qmp_capabilities`; Execute() sends one command with a fresh id and waits
// for the reply with that id.  Events arriving before the reply are queued
// (bounded; oldest dropped first) and handed out by TakeEvents().
//
// Everything read from the socket is untrusted: a line that is not JSON, not
// an object, longer than `max_line_bytes`, a reply without `return`/`error`,
// or a reply with another id is a protocol error (absl::DataLoss).  After a
// protocol error, a timeout or a dropped connection the connection is closed
// (the stream position is unknown: a late reply could be taken for the next
// command's), and the next Execute() reconnects.  A command is never re-sent
// on its own: the caller decides whether repeating it is safe.
//
// Status codes at the boundary:
//   Unavailable       cannot connect / connection dropped
//   DeadlineExceeded  no (complete) reply within timeout_ms
//   DataLoss          malformed data from the server (protocol error)
//   Unimplemented     QMP error class CommandNotFound
//   NotFound          QMP error class DeviceNotFound
//   FailedPrecondition any other QMP error (GenericError, ...)
//
// Not synchronized: one QmpClient belongs to one thread (the agent's loop).
#ifndef TIERVM_HOST_AGENT_ADAPTERS_QMP_QMP_CLIENT_H_
#define TIERVM_HOST_AGENT_ADAPTERS_QMP_QMP_CLIENT_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace tiervm::agent::qmp {

struct QmpEvent {
  std::string name;
  nlohmann::json data = nlohmann::json::object();  // {} if absent
  // Server timestamp; -1 if absent or malformed (QEMU always sends one).
  int64_t seconds = -1;
  int64_t microseconds = -1;
};

struct QmpClientOptions {
  std::string socket_path;
  // Bounds every wait of Connect() (connect + greeting + capabilities).
  int connect_timeout_ms = 5000;
  // Used by Execute() when its timeout_ms is negative.
  int default_timeout_ms = 5000;
  // A line (one JSON message) longer than this is a protocol error.
  size_t max_line_bytes = size_t{1} << 20;
  // Queued events beyond this drop the oldest (counted in dropped_events()).
  size_t max_pending_events = 1024;
  // Execute() connects if not connected (first call and after a drop).
  bool auto_reconnect = true;
};

// Classification of one parsed server message (exposed for tests / fuzzing).
enum class QmpMessageKind { kGreeting, kEvent, kReturn, kError };

struct QmpMessage {
  QmpMessageKind kind = QmpMessageKind::kReturn;
  nlohmann::json id;            // null if absent
  nlohmann::json value;         // greeting's "QMP", event "data", "return"
  std::string event_name;       // kEvent
  std::string error_class;      // kError
  std::string error_desc;       // kError
  int64_t seconds = -1, microseconds = -1;  // kEvent
};

// Parses one line from a QMP server.  Pure; never throws; bounded by
// `max_line_bytes`.  DataLoss with a message naming what is wrong.
absl::StatusOr<QmpMessage> ParseQmpMessage(std::string_view line,
                                           size_t max_line_bytes);

// The absl::Status for a QMP error reply (see the table above).
absl::Status QmpErrorToStatus(std::string_view command,
                              std::string_view error_class,
                              std::string_view desc);

class QmpClient {
 public:
  explicit QmpClient(QmpClientOptions options);
  ~QmpClient();
  QmpClient(const QmpClient&) = delete;
  QmpClient& operator=(const QmpClient&) = delete;

  // Connects (closing any previous connection), reads the greeting and
  // negotiates capabilities (none enabled).
  absl::Status Connect();
  void Close();
  bool connected() const { return fd_ >= 0; }

  // Runs `command` with `arguments` (an object, or null for none) and
  // returns the `return` value.  timeout_ms < 0: options.default_timeout_ms.
  absl::StatusOr<nlohmann::json> Execute(
      std::string_view command,
      const nlohmann::json& arguments = nlohmann::json(), int timeout_ms = -1);

  // Reads whatever events arrive within timeout_ms (0: only those already
  // readable).  Returns OK on timeout; an error if the connection failed.
  // Does not connect.
  absl::Status PollEvents(int timeout_ms);

  // Events received so far (oldest first); clears the queue.
  std::vector<QmpEvent> TakeEvents();

  // The pid of the process at the other end of the current connection
  // (SO_PEERCRED: the process that called listen() on the socket, which is
  // QEMU for `-qmp unix:...,server`; a manager that created the socket and
  // handed QEMU the fd would be named instead).  nullopt when not
  // connected or the kernel does not say.
  std::optional<int> peer_pid() const { return peer_pid_; }

  // The greeting's "QMP" object of the current connection.
  const nlohmann::json& greeting() const { return greeting_; }
  uint64_t connects() const { return connects_; }
  uint64_t dropped_events() const { return dropped_events_; }

 private:
  // Reads one line within the deadline (steady-clock ms).  Events are not
  // filtered here.
  absl::StatusOr<std::string> ReadLine(int64_t deadline_ms);
  absl::StatusOr<bool> FillBuffer(int64_t deadline_ms);
  absl::Status WriteAll(std::string_view data, int64_t deadline_ms);
  // Sends a command and waits for its reply, queueing events.
  absl::StatusOr<nlohmann::json> Transact(std::string_view command,
                                          const nlohmann::json& arguments,
                                          int64_t deadline_ms);
  void QueueEvent(QmpMessage msg);
  // Closes the connection and passes `s` through.
  absl::Status Fail(absl::Status s);

  QmpClientOptions options_;
  int fd_ = -1;
  std::optional<int> peer_pid_;
  std::string inbuf_;
  nlohmann::json greeting_;
  std::deque<QmpEvent> events_;
  uint64_t next_id_ = 1;
  uint64_t connects_ = 0;
  uint64_t dropped_events_ = 0;
};

}  // namespace tiervm::agent::qmp

#endif  // TIERVM_HOST_AGENT_ADAPTERS_QMP_QMP_CLIENT_H_
