// tiervm-trace-record: reads `valgrind --tool=lackey --trace-mem=yes`
// output on stdin and writes a PEBS-like TVMTRACE v1 trace
// (lackey_sampler.h).  Usage, with the program's own output kept apart:
//   valgrind --tool=lackey --trace-mem=yes --log-fd=3 PROG ARGS 3>&1 1>/dev/null 2>/dev/null |
//     tiervm-trace-record --out=FILE [--period=101] [--llc-kib=2048] [--pid=N]
//                         [--max-records=N] [--seed=S]
// Prints the counts as one JSON line on stderr.
#include <unistd.h>

#include <cstdio>
#include <map>
#include <string>

#include "absl/strings/numbers.h"
#include "traces/generators.h"
#include "traces/kv_flags.h"
#include "traces/lackey_sampler.h"

int main(int argc, char** argv) {
  using namespace tiervm::traces;
  std::map<std::string, std::string> kv;
  if (!ParseKeyValueFlags(argc, argv, "tiervm-trace-record", &kv)) return 2;
  LackeySamplerConfig c;
  uint64_t llc_kib = c.llc_bytes >> 10, pid = 0;
  for (const auto& [k, v] : kv) {
    uint64_t x = 0;
    if (k == "out") continue;
    if (!absl::SimpleAtoi(v, &x)) {
      std::fprintf(stderr, "tiervm-trace-record: --%s: bad integer %s\n", k.c_str(), v.c_str());
      return 2;
    }
    if (k == "period") c.period = x;
    else if (k == "llc-kib") llc_kib = x;
    else if (k == "pid") pid = x;
    else if (k == "max-records") c.max_records = x;
    else if (k == "seed") c.seed = x;
    else {
      std::fprintf(stderr, "tiervm-trace-record: unknown flag --%s\n", k.c_str());
      return 2;
    }
  }
  if (!kv.count("out") || c.period == 0 || c.period > (1u << 30) || pid > 4194304 || llc_kib > (1u << 20)) {
    std::fprintf(stderr, "usage: ... | tiervm-trace-record --out=FILE [--period=N>0] [--llc-kib=K] [--pid=N]\n");
    return 2;
  }
  c.llc_bytes = llc_kib << 10;
  c.pid = static_cast<int32_t>(pid);
  LackeySampler s(c);
  std::string carry;
  static char buf[1 << 20];
  for (;;) {
    const ssize_t n = read(0, buf, sizeof(buf));
    if (n < 0) {
      std::perror("tiervm-trace-record: read");
      return 1;
    }
    if (n == 0) break;
    size_t start = 0;
    for (size_t i = 0; i < static_cast<size_t>(n); ++i) {
      if (buf[i] != '\n') continue;
      if (!carry.empty()) {
        carry.append(buf + start, i - start);
        s.Line(carry);
        carry.clear();
      } else {
        s.Line(absl::string_view(buf + start, i - start));
      }
      start = i + 1;
    }
    carry.append(buf + start, static_cast<size_t>(n) - start);
    if (carry.size() > 4096) {  // no lackey line is this long
      s.Line(carry);
      carry.clear();
    }
  }
  if (!carry.empty()) s.Line(carry);
  const LackeyStats& st = s.stats();
  std::fprintf(stderr,
               "{\"lines\":%llu,\"instructions\":%llu,\"loads\":%llu,\"stores\":%llu,\"modifies\":%llu,"
               "\"llc_misses\":%llu,\"bad_lines\":%llu,\"records\":%llu,\"truncated\":%s}\n",
               (unsigned long long)st.lines, (unsigned long long)st.instructions, (unsigned long long)st.loads,
               (unsigned long long)st.stores, (unsigned long long)st.modifies, (unsigned long long)st.misses,
               (unsigned long long)st.bad_lines, (unsigned long long)st.records, st.truncated ? "true" : "false");
  absl::StatusOr<std::vector<tiervm::placement::Sample>> out = s.Finish();
  if (!out.ok()) {
    std::fprintf(stderr, "tiervm-trace-record: %s\n", out.status().ToString().c_str());
    return 1;
  }
  if (absl::Status w = WriteTraceFile(kv["out"], *out); !w.ok()) {
    std::fprintf(stderr, "tiervm-trace-record: %s\n", w.ToString().c_str());
    return 1;
  }
  return 0;
}
