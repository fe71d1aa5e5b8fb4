// tiervm-tracegen: writes a synthetic TVMTRACE v1 trace (generators.h).
//   tiervm-tracegen --kind=gups|phase|zipf|scan --out=FILE [--records=N]
//     [--weight=K] [--footprint-mib=M] [--hot-mib=M] [--hot-frac=F]
//     [--phases=P] [--phase-records=N] [--keys=N] [--item-bytes=B]
//     [--theta=T] [--set-frac=F] [--seed=S]
#include <cstdio>
#include <map>
#include <string>

#include "absl/strings/numbers.h"
#include "traces/generators.h"
#include "traces/kv_flags.h"

namespace {
bool U64(const std::map<std::string, std::string>& kv, const char* k, uint64_t* out) {
  auto it = kv.find(k);
  if (it == kv.end()) return true;
  if (absl::SimpleAtoi(it->second, out)) return true;
  std::fprintf(stderr, "tiervm-tracegen: --%s: bad integer %s\n", k, it->second.c_str());
  return false;
}
bool Dbl(const std::map<std::string, std::string>& kv, const char* k, double* out) {
  auto it = kv.find(k);
  if (it == kv.end()) return true;
  if (absl::SimpleAtod(it->second, out)) return true;
  std::fprintf(stderr, "tiervm-tracegen: --%s: bad number %s\n", k, it->second.c_str());
  return false;
}
}  // namespace

int main(int argc, char** argv) {
  using namespace tiervm::traces;
  std::map<std::string, std::string> kv;
  if (!ParseKeyValueFlags(argc, argv, "tiervm-tracegen", &kv)) return 2;
  static const char* kKnown[] = {"kind", "out", "records", "weight", "footprint-mib", "hot-mib", "hot-frac",
                                 "phases", "phase-records", "keys", "item-bytes", "theta", "set-frac", "seed"};
  for (const auto& [k, v] : kv) {
    bool ok = false;
    for (const char* n : kKnown) ok |= k == n;
    if (!ok) {
      std::fprintf(stderr, "tiervm-tracegen: unknown flag --%s\n", k.c_str());
      return 2;
    }
  }
  if (!kv.count("kind") || !kv.count("out")) {
    std::fprintf(stderr, "usage: tiervm-tracegen --kind=gups|phase|zipf|scan --out=FILE [options]\n");
    return 2;
  }
  GenCommon c;
  uint64_t weight = c.weight, footprint_mib = 1024, hot_mib = 128, phases = 3, phase_records = 0,
           keys = 1 << 20, item_bytes = 512;
  double hot_frac = -1, theta = 0.99, set_frac = 0.1;
  if (!U64(kv, "records", &c.records) || !U64(kv, "weight", &weight) || !U64(kv, "footprint-mib", &footprint_mib) ||
      !U64(kv, "hot-mib", &hot_mib) || !U64(kv, "phases", &phases) || !U64(kv, "phase-records", &phase_records) ||
      !U64(kv, "keys", &keys) || !U64(kv, "item-bytes", &item_bytes) || !U64(kv, "seed", &c.seed) ||
      !Dbl(kv, "hot-frac", &hot_frac) || !Dbl(kv, "theta", &theta) || !Dbl(kv, "set-frac", &set_frac)) {
    return 2;
  }
  if (weight == 0 || weight > UINT32_MAX || phases > 1024 || item_bytes > 65536 || footprint_mib > 65536 ||
      hot_mib > 65536) {
    std::fprintf(stderr, "tiervm-tracegen: weight, phases, item-bytes or sizes out of range\n");
    return 2;
  }
  c.weight = static_cast<uint32_t>(weight);
  const std::string kind = kv["kind"];
  absl::StatusOr<std::vector<tiervm::placement::Sample>> s = absl::InvalidArgumentError("unknown --kind " + kind);
  if (kind == "gups" || kind == "phase") {
    GupsSpec g;
    g.footprint_bytes = footprint_mib << 20;
    g.hot_bytes = hot_mib << 20;
    g.hot_frac = hot_frac < 0 ? 0.9 : hot_frac;
    if (kind == "phase") {
      g.phases = static_cast<uint32_t>(phases);
      g.phase_records = phase_records ? phase_records : c.records / std::max<uint64_t>(1, phases);
    }
    s = GenerateGups(c, g);
  } else if (kind == "zipf") {
    ZipfKvSpec z;
    z.keys = keys;
    z.item_bytes = static_cast<uint32_t>(item_bytes);
    z.theta = theta;
    z.set_frac = set_frac;
    s = GenerateZipfKv(c, z);
  } else if (kind == "scan") {
    ScanHotSpec sc;
    sc.footprint_bytes = footprint_mib << 20;
    sc.hot_bytes = hot_mib << 20;
    sc.hot_frac = hot_frac < 0 ? 0.7 : hot_frac;
    s = GenerateScanHot(c, sc);
  }
  if (!s.ok()) {
    std::fprintf(stderr, "tiervm-tracegen: %s\n", s.status().ToString().c_str());
    return 1;
  }
  if (absl::Status st = WriteTraceFile(kv["out"], *s); !st.ok()) {
    std::fprintf(stderr, "tiervm-tracegen: %s\n", st.ToString().c_str());
    return 1;
  }
  std::fprintf(stderr, "tiervm-tracegen: %s: %zu records\n", kv["out"].c_str(), s->size());
  return 0;
}
