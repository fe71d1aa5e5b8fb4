// MakeSampleSource: names, "auto" falling back to abit with a log line,
// "auto" choosing PEBS when it opens, replay from a file, bad names and
// missing dependencies.
#include "daemon/adapters/sample_source_factory.h"

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "daemon/adapters/fake_hballoon_dev.h"
#include "fake_perf.h"
#include "gtest/gtest.h"
#include "placement/replay_trace.h"

namespace tiervm::adapters {
namespace {

struct Env {
  FakeHballoonDev dev;
  placement::FakeClock clock;
  testing::FakePerfEventOps ops;
  testing::FakePerfEncoder enc;
  std::vector<std::string> log;
  SampleSourceDeps Deps() {
    SampleSourceDeps d;
    d.clock = &clock;
    d.hballoon = &dev;
    d.perf_ops = &ops;
    d.perf_encoder = &enc;
    d.log = [this](const std::string& l) { log.push_back(l); };
    return d;
  }
};

TEST(SampleSourceFactory, AbitByName) {
  Env e;
  auto made = MakeSampleSource("abit", {}, e.Deps());
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_EQ(made->kind, "abit");
  ASSERT_NE(made->abit, nullptr);
  EXPECT_EQ(made->perf, nullptr);
  EXPECT_EQ(static_cast<placement::SampleSource*>(made->abit), made->source.get());
  ASSERT_EQ(e.log.size(), 1u);
}

TEST(SampleSourceFactory, PebsFailsWithoutPmu) {
  Env e;
  auto made = MakeSampleSource("pebs", {}, e.Deps());
  ASSERT_FALSE(made.ok());
  EXPECT_NE(made.status().message().find("no usable PMU"), absl::string_view::npos);
}

TEST(SampleSourceFactory, AutoFallsBackToAbitWithALogLine) {
  Env e;
  auto made = MakeSampleSource("auto", {}, e.Deps());
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_EQ(made->kind, "abit");
  ASSERT_EQ(e.log.size(), 1u);
  EXPECT_NE(e.log[0].find("auto -> abit (PEBS unavailable: no usable PMU"), std::string::npos)
      << e.log[0];
}

TEST(SampleSourceFactory, AutoPrefersPebs) {
  Env e;
  e.enc.known = {"MEM_LOAD_RETIRED:L3_MISS"};
  auto made = MakeSampleSource("auto", {}, e.Deps());
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_EQ(made->kind, "pebs");
  ASSERT_NE(made->perf, nullptr);
  ASSERT_EQ(e.log.size(), 1u);
  EXPECT_NE(e.log[0].find("auto -> PEBS: MEM_LOAD_RETIRED:L3_MISS"), std::string::npos) << e.log[0];
}

TEST(SampleSourceFactory, AutoWithNeitherNamesBothErrors) {
  Env e;
  SampleSourceDeps d = e.Deps();
  d.hballoon = nullptr;
  auto made = MakeSampleSource("auto", {}, d);
  ASSERT_FALSE(made.ok());
  EXPECT_NE(made.status().message().find("PEBS unavailable"), absl::string_view::npos);
  EXPECT_NE(made.status().message().find("abit unavailable"), absl::string_view::npos);
}

TEST(SampleSourceFactory, Replay) {
  Env e;
  std::vector<placement::Sample> samples = {{1, 0x1000, placement::AccessKind::kLoad, 1, 10},
                                            {2, 0x2000, placement::AccessKind::kStore, 3, 20}};
  const std::string path = ::testing::TempDir() + "/factory_trace.bin";
  {
    std::ofstream f(path, std::ios::binary);
    f << placement::EncodeTrace(samples);
  }
  SampleSourceOptions o;
  o.replay_path = path;
  auto made = MakeSampleSource("replay", o, e.Deps());
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_EQ(made->kind, "replay");
  std::vector<placement::Sample> buf(4);
  auto n = made->source->Read(absl::MakeSpan(buf));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 2u);
  EXPECT_EQ(buf[1], samples[1]);
  std::remove(path.c_str());
  o.replay_path = "";
  EXPECT_TRUE(absl::IsInvalidArgument(MakeSampleSource("replay", o, e.Deps()).status()));
  o.replay_path = "/nonexistent/trace";
  EXPECT_FALSE(MakeSampleSource("replay", o, e.Deps()).ok());
}

TEST(SampleSourceFactory, BadNameAndMissingDeps) {
  Env e;
  auto made = MakeSampleSource("ibs", {}, e.Deps());
  EXPECT_TRUE(absl::IsInvalidArgument(made.status()));
  EXPECT_NE(made.status().message().find("pebs, abit, replay or auto"), absl::string_view::npos);
  SampleSourceDeps d;
  EXPECT_TRUE(absl::IsInvalidArgument(MakeSampleSource("abit", {}, d).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(MakeSampleSource("pebs", {}, d).status()));
}

}  // namespace
}  // namespace tiervm::adapters
