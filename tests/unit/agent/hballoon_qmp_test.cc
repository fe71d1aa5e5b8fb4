// Typed virtio-hballoon QMP wrappers: parsing of good and lying replies,
// and the commands as sent to the fake QMP server.
#include "adapters/qmp/hballoon_qmp.h"

#include <linux/virtio_hballoon.h>

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
using tiervm::testing::SampleHballoonInfo;

TEST(HballoonParseTest, SampleReply) {
  absl::StatusOr<std::vector<HballoonInfo>> r =
      ParseQueryHballoon(SampleHballoonInfo());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 1u);
  const HballoonInfo& i = (*r)[0];
  EXPECT_EQ(i.id, "hb0");
  EXPECT_EQ(i.qom_path, "/machine/peripheral/hb0");
  EXPECT_FALSE(i.broken);
  EXPECT_EQ(i.pressure, PressureLevel::kNone);
  ASSERT_EQ(i.nodes.size(), 2u);
  EXPECT_EQ(i.nodes[0].node, 0u);
  EXPECT_EQ(i.nodes[0].tier, HballoonTier::kFmem);
  EXPECT_EQ(i.nodes[0].size_bytes, kGiB);
  EXPECT_EQ(i.nodes[0].target_bytes, 256 * kMiB);
  EXPECT_EQ(i.nodes[0].actual_bytes, 256 * kMiB);
  EXPECT_EQ(i.nodes[0].guest_actual_bytes, 256 * kMiB);
  EXPECT_EQ(i.nodes[0].inflated_pages, 65536u);
  EXPECT_EQ(i.nodes[1].tier, HballoonTier::kSmem);
  EXPECT_EQ(i.discard_calls, 3u);
  EXPECT_EQ(i.discarded_bytes, 256 * kMiB);
  EXPECT_EQ(i.stats.seq, 7u);
  EXPECT_EQ(i.stats.last_update_ms, 1700000000000);
  EXPECT_THAT(i.stats.records,
              ElementsAre(HballoonStatRecord{0, 0, 512 * kMiB}));
}

TEST(HballoonParseTest, PressureValuesMatchTheWireHeader) {
  EXPECT_EQ(static_cast<int>(PressureLevel::kHigh), VIRTIO_HBALLOON_PRESSURE_HIGH);
  EXPECT_EQ(PressureLevelName(PressureLevel::kLow), "low");
}

TEST(HballoonParseTest, ToleratedVariations) {
  json j = SampleHballoonInfo();
  j[0].erase("id");                        // optional
  j[0]["x-future-member"] = {1, 2};        // unknown members ignored
  j[0]["nodes"][0]["guest-actual"] = uint64_t{1} << 44;  // untrusted mirror
  j[0]["pressure"] = "high";
  j[0]["stats"]["records"].push_back({{"tag", 2}, {"node", 65535}, {"value", UINT64_MAX}});
  j.push_back(SampleHballoonInfo()[0]);
  absl::StatusOr<std::vector<HballoonInfo>> r = ParseQueryHballoon(j);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE((*r)[0].id.has_value());
  EXPECT_EQ((*r)[0].pressure, PressureLevel::kHigh);
  EXPECT_EQ((*r)[0].stats.records[1].value, UINT64_MAX);
  EXPECT_EQ(r->size(), 2u);
  EXPECT_TRUE(ParseQueryHballoon(json::array()).ok());
}

struct Lie {
  const char* pointer;  // JSON pointer into the sample; "" = whole reply
  json value;           // null + erase = remove the member
  const char* field;    // expected in the error message
  bool erase = false;
};

class HballoonLieTest : public ::testing::TestWithParam<Lie> {};

TEST_P(HballoonLieTest, RejectedNamingTheField) {
  const Lie& lie = GetParam();
  json j = SampleHballoonInfo();
  if (lie.erase) {
    const json::json_pointer p(lie.pointer);
    j[p.parent_pointer()].erase(p.back());
  } else if (std::string(lie.pointer).empty()) {
    j = lie.value;
  } else {
    j[json::json_pointer(lie.pointer)] = lie.value;
  }
  absl::StatusOr<std::vector<HballoonInfo>> r = ParseQueryHballoon(j);
  ASSERT_FALSE(r.ok()) << lie.pointer;
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr(lie.field))
      << r.status();
}

json NineNodes() {
  json nodes = json::array();
  for (int i = 0; i < 9; ++i) {
    json n = SampleHballoonInfo()[0]["nodes"][1];
    n["node"] = i;
    nodes.push_back(n);
  }
  return nodes;
}

json DupRecords() {
  json r = SampleHballoonInfo()[0]["stats"]["records"];
  r.push_back(r[0]);
  return r;
}

INSTANTIATE_TEST_SUITE_P(
    Lies, HballoonLieTest,
    ::testing::Values(
        Lie{"", json::object(), "reply is not an array"},
        Lie{"", json::array({1}), "hballoon[0]: not an object"},
        Lie{"/0/nodes/0/actual", 1073741824 + 4096, "hballoon[0].nodes[0].actual: 1073745920 exceeds size"},
        Lie{"/0/nodes/0/actual", -1, "nodes[0].actual: negative"},
        Lie{"/0/nodes/0/actual", 1.5, "nodes[0].actual: not a non-negative integer"},
        Lie{"/0/nodes/0/actual", "1", "nodes[0].actual: not a non-negative"},
        Lie{"/0/nodes/0/actual", 4095, "nodes[0].actual: not a multiple of 4 KiB"},
        Lie{"/0/nodes/0/actual", json::parse("1e400", nullptr, false), "nodes[0].actual"},
        Lie{"/0/nodes/0/target", uint64_t{1} << 31, "nodes[0].target"},
        Lie{"/0/nodes/1/size", 0, "nodes[1].size"},
        Lie{"/0/nodes/1/size", 1000, "nodes[1].size"},
        Lie{"/0/nodes/1/node", 0, "nodes[1].node: duplicate node 0"},
        Lie{"/0/nodes/1/node", 8, "nodes[1].node: 8 exceeds the maximum 7"},
        Lie{"/0/nodes/0/tier", "dram", "nodes[0].tier"},
        Lie{"/0/nodes/0/guest-actual", nullptr, "nodes[0].guest-actual: missing", true},
        Lie{"/0/nodes/0/inflated-pages", nullptr, "nodes[0].inflated-pages: missing", true},
        Lie{"/0/nodes/0", "node", "nodes[0]: not an object"},
        Lie{"/0/nodes", json::array(), "hballoon[0].nodes: empty"},
        Lie{"/0/nodes", NineNodes(), "hballoon[0].nodes: 9 entries"},
        Lie{"/0/nodes", json::object(), "hballoon[0].nodes: not an array"},
        Lie{"/0/pressure", "extreme", "hballoon[0].pressure"},
        Lie{"/0/pressure", 2, "hballoon[0].pressure: not a string"},
        Lie{"/0/broken", 0, "hballoon[0].broken: not a boolean"},
        Lie{"/0/qom-path", "", "hballoon[0].qom-path: empty"},
        Lie{"/0/qom-path", nullptr, "hballoon[0].qom-path: missing", true},
        Lie{"/0/id", 7, "hballoon[0].id: not a string"},
        Lie{"/0/discard-calls", -3, "hballoon[0].discard-calls: negative"},
        Lie{"/0/rejected-requests", nullptr, "rejected-requests: missing", true},
        Lie{"/0/stats", json::array(), "hballoon[0].stats: not an object"},
        Lie{"/0/stats/seq", uint64_t{1} << 32, "stats.seq"},
        Lie{"/0/stats/last-update-ms", -5, "stats.last-update-ms: negative"},
        Lie{"/0/stats/records/0/node", 200, "stats.records[0].node: 200 is neither"},
        Lie{"/0/stats/records/0/tag", 70000, "stats.records[0].tag"},
        Lie{"/0/stats/records/0/value", -1, "stats.records[0].value"},
        Lie{"/0/stats/records", DupRecords(), "stats.records[1]: duplicate"},
        Lie{"/0/stats/records", json::object(), "stats.records: not an array"}));

TEST(HballoonParseTest, ChangeEvent) {
  json d = {{"qom-path", "/machine/peripheral/hb0"}, {"node", 1}, {"actual", 8192}};
  absl::StatusOr<HballoonChange> c = ParseHballoonChange(d);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->node, 1u);
  EXPECT_EQ(c->actual_bytes, 8192u);
  d["node"] = 9;
  EXPECT_THAT(std::string(ParseHballoonChange(d).status().message()),
              HasSubstr("HBALLOON_CHANGE.node"));
  d["node"] = 1;
  d["actual"] = 100;
  EXPECT_FALSE(ParseHballoonChange(d).ok());
  EXPECT_FALSE(ParseHballoonChange(json::array()).ok());
}

class HballoonQmpTest : public ::testing::Test {
 protected:
  HballoonQmpTest() {
    opts_.socket_path = server_.socket_path();
    opts_.default_timeout_ms = 2000;
  }
  FakeQmpServer server_;
  QmpClientOptions opts_;
};

TEST_F(HballoonQmpTest, QueryWithInterleavedChangeEvent) {
  server_.Handle(std::string(kQueryHballoonCmd), [](const json&) {
    FakeReply r;
    r.return_value = SampleHballoonInfo();
    r.before = {json{{"event", kHballoonChangeEvent},
                     {"data", {{"qom-path", "/machine/peripheral/hb0"},
                               {"node", 0}, {"actual", 268435456}}},
                     {"timestamp", {{"seconds", 1}, {"microseconds", 2}}}}
                    .dump() +
                "\r\n"};
    return r;
  });
  QmpClient c(opts_);
  absl::StatusOr<std::vector<HballoonInfo>> r = QueryHballoon(c);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)[0].nodes[0].actual_bytes, 256 * kMiB);
  std::vector<QmpEvent> ev = c.TakeEvents();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].name, kHballoonChangeEvent);
  absl::StatusOr<HballoonChange> ch = ParseHballoonChange(ev[0].data);
  ASSERT_TRUE(ch.ok()) << ch.status();
  EXPECT_EQ(ch->actual_bytes, 256 * kMiB);
}

TEST_F(HballoonQmpTest, LyingQueryIsAnError) {
  server_.Handle(std::string(kQueryHballoonCmd), [](const json&) {
    FakeReply r;
    r.return_value = SampleHballoonInfo();
    r.return_value[0]["nodes"][1]["actual"] = uint64_t{1} << 40;
    return r;
  });
  QmpClient c(opts_);
  absl::StatusOr<std::vector<HballoonInfo>> r = QueryHballoon(c);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("hballoon[0].nodes[1].actual"));
  // A well-formed but lying reply does not break the connection.
  EXPECT_TRUE(c.connected());
}

TEST_F(HballoonQmpTest, SetTargetAndPressureSendTheRightArguments) {
  server_.Handle(std::string(kSetTargetCmd), [](const json&) { return FakeReply{}; });
  server_.Handle(std::string(kSetPressureCmd), [](const json&) { return FakeReply{}; });
  QmpClient c(opts_);
  ASSERT_TRUE(SetHballoonTarget(c, "hb0", 1, 512 * kMiB).ok());
  ASSERT_TRUE(SetHballoonPressure(c, "hb0", PressureLevel::kHigh).ok());
  ASSERT_TRUE(SetHballoonPressure(c, "/machine/peripheral/hb0", PressureLevel::kNone).ok());
  EXPECT_THAT(server_.arguments_of(std::string(kSetTargetCmd)),
              ElementsAre(json{{"id", "hb0"}, {"node", 1}, {"target", 536870912}}));
  EXPECT_THAT(server_.arguments_of(std::string(kSetPressureCmd)),
              ElementsAre(json{{"id", "hb0"}, {"level", "high"}},
                          json{{"id", "/machine/peripheral/hb0"}, {"level", "none"}}));
  // Caller errors never reach the wire.
  EXPECT_EQ(SetHballoonTarget(c, "", 0, 0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SetHballoonTarget(c, "hb0", 8, 0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(server_.arguments_of(std::string(kSetTargetCmd)).size(), 1u);
}

TEST_F(HballoonQmpTest, SetTargetErrors) {
  server_.Handle(std::string(kSetTargetCmd), [](const json& args) {
    FakeReply r;
    if (args["node"] == 3) {
      r.error_class = "GenericError";
      r.error_desc = "node 3 does not exist";
    } else {
      r.return_value = {{"unexpected", true}};
    }
    return r;
  });
  QmpClient c(opts_);
  absl::Status s = SetHballoonTarget(c, "hb0", 3, 0);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("node 3 does not exist"));
  s = SetHballoonTarget(c, "hb0", 0, 0);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("return is not {}"));
  // Without the device patch QEMU does not know the command.
  EXPECT_EQ(SetHballoonPressure(c, "hb0", PressureLevel::kLow).code(),
            absl::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace tiervm::agent::qmp
