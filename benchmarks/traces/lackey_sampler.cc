#include "traces/lackey_sampler.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "placement/replay_trace.h"

namespace tiervm::traces {
namespace {

constexpr uint64_t kLineBytes = 64;

// Parses "hexaddr,size" at the start of `s`; false on anything else.
bool ParseAddr(absl::string_view s, uint64_t* addr) {
  uint64_t a = 0;
  size_t i = 0;
  for (; i < s.size() && s[i] != ','; ++i) {
    const char ch = s[i];
    int d;
    if (ch >= '0' && ch <= '9') d = ch - '0';
    else if (ch >= 'a' && ch <= 'f') d = ch - 'a' + 10;
    else if (ch >= 'A' && ch <= 'F') d = ch - 'A' + 10;
    else return false;
    if (i >= 16) return false;
    a = (a << 4) | static_cast<uint64_t>(d);
  }
  if (i == 0 || i + 1 >= s.size() || s[i] != ',') return false;
  for (size_t k = i + 1; k < s.size(); ++k) {
    if (s[k] < '0' || s[k] > '9') return false;
  }
  *addr = a;
  return true;
}

}  // namespace

LackeySampler::LackeySampler(const LackeySamplerConfig& config) : c_(config), rng_(config.seed) {
  if (c_.period == 0) c_.period = 1;
  if (c_.llc_ways == 0) c_.llc_ways = 1;
  if (c_.llc_bytes > 0) {
    sets_ = std::max<uint64_t>(1, c_.llc_bytes / kLineBytes / c_.llc_ways);
    tags_.assign(sets_ * c_.llc_ways, 0);
    stamp_.assign(sets_ * c_.llc_ways, 0);
  }
  countdown_ = static_cast<int64_t>(NextGap());
}

uint64_t LackeySampler::NextGap() {
  const double j = c_.jitter_frac * static_cast<double>(c_.period);
  std::uniform_real_distribution<double> d(-j, j);
  return std::max<uint64_t>(1, static_cast<uint64_t>(static_cast<double>(c_.period) + d(rng_)));
}

bool LackeySampler::CacheMiss(uint64_t line) {
  if (sets_ == 0) return true;
  const uint64_t set = (line ^ (line >> 17)) % sets_;
  uint64_t* t = &tags_[set * c_.llc_ways];
  uint32_t* st = &stamp_[set * c_.llc_ways];
  ++clock_;
  uint32_t victim = 0;
  for (uint32_t w = 0; w < c_.llc_ways; ++w) {
    if (t[w] == line + 1) {
      st[w] = clock_;
      return false;
    }
    if (st[w] < st[victim]) victim = w;
  }
  t[victim] = line + 1;
  st[victim] = clock_;
  return true;
}

void LackeySampler::Access(uint64_t addr, placement::AccessKind kind) {
  if (!CacheMiss(addr / kLineBytes)) return;
  ++stats_.misses;
  ++since_last_;
  if (--countdown_ > 0) return;
  countdown_ = static_cast<int64_t>(NextGap());
  if (addr == 0 || addr >= placement::kTraceVaddrLimit) return;
  if (out_.size() >= c_.max_records) {
    stats_.truncated = true;
    return;
  }
  placement::Sample s;
  s.pid = c_.pid > 0 ? c_.pid : 1;
  s.vaddr = addr;
  s.kind = kind;
  s.weight = static_cast<uint32_t>(std::min<uint64_t>(since_last_, UINT32_MAX));
  s.time_ns = static_cast<int64_t>(stats_.instructions);
  since_last_ = 0;
  out_.push_back(s);
  ++stats_.records;
}

void LackeySampler::Line(absl::string_view line) {
  ++stats_.lines;
  if (line.size() >= 2 && line[0] == '=' && line[1] == '=') {
    // "==1234== message": take the pid once.
    if (c_.pid == 0) {
      int32_t pid = 0;
      size_t i = 2;
      for (; i < line.size() && line[i] >= '0' && line[i] <= '9' && pid < 10000000; ++i) {
        pid = pid * 10 + (line[i] - '0');
      }
      if (i < line.size() && line[i] == '=' && pid >= 1 && static_cast<uint32_t>(pid) <= placement::kTraceMaxPid) {
        c_.pid = pid;
      }
    }
    return;
  }
  if (line.empty()) return;
  uint64_t addr = 0;
  if (line.size() > 3 && line[0] == 'I' && line[1] == ' ' && line[2] == ' ') {
    if (!ParseAddr(line.substr(3), &addr)) {
      ++stats_.bad_lines;
      return;
    }
    ++stats_.instructions;
    return;
  }
  if (line.size() > 3 && line[0] == ' ' && line[2] == ' ' && ParseAddr(line.substr(3), &addr)) {
    switch (line[1]) {
      case 'L':
        ++stats_.loads;
        Access(addr, placement::AccessKind::kLoad);
        return;
      case 'S':
        ++stats_.stores;
        Access(addr, placement::AccessKind::kStore);
        return;
      case 'M':
        ++stats_.modifies;
        Access(addr, placement::AccessKind::kStore);
        return;
      default:
        break;
    }
  }
  ++stats_.bad_lines;
}

absl::StatusOr<std::vector<placement::Sample>> LackeySampler::Finish() {
  if (stats_.lines > 0 && stats_.bad_lines * 100 > stats_.lines) {
    return absl::InvalidArgumentError(absl::StrCat(stats_.bad_lines, " of ", stats_.lines,
                                                   " lines are not lackey --trace-mem output"));
  }
  if (out_.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("no samples: ", stats_.misses, " cache misses in ", stats_.lines, " lines"));
  }
  // One pid for the whole trace (it may have been learnt late).
  for (placement::Sample& s : out_) s.pid = c_.pid > 0 ? c_.pid : 1;
  return std::move(out_);
}

}  // namespace tiervm::traces
