// QmpClient against the in-process fake QMP server (tests/fake).
#include "adapters/qmp/qmp_client.h"

#include <unistd.h>

#include <chrono>
#include <string>

#include "fake_qmp_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tiervm::agent::qmp {
namespace {

using json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using tiervm::testing::FakeQmpServer;
using tiervm::testing::FakeReply;

QmpClientOptions Opts(const FakeQmpServer& server) {
  QmpClientOptions o;
  o.socket_path = server.socket_path();
  o.connect_timeout_ms = 2000;
  o.default_timeout_ms = 2000;
  return o;
}

FakeReply Return(json v) {
  FakeReply r;
  r.return_value = std::move(v);
  return r;
}

FakeReply Raw(std::string raw) {
  FakeReply r;
  r.raw = std::move(raw);
  return r;
}

std::string EventLine(const std::string& name, int node) {
  return json{{"event", name},
              {"data", {{"node", node}}},
              {"timestamp", {{"seconds", 5}, {"microseconds", 6}}}}
             .dump() +
         "\r\n";
}

class QmpClientTest : public ::testing::Test {
 protected:
  QmpClientTest() {
    server_.Handle("query-status", [](const json&) {
      return Return({{"status", "running"}, {"running", true}});
    });
    server_.Handle("echo", [](const json& args) { return Return(args); });
  }

  // The connection works again (after an error closed it).
  void ExpectRecovers(QmpClient& c) {
    absl::StatusOr<json> r = c.Execute("query-status");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ((*r)["status"], "running");
  }

  FakeQmpServer server_;
};

TEST_F(QmpClientTest, HandshakeReadsGreetingAndNegotiates) {
  QmpClient c(Opts(server_));
  ASSERT_TRUE(c.Connect().ok());
  EXPECT_TRUE(c.connected());
  EXPECT_EQ(c.greeting()["version"]["qemu"]["major"], 7);
  EXPECT_EQ(c.connects(), 1u);
  ASSERT_TRUE(server_.WaitForClient(1000));
  ExpectRecovers(c);
  EXPECT_THAT(server_.commands(), ElementsAre("qmp_capabilities", "query-status"));
}

TEST_F(QmpClientTest, PeerPidIsTheListeningProcess) {
  // The fake server listens in this process; QEMU's pid is found the same
  // way.  Forgotten when the connection closes (the pid may be reused).
  QmpClient c(Opts(server_));
  EXPECT_EQ(c.peer_pid(), std::nullopt);
  ASSERT_TRUE(c.Connect().ok());
  EXPECT_EQ(c.peer_pid(), ::getpid());
  c.Close();
  EXPECT_EQ(c.peer_pid(), std::nullopt);
}

TEST_F(QmpClientTest, ExecuteConnectsLazilyAndPassesArguments) {
  QmpClient c(Opts(server_));
  const json args = {{"id", "hb0"}, {"node", 1}, {"target", 4096}};
  absl::StatusOr<json> r = c.Execute("echo", args);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, args);
  EXPECT_THAT(server_.arguments_of("echo"), ElementsAre(args));
  // No arguments: the member is omitted, the server sees {}.
  ASSERT_TRUE(c.Execute("echo").ok());
  EXPECT_EQ(server_.arguments_of("echo").back(), json::object());
  EXPECT_EQ(server_.accepted(), 1);
}

TEST_F(QmpClientTest, ArgumentsMustBeAnObject) {
  QmpClient c(Opts(server_));
  EXPECT_EQ(c.Execute("echo", json::array({1})).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(QmpClientTest, ErrorRepliesMapToStatusAndKeepTheConnection) {
  server_.Handle("fail", [](const json&) {
    FakeReply r;
    r.error_class = "GenericError";
    r.error_desc = "node 9 does not exist";
    return r;
  });
  server_.Handle("nodev", [](const json&) {
    FakeReply r;
    r.error_class = "DeviceNotFound";
    r.error_desc = "Device 'hb9' not found";
    return r;
  });
  QmpClient c(Opts(server_));
  absl::Status s = c.Execute("fail").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("GenericError"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("node 9 does not exist"));
  EXPECT_EQ(c.Execute("nodev").status().code(), absl::StatusCode::kNotFound);
  s = c.Execute("no-such-command").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(s.message()), HasSubstr("CommandNotFound"));
  EXPECT_TRUE(c.connected());
  ExpectRecovers(c);
  EXPECT_EQ(server_.accepted(), 1);
}

TEST_F(QmpClientTest, EventsBeforeTheReplyAreQueuedInOrder) {
  server_.Handle("with-events", [](const json&) {
    FakeReply r = Return({{"ok", true}});
    r.before = {EventLine("A", 0), EventLine("B", 1)};
    return r;
  });
  QmpClient c(Opts(server_));
  absl::StatusOr<json> r = c.Execute("with-events");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)["ok"], true);
  std::vector<QmpEvent> ev = c.TakeEvents();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].name, "A");
  EXPECT_EQ(ev[1].name, "B");
  EXPECT_EQ(ev[1].data["node"], 1);
  EXPECT_EQ(ev[0].seconds, 5);
  EXPECT_EQ(ev[0].microseconds, 6);
  EXPECT_TRUE(c.TakeEvents().empty());
}

TEST_F(QmpClientTest, PollEventsReadsEventsBetweenCommands) {
  QmpClient c(Opts(server_));
  ASSERT_TRUE(c.Connect().ok());
  ASSERT_TRUE(server_.WaitForClient(1000));
  server_.SendEvent("__org.tiervm_HBALLOON_CHANGE", {{"node", 0}});
  server_.SendEvent("SHUTDOWN", json::object());
  std::vector<QmpEvent> ev;
  for (int i = 0; i < 50 && ev.size() < 2; ++i) {
    ASSERT_TRUE(c.PollEvents(20).ok());
    for (QmpEvent& e : c.TakeEvents()) ev.push_back(std::move(e));
  }
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].name, "__org.tiervm_HBALLOON_CHANGE");
  EXPECT_EQ(ev[1].name, "SHUTDOWN");
  // Nothing pending: returns OK after the timeout.
  EXPECT_TRUE(c.PollEvents(0).ok());
  ExpectRecovers(c);
}

TEST_F(QmpClientTest, EventQueueIsBounded) {
  server_.Handle("flood", [](const json&) {
    FakeReply r;
    for (int i = 0; i < 5; ++i) r.before.push_back(EventLine("E", i));
    return r;
  });
  QmpClientOptions o = Opts(server_);
  o.max_pending_events = 2;
  QmpClient c(o);
  ASSERT_TRUE(c.Execute("flood").ok());
  std::vector<QmpEvent> ev = c.TakeEvents();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].data["node"], 3);  // oldest dropped first
  EXPECT_EQ(ev[1].data["node"], 4);
  EXPECT_EQ(c.dropped_events(), 3u);
}

TEST_F(QmpClientTest, PartialLinesAreReassembled) {
  server_.Handle("slow-bytes", [](const json&) {
    FakeReply r = Return({{"big", std::string(200, 'x')}});
    r.split = true;
    r.before = {"{\"event\": \"A\", \"da", "ta\": {}}\r\n"};
    return r;
  });
  QmpClient c(Opts(server_));
  absl::StatusOr<json> r = c.Execute("slow-bytes");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)["big"], std::string(200, 'x'));
  EXPECT_EQ(c.TakeEvents().size(), 1u);
}

TEST_F(QmpClientTest, TimeoutClosesAndNextCallReconnects) {
  server_.Handle("slow", [](const json&) {
    FakeReply r;
    r.delay_ms = 400;
    return r;
  });
  QmpClient c(Opts(server_));
  ASSERT_TRUE(c.Connect().ok());
  const auto t0 = std::chrono::steady_clock::now();
  absl::Status s = c.Execute("slow", json(), /*timeout_ms=*/50).status();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - t0)
                      .count();
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_GE(ms, 45);
  EXPECT_LT(ms, 350);
  EXPECT_FALSE(c.connected());
  // The late reply went to the old connection; the new one is clean.
  ExpectRecovers(c);
  EXPECT_EQ(c.connects(), 2u);
  EXPECT_EQ(server_.accepted(), 2);
}

TEST_F(QmpClientTest, NoReplyTimesOut) {
  server_.Handle("silent", [](const json&) {
    FakeReply r;
    r.no_reply = true;
    return r;
  });
  QmpClient c(Opts(server_));
  EXPECT_EQ(c.Execute("silent", json(), 30).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  ExpectRecovers(c);
}

TEST_F(QmpClientTest, ReconnectsAfterTheServerDropsTheConnection) {
  QmpClient c(Opts(server_));
  ASSERT_TRUE(c.Connect().ok());
  ASSERT_TRUE(server_.WaitForClient(1000));
  server_.DropConnection();
  // The in-flight call sees the drop...
  absl::Status s = c.Execute("query-status").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_FALSE(c.connected());
  // ...the next one reconnects.  Commands are never re-sent on their own.
  ExpectRecovers(c);
  EXPECT_EQ(c.connects(), 2u);
}

TEST_F(QmpClientTest, DropMidCommandIsUnavailable) {
  server_.Handle("crash", [](const json&) {
    FakeReply r;
    r.no_reply = true;
    r.drop_after = true;
    return r;
  });
  QmpClient c(Opts(server_));
  EXPECT_EQ(c.Execute("crash").status().code(), absl::StatusCode::kUnavailable);
  ExpectRecovers(c);
}

TEST_F(QmpClientTest, NoReconnectWhenDisabled) {
  QmpClientOptions o = Opts(server_);
  o.auto_reconnect = false;
  QmpClient c(o);
  ASSERT_TRUE(c.Connect().ok());
  ASSERT_TRUE(server_.WaitForClient(1000));
  server_.DropConnection();
  EXPECT_FALSE(c.Execute("query-status").ok());
  EXPECT_EQ(c.Execute("query-status").status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(server_.accepted(), 1);
}

TEST_F(QmpClientTest, ServerGone) {
  QmpClient c(Opts(server_));
  ASSERT_TRUE(c.Connect().ok());
  ASSERT_TRUE(server_.WaitForClient(1000));
  server_.StopListening();
  server_.DropConnection();
  EXPECT_EQ(c.Execute("query-status").status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(c.Execute("query-status").status().code(),
            absl::StatusCode::kUnavailable);  // connect: ENOENT
}

TEST(QmpClientConnectTest, BadPaths) {
  QmpClientOptions o;
  o.socket_path = "/nonexistent/tiervm/qmp.sock";
  QmpClient c(o);
  EXPECT_EQ(c.Connect().code(), absl::StatusCode::kUnavailable);
  o.socket_path = std::string(200, 'x');
  QmpClient c2(o);
  EXPECT_EQ(c2.Connect().code(), absl::StatusCode::kInvalidArgument);
  o.socket_path = "";
  QmpClient c3(o);
  EXPECT_EQ(c3.Execute("x").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(QmpClientConnectTest, MalformedGreetings) {
  for (const std::string& g :
       {std::string("not json"), std::string("[1,2]"),
        std::string(R"({"return": {}})"), std::string(R"({"QMP": 7})")}) {
    FakeQmpServer server;
    server.SetGreeting(g);
    QmpClientOptions o;
    o.socket_path = server.socket_path();
    QmpClient c(o);
    absl::Status s = c.Connect();
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << g << ": " << s;
    EXPECT_FALSE(c.connected());
  }
}

TEST(QmpClientConnectTest, NoGreetingTimesOut) {
  FakeQmpServer server;
  server.SetGreeting("");  // the fake sends a bare CRLF, i.e. nothing
  QmpClientOptions o;
  o.socket_path = server.socket_path();
  o.connect_timeout_ms = 50;
  QmpClient c(o);
  EXPECT_EQ(c.Connect().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(QmpClientConnectTest, CapabilitiesRefused) {
  FakeQmpServer server;
  FakeReply r;
  r.error_class = "GenericError";
  r.error_desc = "no";
  server.SetCapabilitiesReply(r);
  QmpClientOptions o;
  o.socket_path = server.socket_path();
  QmpClient c(o);
  absl::Status s = c.Connect();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("capabilities"));
  EXPECT_FALSE(c.connected());
}

struct MalformedCase {
  const char* name;
  FakeReply reply;
};

class QmpMalformedTest : public QmpClientTest,
                         public ::testing::WithParamInterface<int> {};

std::vector<MalformedCase> MalformedCases() {
  std::vector<MalformedCase> v;
  v.push_back({"not-json", Raw("this is not json\r\n")});
  v.push_back({"not-object", Raw("[1, 2, 3]\r\n")});
  v.push_back({"string", Raw("\"return\"\r\n")});
  v.push_back({"no-return-or-error", Raw(R"({"id": "tiervm-2"})" "\r\n")});
  v.push_back({"both", Raw(R"({"return": {}, "error": {"class": "X"}, "id": "tiervm-2"})" "\r\n")});
  v.push_back({"error-not-object", Raw(R"({"error": "bad", "id": "tiervm-2"})" "\r\n")});
  v.push_back({"error-no-class", Raw(R"({"error": {"desc": "x"}, "id": "tiervm-2"})" "\r\n")});
  v.push_back({"truncated", Raw(R"({"return": {"a": )" "\r\n")});
  v.push_back({"nul-byte", Raw(std::string("{\"return\": {}\0}\r\n", 17))});
  v.push_back({"bad-utf8", Raw("{\"return\": \"\xff\xfe\", \"id\": \"tiervm-2\"}\r\n")});
  {
    FakeReply r;
    r.id_override = json("tiervm-999");
    v.push_back({"wrong-id", r});
  }
  {
    FakeReply r;
    r.id_override = json();
    v.push_back({"missing-id", r});
  }
  {
    FakeReply r;
    r.id_override = json(2);
    v.push_back({"id-wrong-type", r});
  }
  {
    FakeReply r;
    r.before = {"garbage before the reply\r\n"};
    v.push_back({"garbage-first", r});
  }
  {
    FakeReply r;
    r.before = {R"({"event": 5, "data": {}})" "\r\n"};
    v.push_back({"event-name-not-string", r});
  }
  {
    FakeReply r;
    r.before = {R"({"event": "X", "data": [1]})" "\r\n"};
    v.push_back({"event-data-not-object", r});
  }
  {
    FakeReply r;
    r.before = {R"({"QMP": {"version": {}}})" "\r\n"};
    v.push_back({"greeting-again", r});
  }
  v.push_back({"huge-line", Raw(std::string(70000, 'a') + "\r\n")});
  v.push_back({"huge-no-newline", Raw(std::string(70000, ' '))});
  v.push_back({"huge-valid-json",
               Raw(json{{"return", std::string(70000, 'x')}, {"id", "tiervm-2"}}
                       .dump() +
                   "\r\n")});
  v.push_back({"deep-nesting", Raw(std::string(5000, '[') +
                                   std::string(5000, ']') + "\r\n")});
  return v;
}

TEST_P(QmpMalformedTest, IsDataLossAndRecovers) {
  const MalformedCase mc = MalformedCases()[GetParam()];
  server_.Handle("bad", [mc](const json&) { return mc.reply; });
  QmpClientOptions o = Opts(server_);
  o.max_line_bytes = 65536;
  QmpClient c(o);
  ASSERT_TRUE(c.Connect().ok());  // ids: tiervm-1 is qmp_capabilities
  absl::Status s = c.Execute("bad", json(), 1000).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << mc.name << ": " << s;
  EXPECT_FALSE(s.message().empty());
  EXPECT_FALSE(c.connected()) << mc.name;
  ExpectRecovers(c);
}

INSTANTIATE_TEST_SUITE_P(All, QmpMalformedTest,
                         ::testing::Range(0, static_cast<int>(MalformedCases().size())),
                         [](const ::testing::TestParamInfo<int>& info) {
                           std::string n = MalformedCases()[info.param].name;
                           for (char& ch : n) {
                             if (ch == '-') ch = '_';
                           }
                           return n;
                         });

TEST(ParseQmpMessageTest, Kinds) {
  absl::StatusOr<QmpMessage> m = ParseQmpMessage(R"({"return": 5, "id": 1})", 100);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->kind, QmpMessageKind::kReturn);
  EXPECT_EQ(m->value, 5);
  EXPECT_EQ(m->id, 1);
  m = ParseQmpMessage(R"({"error": {"class": "C", "desc": "d"}})", 100);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->kind, QmpMessageKind::kError);
  EXPECT_EQ(m->error_class, "C");
  EXPECT_TRUE(m->id.is_null());
  m = ParseQmpMessage(R"({"event": "E"})", 100);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->kind, QmpMessageKind::kEvent);
  EXPECT_EQ(m->value, json::object());
  EXPECT_EQ(m->seconds, -1);
  // Unknown members are ignored.
  m = ParseQmpMessage(R"({"return": {}, "x-new": 1})", 100);
  EXPECT_TRUE(m.ok());
  // Bound.
  EXPECT_EQ(ParseQmpMessage(R"({"return": {}})", 5).status().code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace tiervm::agent::qmp
