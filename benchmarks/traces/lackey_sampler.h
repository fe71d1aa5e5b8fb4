// LackeySampler: turns the memory trace of a real program, as printed by
// `valgrind --tool=lackey --trace-mem=yes`, into PEBS-like TVMTRACE samples.
//
// Lackey prints one line per access: "I  addr,size" (instruction fetch),
// " L addr,size" (load), " S addr,size" (store), " M addr,size" (modify =
// load + store), plus "==PID== ..." messages.  The sampler
//   1. passes data accesses through a last-level-cache model (set
//      associative, LRU, 64-byte lines): PEBS on Intel samples
//      MEM_LOAD_RETIRED.L3_MISS-like events, i.e. the accesses that reach
//      memory, and only those matter to tiering;
//   2. takes every Nth miss (N = period, with ±jitter against aliasing),
//      emitting a record whose weight is the gap since the previous sample
//      (so the weights add up to the misses) and whose time_ns is the
//      instruction count so far (1 instruction = 1 ns, a clock proxy).
// Lines it cannot parse are counted; Finish() fails if they exceed 1 %.
// Owns its cache state and output; one thread.
#ifndef TIERVM_BENCHMARKS_TRACES_LACKEY_SAMPLER_H_
#define TIERVM_BENCHMARKS_TRACES_LACKEY_SAMPLER_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "placement/types.h"

namespace tiervm::traces {

struct LackeySamplerConfig {
  uint64_t llc_bytes = 2ull << 20;  // 0: no cache model, every access counts
  uint32_t llc_ways = 16;
  uint64_t period = 101;
  double jitter_frac = 0.125;
  int32_t pid = 0;  // 0: take it from the first "==PID==" line, else 1
  uint64_t max_records = 1ull << 24;
  uint64_t seed = 1;
};

struct LackeyStats {
  uint64_t lines = 0;
  uint64_t instructions = 0;
  uint64_t loads = 0;
  uint64_t stores = 0;
  uint64_t modifies = 0;
  uint64_t misses = 0;
  uint64_t bad_lines = 0;
  uint64_t records = 0;
  bool truncated = false;  // max_records reached
};

class LackeySampler {
 public:
  explicit LackeySampler(const LackeySamplerConfig& config);
  // Feeds one line (without the newline).
  void Line(absl::string_view line);
  // InvalidArgument if more than 1 % of the lines were malformed or no
  // record was produced; else the samples.
  absl::StatusOr<std::vector<placement::Sample>> Finish();
  const LackeyStats& stats() const { return stats_; }

 private:
  void Access(uint64_t addr, placement::AccessKind kind);
  bool CacheMiss(uint64_t line);
  uint64_t NextGap();

  LackeySamplerConfig c_;
  std::mt19937_64 rng_;
  uint64_t sets_ = 0;
  std::vector<uint64_t> tags_;   // sets_ x ways, 0 = empty (tag stored +1)
  std::vector<uint32_t> stamp_;  // LRU stamps
  uint32_t clock_ = 0;
  int64_t countdown_ = 0;
  uint64_t since_last_ = 0;
  LackeyStats stats_;
  std::vector<placement::Sample> out_;
};

}  // namespace tiervm::traces

#endif  // TIERVM_BENCHMARKS_TRACES_LACKEY_SAMPLER_H_
