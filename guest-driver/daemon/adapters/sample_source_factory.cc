#include "daemon/adapters/sample_source_factory.h"

#include <iostream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "daemon/adapters/trace_file.h"

namespace tiervm::adapters {

namespace {

void Log(const SampleSourceDeps& deps, const std::string& line) {
  if (deps.log) {
    deps.log(line);
  } else {
    std::cerr << line << "\n";
  }
}

absl::StatusOr<MadeSampleSource> MakeAbit(const SampleSourceOptions& options,
                                          const SampleSourceDeps& deps) {
  if (deps.hballoon == nullptr || deps.clock == nullptr) {
    return absl::InvalidArgumentError("sample source abit: needs /dev/hballoon and a clock");
  }
  absl::StatusOr<std::unique_ptr<AbitSampleSource>> src =
      AbitSampleSource::Create(deps.hballoon, deps.clock, options.abit);
  if (!src.ok()) return src.status();
  MadeSampleSource made;
  made.abit = src->get();
  made.source = std::move(*src);
  made.kind = "abit";
  return made;
}

absl::StatusOr<MadeSampleSource> MakePerf(const SampleSourceOptions& options,
                                          const SampleSourceDeps& deps) {
  if (deps.perf_ops == nullptr || deps.perf_encoder == nullptr) {
    return absl::InvalidArgumentError("sample source pebs: needs perf_event ops and an encoder");
  }
  absl::StatusOr<std::unique_ptr<PerfSampleSource>> src =
      PerfSampleSource::Open(deps.perf_ops, deps.perf_encoder, options.perf);
  if (!src.ok()) return src.status();
  MadeSampleSource made;
  made.perf = src->get();
  made.source = std::move(*src);
  made.kind = "pebs";
  return made;
}

}  // namespace

absl::StatusOr<MadeSampleSource> MakeSampleSource(const std::string& name,
                                                  const SampleSourceOptions& options,
                                                  const SampleSourceDeps& deps) {
  if (name == "abit") {
    absl::StatusOr<MadeSampleSource> made = MakeAbit(options, deps);
    if (made.ok()) Log(deps, "sample source: abit (accessed bits via /dev/hballoon)");
    return made;
  }
  if (name == "pebs") {
    absl::StatusOr<MadeSampleSource> made = MakePerf(options, deps);
    if (made.ok()) Log(deps, "sample source: " + made->perf->description());
    return made;
  }
  if (name == "replay") {
    if (options.replay_path.empty()) {
      return absl::InvalidArgumentError("sample source replay: no trace file given");
    }
    absl::StatusOr<placement::ReplaySource> replay = OpenReplayFile(options.replay_path);
    if (!replay.ok()) return replay.status();
    MadeSampleSource made;
    auto src = std::make_unique<placement::ReplaySource>(std::move(*replay));
    made.replay = src.get();
    made.source = std::move(src);
    made.kind = "replay";
    Log(deps, absl::StrCat("sample source: replay of ", options.replay_path, " (",
                           made.replay->remaining(), " samples)"));
    return made;
  }
  if (name == "auto") {
    absl::StatusOr<MadeSampleSource> perf = MakePerf(options, deps);
    if (perf.ok()) {
      Log(deps, "sample source: auto -> " + perf->perf->description());
      return perf;
    }
    absl::StatusOr<MadeSampleSource> abit = MakeAbit(options, deps);
    if (!abit.ok()) {
      return absl::Status(abit.status().code(),
                          absl::StrCat("sample source auto: PEBS unavailable (",
                                       perf.status().message(), ") and abit unavailable (",
                                       abit.status().message(), ")"));
    }
    Log(deps, absl::StrCat("sample source: auto -> abit (PEBS unavailable: ",
                           perf.status().message(), ")"));
    return abit;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown sample source \"", name, "\" (want pebs, abit, replay or auto)"));
}

}  // namespace tiervm::adapters
