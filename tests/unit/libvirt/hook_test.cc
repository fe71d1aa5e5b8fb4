// The qemu hook: every libvirt operation with the domain XML on stdin,
// exit codes as libvirt expects, prepare-time checks against a fake sysfs,
// and agent notification against an in-test unix socket server (present,
// missing, refusing, silent, slow).
#include "hook/hook.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <sstream>
#include <thread>

#include "converter/xml_command.h"
#include "test_util.h"

namespace tiervm::libvirt {
namespace {

using testing::MakeFakeSysfs;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

// A line-per-connection agent: reads one request line, waits `delay`,
// answers `reply` (nothing when empty).
class FakeAgent {
 public:
  FakeAgent(std::string path, std::string reply, std::chrono::milliseconds delay = {})
      : path_(std::move(path)), reply_(std::move(reply)), delay_(delay) {
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", path_.c_str());
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    EXPECT_EQ(listen(fd_, 8), 0);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeAgent() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    thread_.join();
    close(fd_);
    unlink(path_.c_str());
  }
  std::vector<nlohmann::json> requests() {
    std::lock_guard<std::mutex> l(mu_);
    return requests_;
  }

 private:
  void Serve() {
    while (!stop_) {
      const int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string line;
      char ch;
      while (read(c, &ch, 1) == 1 && ch != '\n') line.push_back(ch);
      {
        std::lock_guard<std::mutex> l(mu_);
        requests_.push_back(nlohmann::json::parse(line, nullptr, false));
      }
      std::this_thread::sleep_for(delay_);
      if (!reply_.empty()) {
        const std::string r = reply_ + "\n";
        (void)!send(c, r.data(), r.size(), MSG_NOSIGNAL);
      }
      close(c);
    }
  }

  std::string path_, reply_;
  std::chrono::milliseconds delay_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<nlohmann::json> requests_;
};

class HookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MakeFakeSysfs(dir_ / "sys", {{0, 8192}, {1, 4096}});
    options_.sysfs_root = dir_ / "sys";
    options_.agent_socket = dir_ / "agent.sock";
    options_.agent_timeout_ms = 2000;
    tiered_ = Convert({"--fmem-min", "512", "--fmem-max", "1G", "--smem", "1G",
                       "--fmem-host-nodes", "0", "--smem-host-nodes", "1", "--weight", "150"});
  }

  std::string Convert(std::vector<std::string> args) {
    WriteFile(dir_ / "plain.xml",
              ReadFile(std::string(TIERVM_LIBVIRT_CORPUS_DIR) + "/i440fx_minimal.xml"));
    args.insert(args.end(), {"--sysfs-root", dir_ / "sys", dir_ / "plain.xml"});
    std::ostringstream out, err;
    EXPECT_EQ(RunXmlCommand(args, out, err), 0) << err.str();
    return out.str();
  }

  int Hook(const std::string& op, const std::string& xml, std::string* err_out = nullptr) {
    std::ostringstream err;
    const int rc = RunHook({"legacy", op, op == "release" || op == "stopped" ? "end" : "begin",
                            "-"},
                           xml, options_, err);
    if (err_out) *err_out = err.str();
    return rc;
  }

  TempDir dir_;
  HookOptions options_;
  std::string tiered_;
};

TEST_F(HookTest, PrepareAcceptsAConvertedDomain) {
  std::string err;
  EXPECT_EQ(Hook("prepare", tiered_, &err), 0) << err;
  EXPECT_EQ(err, "");
}

TEST_F(HookTest, PrepareRefusesMissingHostNode) {
  MakeFakeSysfs(dir_ / "small", {{0, 8192}});
  options_.sysfs_root = dir_ / "small";
  std::string err;
  EXPECT_EQ(Hook("prepare", tiered_, &err), 1);
  EXPECT_NE(err.find("tiervm: domain 'legacy' refused: <tiervm:host-nodes smem=...>: host NUMA "
                     "node 1 does not exist"),
            std::string::npos)
      << err;
}

TEST_F(HookTest, PrepareRefusesSizesThatDoNotFit) {
  MakeFakeSysfs(dir_ / "tiny", {{0, 8192}, {1, 512}});
  options_.sysfs_root = dir_ / "tiny";
  std::string err;
  EXPECT_EQ(Hook("prepare", tiered_, &err), 1);
  EXPECT_NE(err.find("<tiervm:smem size>: 1024 MiB does not fit host nodes 1 (MemTotal 512 MiB)"),
            std::string::npos)
      << err;
}

TEST_F(HookTest, PrepareRefusesADomainEditedAfterConversion) {
  std::string edited = tiered_;
  const std::string arg = "<qemu:arg value=\"virtio-hballoon-pci,id=hb0\"/>";
  edited.replace(edited.find(arg), arg.size(), "");
  std::string err;
  EXPECT_EQ(Hook("prepare", edited, &err), 1);
  EXPECT_NE(err.find("not a complete tiered domain (added -device virtio-hballoon-pci,id=hb0"),
            std::string::npos)
      << err;
  // A cell resized by hand contradicts the metadata.
  edited = tiered_;
  const std::string cell = "<cell id=\"1\" memory=\"1048576\"";
  ASSERT_NE(edited.find(cell), std::string::npos) << edited;
  edited.replace(edited.find(cell), cell.size(), "<cell id=\"1\" memory=\"2097152\"");
  EXPECT_EQ(Hook("prepare", edited, &err), 1);
  EXPECT_NE(err.find("<cpu><numa><cell id='1'>: memory 2048 MiB disagrees with SMEM size 1024 MiB"),
            std::string::npos)
      << err;
}

TEST_F(HookTest, PrepareRefusesBrokenMetadata) {
  std::string bad = tiered_;
  bad.replace(bad.find("<tiervm:weight>150"), 18, "<tiervm:weight>0");
  std::string err;
  EXPECT_EQ(Hook("prepare", bad, &err), 1);
  EXPECT_NE(err.find("<tiervm:weight>: '0' is not an integer"), std::string::npos) << err;
}

TEST_F(HookTest, DomainsWithoutMetadataAreIgnored) {
  FakeAgent agent(options_.agent_socket, R"({"ok":true})");
  const std::string plain = ReadFile(std::string(TIERVM_LIBVIRT_CORPUS_DIR) + "/q35_virt_install.xml");
  for (const char* op : {"prepare", "start", "started", "stopped", "release", "migrate",
                         "restore", "reconnect", "attach"}) {
    std::string err;
    EXPECT_EQ(Hook(op, plain, &err), 0) << op;
    EXPECT_EQ(err, "") << op;
  }
  EXPECT_TRUE(agent.requests().empty());
}

TEST_F(HookTest, OtherOperationsDoNothing) {
  FakeAgent agent(options_.agent_socket, R"({"ok":true})");
  for (const char* op : {"start", "migrate", "restore", "reconnect", "attach", "future-op"}) {
    std::string err;
    // Even unparsable XML: these operations do not look at it.
    EXPECT_EQ(Hook(op, "<not xml", &err), 0) << op;
    EXPECT_EQ(Hook(op, tiered_, &err), 0) << op;
    EXPECT_EQ(err, "") << op;
  }
  EXPECT_TRUE(agent.requests().empty());
}

TEST_F(HookTest, LifecycleEventsReachTheAgent) {
  FakeAgent agent(options_.agent_socket, R"({"ok":true})");
  for (const char* op : {"started", "stopped", "release"}) {
    std::string err;
    EXPECT_EQ(Hook(op, tiered_, &err), 0);
    EXPECT_EQ(err, "") << op;
  }
  const auto reqs = agent.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0], nlohmann::json::parse(
                         R"({"cmd":"vm-event","vm":"legacy","event":"started",
                             "min_fmem_bytes":536870912,"max_fmem_bytes":1073741824,
                             "weight":150})"));
  EXPECT_EQ(reqs[1], nlohmann::json::parse(R"({"cmd":"vm-event","vm":"legacy","event":"stopped"})"));
  EXPECT_EQ(reqs[2], nlohmann::json::parse(R"({"cmd":"vm-event","vm":"legacy","event":"release"})"));
}

TEST_F(HookTest, MissingAgentIsAWarning) {
  std::string err;
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(Hook("started", tiered_, &err), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(500));
  EXPECT_NE(err.find("warning: domain 'legacy' started: agent not notified: agent not running"),
            std::string::npos)
      << err;
}

TEST_F(HookTest, RefusingAgentIsAWarning) {
  FakeAgent agent(options_.agent_socket, R"({"ok":false,"error":"unknown vm"})");
  std::string err;
  EXPECT_EQ(Hook("stopped", tiered_, &err), 0);
  EXPECT_NE(err.find("agent refused: unknown vm"), std::string::npos) << err;
  FakeAgent garbage(dir_ / "g.sock", "not json");
  options_.agent_socket = dir_ / "g.sock";
  EXPECT_EQ(Hook("stopped", tiered_, &err), 0);
  EXPECT_NE(err.find("agent refused: unreadable reply"), std::string::npos) << err;
}

TEST_F(HookTest, SilentOrSlowAgentIsBoundedByTheTimeout) {
  options_.agent_timeout_ms = 300;
  {
    // Answers after 1.5 s: the hook gives up after 0.3 s.
    FakeAgent slow(dir_ / "slow.sock", R"({"ok":true})", std::chrono::milliseconds(1500));
    options_.agent_socket = dir_ / "slow.sock";
    std::string err;
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(Hook("started", tiered_, &err), 0);
    const auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_GE(took, std::chrono::milliseconds(280));
    EXPECT_LT(took, std::chrono::milliseconds(1000));
    EXPECT_NE(err.find("agent did not answer in time (reply)"), std::string::npos) << err;
  }
}

TEST_F(HookTest, AgentClosingWithoutReplyIsAWarning) {
  FakeAgent closes(options_.agent_socket, "");
  std::string err;
  EXPECT_EQ(Hook("release", tiered_, &err), 0);
  EXPECT_NE(err.find("closed the connection without a reply"), std::string::npos) << err;
}

// Issue 13, defect 10: XML the hook cannot read blocks no untiered domain,
// and a tiered one is never let through unchecked.
TEST_F(HookTest, UnreadableXmlRefusesOnlyTieredDomains) {
  const std::string plain =
      ReadFile(std::string(TIERVM_LIBVIRT_CORPUS_DIR) + "/q35_virt_install.xml");
  std::string err;
  EXPECT_EQ(Hook("prepare", plain.substr(0, plain.size() / 2), &err), 0);
  EXPECT_NE(err.find("warning: domain 'legacy' prepare: malformed XML"), std::string::npos) << err;
  EXPECT_NE(err.find("no TierVM metadata seen"), std::string::npos) << err;
  EXPECT_EQ(Hook("prepare", "<domain><metadata/><metadata/></domain>", &err), 0) << err;
  const std::string cut = tiered_.substr(0, tiered_.find("</metadata>") + 11);
  EXPECT_EQ(Hook("prepare", cut, &err), 1);
  EXPECT_NE(err.find("refused: malformed XML"), std::string::npos) << err;
  EXPECT_EQ(Hook("stopped", cut, &err), 0);
}

TEST_F(HookTest, DoctypesAreRefusedBeforeAnyEntityIsRead) {
  // A converted domain with an internal subset: well-formed, and before
  // the fix it passed prepare.  Entities never get a chance.
  const std::string doctype =
      "<!DOCTYPE domain [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n" + tiered_;
  std::string err;
  EXPECT_EQ(Hook("prepare", doctype, &err), 1);
  EXPECT_NE(err.find("a DOCTYPE is not allowed"), std::string::npos) << err;
  EXPECT_EQ(err.find("root:"), std::string::npos) << err;
  // The same for a domain without metadata: ignored with a warning.
  const std::string plain = "<!DOCTYPE domain [<!ENTITY a \"aaaa\">]><domain><name>&a;</name></domain>";
  EXPECT_EQ(Hook("prepare", plain, &err), 0);
  EXPECT_NE(err.find("a DOCTYPE is not allowed"), std::string::npos) << err;
}

TEST_F(HookTest, OversizedInputIsNotRead) {
  HookInput in;
  in.xml = tiered_;
  in.truncated = true;
  std::ostringstream err;
  EXPECT_EQ(RunHook({"legacy", "prepare", "begin", "-"}, in, options_, err), 1);
  EXPECT_NE(err.str().find("larger than 10485760 bytes; not read"), std::string::npos)
      << err.str();
  in.xml = "<domain><name>x</name>";
  std::ostringstream err2;
  EXPECT_EQ(RunHook({"legacy", "prepare", "begin", "-"}, in, options_, err2), 0);
}

TEST(HookInput, ReadIsBoundedInSizeAndTime) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  const std::string data(5000, 'x');
  ASSERT_EQ(write(p[1], data.data(), data.size()), static_cast<ssize_t>(data.size()));
  HookInput in = ReadBoundedInput(p[0], 4096, 1000);
  EXPECT_TRUE(in.truncated);
  EXPECT_FALSE(in.timed_out);
  EXPECT_EQ(in.xml.size(), 4096u);
  // Exactly at the bound, then EOF: whole.
  close(p[0]);
  close(p[1]);
  ASSERT_EQ(pipe(p), 0);
  ASSERT_EQ(write(p[1], data.data(), 4096), 4096);
  close(p[1]);
  in = ReadBoundedInput(p[0], 4096, 1000);
  EXPECT_FALSE(in.truncated);
  EXPECT_FALSE(in.timed_out);
  EXPECT_EQ(in.xml.size(), 4096u);
  close(p[0]);
  // A writer that never closes: the hook stops waiting.
  ASSERT_EQ(pipe(p), 0);
  ASSERT_EQ(write(p[1], "<dom", 4), 4);
  const auto t0 = std::chrono::steady_clock::now();
  in = ReadBoundedInput(p[0], 4096, 200);
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_TRUE(in.timed_out);
  EXPECT_EQ(in.xml, "<dom");
  EXPECT_GE(took, std::chrono::milliseconds(180));
  EXPECT_LT(took, std::chrono::milliseconds(2000));
  close(p[0]);
  close(p[1]);
}

TEST_F(HookTest, UsageWithoutOperation) {
  std::ostringstream err;
  EXPECT_EQ(RunHook({"only-a-name"}, "", options_, err), 2);
}

TEST(HookConfig, ReadsKeysAndRejectsTypos) {
  TempDir dir;
  HookOptions o;
  EXPECT_TRUE(ReadHookConfig(dir / "missing.conf", &o).ok());
  EXPECT_EQ(o.agent_socket, kDefaultAgentSocket);
  WriteFile(dir / "a.conf",
            "# comment\nagent_socket = \"/tmp/x.sock\"\nagent_timeout_ms=500\n\nsysfs_root=/s\n");
  ASSERT_TRUE(ReadHookConfig(dir / "a.conf", &o).ok());
  EXPECT_EQ(o.agent_socket, "/tmp/x.sock");
  EXPECT_EQ(o.agent_timeout_ms, 500);
  EXPECT_EQ(o.sysfs_root, "/s");
  WriteFile(dir / "b.conf", "agent_sokcet = /x\n");
  EXPECT_FALSE(ReadHookConfig(dir / "b.conf", &o).ok());
  WriteFile(dir / "c.conf", "agent_timeout_ms = 0\n");
  EXPECT_FALSE(ReadHookConfig(dir / "c.conf", &o).ok());
}

TEST(VmEvent, NamesAreEscaped) {
  const std::string l = VmEventLine("a\"b\n\xff", "stopped", std::nullopt, std::nullopt,
                                    std::nullopt);
  EXPECT_EQ(l.find('\n'), std::string::npos);
  const auto j = nlohmann::json::parse(l);
  EXPECT_EQ(j["event"], "stopped");
  EXPECT_FALSE(j.contains("weight"));
}

// The program as libvirt runs it: arguments, XML on stdin, stdout empty.
TEST_F(HookTest, ProgramExitCodesAsLibvirtSeesThem) {
  FakeAgent agent(options_.agent_socket, R"({"ok":true})");
  const std::vector<std::string> env = {"TIERVM_HOOK_CONFIG=/nonexistent",
                                        "TIERVM_SYSFS_ROOT=" + options_.sysfs_root,
                                        "TIERVM_AGENT_SOCKET=" + options_.agent_socket};
  for (const char* op : {"prepare", "start", "started", "stopped", "release", "migrate",
                         "restore", "reconnect", "attach"}) {
    const auto r = testing::Run({TIERVM_HOOK_BIN, "legacy", op, "begin", "-"}, tiered_, env);
    EXPECT_EQ(r.exit_code, 0) << op << ": " << r.err;
    EXPECT_EQ(r.out, "") << op;  // empty stdout = XML unchanged for migrate/restore
  }
  EXPECT_EQ(agent.requests().size(), 3u);
  MakeFakeSysfs(dir_ / "one", {{0, 65536}});
  const auto bad = testing::Run({TIERVM_HOOK_BIN, "legacy", "prepare", "begin", "-"}, tiered_,
                                {"TIERVM_HOOK_CONFIG=/nonexistent",
                                 "TIERVM_SYSFS_ROOT=" + (dir_ / "one")});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("host NUMA node 1 does not exist"), std::string::npos) << bad.err;
  // Missing agent: still success.
  const auto noagent = testing::Run({TIERVM_HOOK_BIN, "legacy", "started", "begin", "-"}, tiered_,
                                    {"TIERVM_HOOK_CONFIG=/nonexistent",
                                     "TIERVM_AGENT_SOCKET=" + (dir_ / "none.sock")});
  EXPECT_EQ(noagent.exit_code, 0);
  EXPECT_NE(noagent.err.find("agent not running"), std::string::npos);
}

}  // namespace
}  // namespace tiervm::libvirt
