#include "traces/generators.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>
#include <random>

#include "absl/strings/str_cat.h"
#include "placement/replay_trace.h"

namespace tiervm::traces {
namespace {

using placement::AccessKind;
using placement::Sample;

absl::Status CheckCommon(const GenCommon& c) {
  if (c.weight == 0) return absl::InvalidArgumentError("weight must be >= 1");
  if (c.pid < 1 || static_cast<uint32_t>(c.pid) > placement::kTraceMaxPid) {
    return absl::InvalidArgumentError("pid must be in 1..4194304");
  }
  if (c.base == 0 || c.base % placement::kHugePageBytes != 0) {
    return absl::InvalidArgumentError("base must be a non-zero multiple of 2 MiB");
  }
  if (!(c.ns_per_access >= 0)) return absl::InvalidArgumentError("ns_per_access must be >= 0");
  if (c.records > (1ull << 28)) return absl::InvalidArgumentError("more than 2^28 records");
  return absl::OkStatus();
}

class Emitter {
 public:
  explicit Emitter(const GenCommon& c) : c_(c) {}
  void Emit(uint64_t vaddr, AccessKind kind) {
    Sample s;
    s.pid = c_.pid;
    s.vaddr = vaddr;
    s.kind = kind;
    s.weight = c_.weight;
    s.time_ns = static_cast<int64_t>(static_cast<double>(n_) * c_.weight * c_.ns_per_access);
    out.push_back(s);
    ++n_;
  }
  void InitPass(uint64_t start, uint64_t bytes) {
    if (!c_.init_pass) return;
    for (uint64_t a = 0; a < bytes; a += placement::kBasePageBytes) Emit(start + a, AccessKind::kStore);
  }
  std::vector<Sample> out;

 private:
  const GenCommon& c_;
  uint64_t n_ = 0;
};

}  // namespace

absl::StatusOr<std::vector<Sample>> GenerateGups(const GenCommon& c, const GupsSpec& s) {
  if (absl::Status st = CheckCommon(c); !st.ok()) return st;
  if (s.footprint_bytes < placement::kHugePageBytes || s.footprint_bytes % placement::kBasePageBytes ||
      s.footprint_bytes > (64ull << 30)) {
    return absl::InvalidArgumentError("gups: footprint must be 2 MiB .. 64 GiB, 4 KiB aligned");
  }
  const uint32_t phases = std::max<uint32_t>(1, s.phases);
  if (s.hot_bytes == 0 || s.hot_bytes * phases > s.footprint_bytes || s.hot_bytes % 8) {
    return absl::InvalidArgumentError("gups: need 0 < hot_bytes x phases <= footprint, 8-byte aligned");
  }
  if (!(s.hot_frac >= 0 && s.hot_frac <= 1)) return absl::InvalidArgumentError("gups: hot_frac in [0,1]");
  Emitter e(c);
  e.out.reserve(c.records + s.footprint_bytes / placement::kBasePageBytes);
  e.InitPass(c.base, s.footprint_bytes);
  std::mt19937_64 rng(c.seed);
  std::uniform_real_distribution<double> u(0, 1);
  const uint64_t words = s.footprint_bytes / 8, hot_words = s.hot_bytes / 8;
  std::uniform_int_distribution<uint64_t> any(0, words - 1), hot(0, hot_words - 1);
  for (uint64_t i = 0; i < c.records; ++i) {
    const uint32_t phase = s.phase_records ? static_cast<uint32_t>((i / s.phase_records) % phases) : 0;
    // Phase 0's hot set is at the end of the array (as Demeter's gups);
    // later phases move it down by one hot-set size each.
    const uint64_t hot_start = s.footprint_bytes - s.hot_bytes * (phase + 1);
    const uint64_t off = u(rng) < s.hot_frac ? hot_start + hot(rng) * 8 : any(rng) * 8;
    e.Emit(c.base + off, (i & 1) ? AccessKind::kStore : AccessKind::kLoad);
  }
  return std::move(e.out);
}

absl::StatusOr<std::vector<Sample>> GenerateZipfKv(const GenCommon& c, const ZipfKvSpec& s) {
  if (absl::Status st = CheckCommon(c); !st.ok()) return st;
  if (s.keys < 16 || s.keys > (1ull << 26) || s.item_bytes < 8 || s.item_bytes > 65536 ||
      s.item_bytes % 8) {
    return absl::InvalidArgumentError("zipf: keys in 16..2^26, item_bytes in 8..65536, 8-aligned");
  }
  if (!(s.theta > 0 && s.theta < 5) || !(s.set_frac >= 0 && s.set_frac <= 1)) {
    return absl::InvalidArgumentError("zipf: theta in (0,5), set_frac in [0,1]");
  }
  const uint64_t index_bytes =
      (s.keys * 8 + placement::kHugePageBytes - 1) / placement::kHugePageBytes * placement::kHugePageBytes;
  const uint64_t slab = c.base + index_bytes;
  const uint64_t slab_bytes = (s.keys * s.item_bytes + placement::kBasePageBytes - 1) /
                              placement::kBasePageBytes * placement::kBasePageBytes;
  // CDF of Zipf(theta) over ranks 1..keys.
  std::vector<double> cdf(s.keys);
  double sum = 0;
  for (uint64_t k = 0; k < s.keys; ++k) {
    sum += 1.0 / std::pow(static_cast<double>(k + 1), s.theta);
    cdf[k] = sum;
  }
  std::mt19937_64 rng(c.seed);
  // Rank -> key slot and rank -> index bucket: independent permutations.
  std::vector<uint32_t> slot(s.keys), bucket(s.keys);
  std::iota(slot.begin(), slot.end(), 0);
  std::iota(bucket.begin(), bucket.end(), 0);
  std::shuffle(slot.begin(), slot.end(), rng);
  std::shuffle(bucket.begin(), bucket.end(), rng);
  Emitter e(c);
  e.out.reserve(c.records + (index_bytes + slab_bytes) / placement::kBasePageBytes);
  e.InitPass(c.base, index_bytes);
  e.InitPass(slab, slab_bytes);
  std::uniform_real_distribution<double> u(0, 1);
  std::uniform_int_distribution<uint32_t> in_item(0, s.item_bytes / 8 - 1);
  for (uint64_t i = 0; i < c.records;) {
    const double x = u(rng) * sum;
    const uint64_t rank = static_cast<uint64_t>(std::lower_bound(cdf.begin(), cdf.end(), x) - cdf.begin());
    const uint64_t r = std::min(rank, s.keys - 1);
    const bool set = u(rng) < s.set_frac;
    e.Emit(c.base + static_cast<uint64_t>(bucket[r]) * 8, AccessKind::kLoad);
    if (++i == c.records) break;
    e.Emit(slab + static_cast<uint64_t>(slot[r]) * s.item_bytes + in_item(rng) * 8ull,
           set ? AccessKind::kStore : AccessKind::kLoad);
    ++i;
  }
  return std::move(e.out);
}

absl::StatusOr<std::vector<Sample>> GenerateScanHot(const GenCommon& c, const ScanHotSpec& s) {
  if (absl::Status st = CheckCommon(c); !st.ok()) return st;
  if (s.footprint_bytes < placement::kHugePageBytes || s.footprint_bytes % placement::kBasePageBytes ||
      s.footprint_bytes > (64ull << 30) || s.hot_bytes == 0 || s.hot_bytes > s.footprint_bytes ||
      s.hot_bytes % 8 || !(s.hot_frac >= 0 && s.hot_frac <= 1)) {
    return absl::InvalidArgumentError("scan: need footprint 2 MiB..64 GiB, 0 < hot <= footprint, hot_frac in [0,1]");
  }
  Emitter e(c);
  e.out.reserve(c.records + s.footprint_bytes / placement::kBasePageBytes);
  e.InitPass(c.base, s.footprint_bytes);
  std::mt19937_64 rng(c.seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::uniform_int_distribution<uint64_t> hot(0, s.hot_bytes / 8 - 1);
  uint64_t cursor = 0;
  for (uint64_t i = 0; i < c.records; ++i) {
    if (u(rng) < s.hot_frac) {
      e.Emit(c.base + hot(rng) * 8, AccessKind::kLoad);
    } else {
      e.Emit(c.base + cursor, AccessKind::kLoad);
      cursor += placement::kBasePageBytes;
      if (cursor >= s.footprint_bytes) cursor = 0;
    }
  }
  return std::move(e.out);
}

absl::Status WriteTraceFile(const std::string& path, const std::vector<Sample>& samples) {
  int64_t prev = 0;
  for (size_t i = 0; i < samples.size(); ++i) {
    if (absl::Status st = placement::ValidateSample(samples[i], prev); !st.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("record ", i, ": ", st.message()));
    }
    prev = samples[i].time_ns;
  }
  const std::string bytes = placement::EncodeTrace(samples);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return absl::PermissionDeniedError(absl::StrCat("cannot write ", tmp));
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!f) return absl::InternalError(absl::StrCat("write failed: ", tmp));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("rename to ", path, " failed"));
  }
  return absl::OkStatus();
}

}  // namespace tiervm::traces
