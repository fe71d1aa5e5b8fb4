// Synthetic access-stream generators writing TVMTRACE v1 records
// (placement/replay_trace.h).  Each record stands for `weight` accesses to
// its page: the generators emit a 1/weight sample of the stream they model,
// which is how the simulator reads every trace (benchmarks/sim/sim.h).
//
// Every generator first writes an initialisation pass (one store record per
// 4 KiB page, in address order, as a program that memsets its arrays),
// then its access phase.  Deterministic for a given seed.  Pure functions.
#ifndef TIERVM_BENCHMARKS_TRACES_GENERATORS_H_
#define TIERVM_BENCHMARKS_TRACES_GENERATORS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "placement/types.h"

namespace tiervm::traces {

struct GenCommon {
  uint64_t records = 1 << 20;  // access-phase records (after the init pass)
  uint32_t weight = 64;        // accesses per record
  int32_t pid = 1000;
  uint64_t base = 0x7f0000000000ull;  // start of the data area
  double ns_per_access = 100;         // for the records' time_ns
  bool init_pass = true;
  uint64_t seed = 1;
};

// GUPS with a hot set (Demeter's gups: the hot set at the end of the array,
// hot_frac of the updates go to it), random 8-byte read-modify-writes.
struct GupsSpec {
  uint64_t footprint_bytes = 1ull << 30;
  uint64_t hot_bytes = 128ull << 20;
  double hot_frac = 0.9;
  // Phase shifts: every `phase_records` records the hot set moves to the
  // next of `phases` disjoint places (0: no shift).
  uint64_t phase_records = 0;
  uint32_t phases = 1;
};

// Zipfian key-value: `keys` items of `item_bytes` in a slab area (keys
// placed by a random permutation, as a hash table scatters them) plus an
// 8-byte-per-key index; each GET/SET touches the index bucket and the item.
struct ZipfKvSpec {
  uint64_t keys = 1 << 20;
  uint32_t item_bytes = 512;
  double theta = 0.99;
  double set_frac = 0.1;
};

// Scan + hot set: hot_frac of records are random accesses to a hot set at
// the start; the rest sweep the whole footprint sequentially (one record
// per 4 KiB page: 64 cache lines), as a periodic table scan.
struct ScanHotSpec {
  uint64_t footprint_bytes = 1ull << 30;
  uint64_t hot_bytes = 128ull << 20;
  double hot_frac = 0.7;
};

absl::StatusOr<std::vector<placement::Sample>> GenerateGups(const GenCommon& c, const GupsSpec& s);
absl::StatusOr<std::vector<placement::Sample>> GenerateZipfKv(const GenCommon& c, const ZipfKvSpec& s);
absl::StatusOr<std::vector<placement::Sample>> GenerateScanHot(const GenCommon& c, const ScanHotSpec& s);

// Writes `samples` as a TVMTRACE v1 file (validating every record first).
absl::Status WriteTraceFile(const std::string& path, const std::vector<placement::Sample>& samples);

}  // namespace tiervm::traces

#endif  // TIERVM_BENCHMARKS_TRACES_GENERATORS_H_
