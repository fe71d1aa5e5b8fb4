// LibvirtVmSource with an injected LibvirtApi, the tiering metadata parse,
// and the real libvirt API against libvirt's built-in test driver
// (test:///default: no daemon needed; it has no QEMU monitor, so
// MonitorCommand must fail cleanly there).
#include "adapters/libvirt/libvirt_vm_source.h"

#include <libvirt/libvirt.h>

#include "adapters/libvirt/tiering_metadata.h"
#include "fake_qmp_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tiervm::agent {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

class FakeLibvirt final : public LibvirtApi {
 public:
  std::vector<std::string> running;
  std::map<std::string, std::string> metadata;
  std::vector<std::string> sent;
  std::string reply;
  absl::Status list_error;
  int metadata_reads = 0;

  absl::StatusOr<std::vector<std::string>> ListRunning() override {
    if (!list_error.ok()) return list_error;
    return running;
  }
  absl::StatusOr<std::string> MonitorCommand(const std::string& domain,
                                             const std::string& cmd) override {
    sent.push_back(domain + " " + cmd);
    return reply;
  }
  absl::StatusOr<std::optional<std::string>> GetTieringMetadata(
      const std::string& domain) override {
    ++metadata_reads;
    auto it = metadata.find(domain);
    if (it == metadata.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  std::string uri() const override { return "fake:///"; }
  std::optional<int> QemuPid(const std::string& domain) override {
    auto it = pids.find(domain);
    if (it == pids.end()) return std::nullopt;
    return it->second;
  }
  std::map<std::string, int> pids;
};

TEST(PidFileTest, Parses) {
  EXPECT_EQ(ParsePidFile("1234\n"), 1234);
  EXPECT_EQ(ParsePidFile(" 7 "), 7);
  EXPECT_EQ(ParsePidFile(""), std::nullopt);
  EXPECT_EQ(ParsePidFile("0\n"), std::nullopt);
  EXPECT_EQ(ParsePidFile("-5\n"), std::nullopt);
  EXPECT_EQ(ParsePidFile("12 34\n"), std::nullopt);
  EXPECT_EQ(ParsePidFile("99999999999999999999"), std::nullopt);
  EXPECT_EQ(ParsePidFile("qemu"), std::nullopt);
}

constexpr char kMeta[] =
    R"(<tiervm:tiering xmlns:tiervm="http://tiervm.org/xmlns/libvirt/1.0">
         <tiervm:fmem min="512" max="2048" unit="MiB"/>
         <tiervm:weight> 4 </tiervm:weight>
         <tiervm:smem node="3"/>
       </tiervm:tiering>)";

TEST(TieringMetadataTest, Parses) {
  absl::StatusOr<VmSettings> s = ParseTieringMetadata(kMeta);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->min_fmem_bytes, 512 * kMiB);
  EXPECT_EQ(s->max_fmem_bytes, 2 * kGiB);
  EXPECT_EQ(s->weight, 4u);
  // Default unit KiB; missing members stay unset; other prefixes work.
  s = ParseTieringMetadata(
      R"(<t:tiering xmlns:t="http://tiervm.org/xmlns/libvirt/1.0"><t:fmem max="1024"/></t:tiering>)");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->max_fmem_bytes, 1 * kMiB);
  EXPECT_FALSE(s->min_fmem_bytes.has_value());
  EXPECT_FALSE(s->weight.has_value());
  // As virDomainGetMetadata returns it: no namespace.  Elements of other
  // namespaces are ignored.
  s = ParseTieringMetadata(
      R"(<tiering xmlns:o="http://other/"><fmem min="2" unit="GiB"/><o:weight>7</o:weight></tiering>)");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->min_fmem_bytes, 2 * kGiB);
  EXPECT_FALSE(s->weight.has_value());
}

TEST(TieringMetadataTest, Rejects) {
  const std::pair<std::string, const char*> cases[] = {
      {"<oops", "not well-formed"},
      {R"(<tiervm><fmem min="1"/></tiervm>)", "root is not <tiering>"},
      {R"(<t:tiering xmlns:t="http://other/"/>)", "root is not <tiering>"},
      {R"(<t:tiering xmlns:t="http://tiervm.org/xmlns/libvirt/1.0"><t:fmem min="x"/></t:tiering>)",
       "tiervm:fmem@min"},
      {R"(<t:tiering xmlns:t="http://tiervm.org/xmlns/libvirt/1.0"><t:fmem max="1" unit="parsec"/></t:tiering>)",
       "unknown unit"},
      {R"(<t:tiering xmlns:t="http://tiervm.org/xmlns/libvirt/1.0"><t:fmem max="99999999999999999" unit="TiB"/></t:tiering>)",
       "too large"},
      {R"(<t:tiering xmlns:t="http://tiervm.org/xmlns/libvirt/1.0"><t:weight>0</t:weight></t:tiering>)",
       "tiervm:weight"},
      {R"(<t:tiering xmlns:t="http://tiervm.org/xmlns/libvirt/1.0"><t:fmem min="2" max="1"/></t:tiering>)",
       "min above max"},
  };
  for (const auto& [xml, want] : cases) {
    absl::StatusOr<VmSettings> s = ParseTieringMetadata(xml);
    ASSERT_FALSE(s.ok()) << xml;
    EXPECT_THAT(std::string(s.status().message()), HasSubstr(want)) << xml;
  }
}

TEST(LibvirtVmSourceTest, DiscoversDomainsAndRunsCommands) {
  auto api = std::make_unique<FakeLibvirt>();
  FakeLibvirt* fake = api.get();
  fake->running = {"web", "db", "bad name!"};
  fake->metadata["db"] = kMeta;
  LibvirtVmSource src(std::move(api));
  ASSERT_TRUE(src.Refresh().ok());
  std::vector<VmEntry> vms = src.Vms();
  ASSERT_EQ(vms.size(), 2u);  // "bad name!" cannot be an id
  EXPECT_EQ(vms[0].id, "db");
  EXPECT_EQ(vms[0].settings.weight, 4u);
  EXPECT_EQ(vms[1].id, "web");
  EXPECT_EQ(vms[1].settings, VmSettings{});
  EXPECT_EQ(src.Describe(), "libvirt:fake:///");

  // Commands go through the monitor as full QMP objects; replies are
  // validated like a socket's.
  fake->reply = json{{"return", tiervm::testing::SampleHballoonInfo()}, {"id", "libvirt-9"}}.dump();
  absl::StatusOr<std::vector<qmp::HballoonInfo>> info = QueryHballoon(*vms[0].monitor, 1000);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ((*info)[0].nodes[0].size_bytes, kGiB);
  EXPECT_EQ(json::parse(fake->sent.back().substr(3)),
            (json{{"execute", "__org.tiervm_query-hballoon"}}));
  fake->reply = R"({"return":{},"id":"libvirt-10"})";
  ASSERT_TRUE(SetHballoonTarget(*vms[0].monitor, "hb0", 0, 4096, 1000).ok());
  EXPECT_EQ(json::parse(fake->sent.back().substr(3))["arguments"],
            (json{{"id", "hb0"}, {"node", 0}, {"target", 4096}}));
  fake->reply = R"({"error":{"class":"DeviceNotFound","desc":"no hb0"}})";
  EXPECT_EQ(SetHballoonTarget(*vms[0].monitor, "hb0", 0, 4096, 1000).code(),
            absl::StatusCode::kNotFound);
  fake->reply = "garbage";
  EXPECT_EQ(QueryHballoon(*vms[0].monitor, 1000).status().code(),
            absl::StatusCode::kDataLoss);
  fake->reply = R"({"event":"X","data":{},"timestamp":{"seconds":1,"microseconds":2}})";
  EXPECT_FALSE(QueryHballoon(*vms[0].monitor, 1000).ok());

  // Metadata is read once per domain, again at the next Refresh after a
  // hook announces it -- never from inside the hook's request (libvirt
  // holds the domain while the hook waits for the agent's answer).
  const int reads = fake->metadata_reads;
  ASSERT_TRUE(src.Refresh().ok());
  EXPECT_EQ(fake->metadata_reads, reads);
  fake->metadata["db"] =
      R"(<t:tiering xmlns:t="http://tiervm.org/xmlns/libvirt/1.0"><t:weight>9</t:weight></t:tiering>)";
  const size_t sent = fake->sent.size();
  ASSERT_TRUE(src.NotifyStarted("db", "").ok());
  EXPECT_EQ(fake->metadata_reads, reads);
  EXPECT_EQ(fake->sent.size(), sent);
  EXPECT_EQ(src.Vms()[0].settings.weight, 4u);
  ASSERT_TRUE(src.Refresh().ok());
  EXPECT_EQ(src.Vms()[0].settings.weight, 9u);
  EXPECT_FALSE(src.NotifyStarted("bad name", "").ok());

  // The QEMU pid, when the API knows it, is the monitor's process id.
  fake->pids["db"] = 4321;
  EXPECT_EQ(vms[0].monitor->ProcessId(), 4321);
  EXPECT_EQ(vms[1].monitor->ProcessId(), std::nullopt);

  // Bad metadata: the VM is still managed, with defaults and an error.
  fake->metadata["web"] = "<broken";
  src.NotifyStopped("web");
  ASSERT_TRUE(src.Refresh().ok());
  EXPECT_FALSE(src.MetadataStatus("web").ok());

  // A stopped domain disappears; a failed listing keeps the last list.
  fake->running = {"db"};
  ASSERT_TRUE(src.Refresh().ok());
  EXPECT_EQ(src.Vms().size(), 1u);
  fake->list_error = absl::UnavailableError("libvirtd gone");
  EXPECT_FALSE(src.Refresh().ok());
  EXPECT_EQ(src.Vms().size(), 1u);
}

TEST(RealLibvirtApiTest, TestDriver) {
  std::unique_ptr<LibvirtApi> api = MakeRealLibvirtApi("test:///default");
  absl::StatusOr<std::vector<std::string>> names = api->ListRunning();
  ASSERT_TRUE(names.ok()) << names.status();
  ASSERT_THAT(*names, ::testing::Contains("test"));
  absl::StatusOr<std::optional<std::string>> md = api->GetTieringMetadata("test");
  ASSERT_TRUE(md.ok()) << md.status();
  EXPECT_FALSE(md->has_value());
  // Write our metadata with libvirt itself (test:///default shares its state
  // within the process), read it back through the adapter.
  virConnectPtr c = virConnectOpen("test:///default");
  ASSERT_NE(c, nullptr);
  virDomainPtr d = virDomainLookupByName(c, "test");
  ASSERT_NE(d, nullptr);
  ASSERT_EQ(virDomainSetMetadata(d, VIR_DOMAIN_METADATA_ELEMENT,
                                 "<tiering><fmem min=\"1\" max=\"2\" unit=\"GiB\"/>"
                                 "<weight>3</weight></tiering>",
                                 "tiervm", "http://tiervm.org/xmlns/libvirt/1.0",
                                 VIR_DOMAIN_AFFECT_CURRENT),
            0);
  md = api->GetTieringMetadata("test");
  ASSERT_TRUE(md.ok()) << md.status();
  ASSERT_TRUE(md->has_value());
  absl::StatusOr<VmSettings> s = ParseTieringMetadata(**md);
  ASSERT_TRUE(s.ok()) << s.status() << "\n" << **md;
  EXPECT_EQ(s->min_fmem_bytes, 1 * kGiB);
  EXPECT_EQ(s->max_fmem_bytes, 2 * kGiB);
  EXPECT_EQ(s->weight, 3u);
  virDomainFree(d);
  virConnectClose(c);
  // Only qemu:///system has a pidfile to read.
  EXPECT_EQ(api->QemuPid("test"), std::nullopt);
  // No QEMU behind the test driver: a clear error, not a crash.
  absl::StatusOr<std::string> r = api->MonitorCommand("test", R"({"execute":"query-status"})");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(api->GetTieringMetadata("nosuch").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(api->uri(), "test:///default");
  // An unreachable URI is Unavailable.
  EXPECT_EQ(MakeRealLibvirtApi("qemu+unix:///system?socket=/nonexistent")->ListRunning()
                .status().code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace tiervm::agent
