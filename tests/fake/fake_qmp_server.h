// A scripted QMP server for tests: listens on a unix socket in a temporary
// directory and serves one connection at a time from its own thread,
// speaking the real protocol (greeting, capabilities-negotiation mode,
// CRLF-terminated JSON, ids echoed).
//
// Per command a handler returns a FakeReply: a return value or an error,
// optionally preceded by raw lines (events, garbage), delayed, sent in
// pieces, or followed by dropping the connection.  The test thread may
// also push events / raw bytes and drop the connection at any time.
// Commands without a handler get CommandNotFound, as in QEMU.
#ifndef TIERVM_TESTS_FAKE_FAKE_QMP_SERVER_H_
#define TIERVM_TESTS_FAKE_FAKE_QMP_SERVER_H_

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "nlohmann/json.hpp"

namespace tiervm::testing {

struct FakeReply {
  // Exactly one of these is normally used; `raw` replaces the whole reply.
  nlohmann::json return_value = nlohmann::json::object();
  std::optional<std::string> error_class;  // e.g. "GenericError"
  std::string error_desc;
  std::optional<std::string> raw;          // sent verbatim instead
  // Sent before the reply, verbatim (add "\r\n" yourself).
  std::vector<std::string> before;
  // Id to put in the reply instead of the request's (null: omit the id).
  std::optional<nlohmann::json> id_override;
  int delay_ms = 0;        // before sending anything
  bool split = false;      // send the reply a few bytes at a time
  bool no_reply = false;   // send nothing (the client times out)
  bool drop_after = false; // close the connection after sending
};

class FakeQmpServer {
 public:
  using Handler = std::function<FakeReply(const nlohmann::json& arguments)>;

  FakeQmpServer();
  ~FakeQmpServer();
  FakeQmpServer(const FakeQmpServer&) = delete;
  FakeQmpServer& operator=(const FakeQmpServer&) = delete;

  const std::string& socket_path() const { return path_; }

  // Set before the client connects (guarded; may be changed any time).
  void Handle(const std::string& command, Handler handler);
  // Raw greeting line (without CRLF); default is a QEMU 7.2-like one.
  void SetGreeting(std::string raw);
  // Make qmp_capabilities answer with this instead of {}.
  void SetCapabilitiesReply(FakeReply reply);

  // From the test thread, to the current connection (no-op if none).
  void SendEvent(const std::string& name, const nlohmann::json& data);
  void SendRaw(const std::string& bytes);
  void DropConnection();

  // Stop accepting (the socket file is removed): connects then fail.
  void StopListening();

  int accepted() const { return accepted_.load(); }
  // Every command name received, in order (including qmp_capabilities).
  std::vector<std::string> commands() const;
  std::vector<nlohmann::json> arguments_of(const std::string& command) const;
  // Blocks up to timeout_ms until a client is connected.
  bool WaitForClient(int timeout_ms) const;

 private:
  void Run();
  void ServeLine(const std::string& line);
  void Send(const std::string& bytes, bool split = false);
  void CloseClientLocked();

  std::string dir_;
  std::string path_;
  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  std::atomic<int> client_fd_{-1};
  std::atomic<int> accepted_{0};
  std::atomic<bool> stop_{false};
  bool negotiated_ = false;  // server thread only
  std::string inbuf_;        // server thread only

  mutable std::mutex mu_;  // guards the members below and writes to client
  std::map<std::string, Handler> handlers_;
  std::string greeting_;
  std::optional<FakeReply> caps_reply_;
  std::vector<std::pair<std::string, nlohmann::json>> log_;
  std::thread thread_;
};

// A canonical, valid __org.tiervm_query-hballoon return value: one device
// "hb0" with an FMEM node 0 and an SMEM node 1 of 1 GiB each.
nlohmann::json SampleHballoonInfo();

}  // namespace tiervm::testing

#endif  // TIERVM_TESTS_FAKE_FAKE_QMP_SERVER_H_
