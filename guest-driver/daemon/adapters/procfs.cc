#include "daemon/adapters/procfs.h"

#include <dirent.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "daemon/adapters/file_util.h"

namespace tiervm::adapters {
namespace {

using placement::kBasePageBytes;
using placement::kUserVaddrLimit;

absl::Status LineError(absl::string_view file, size_t line, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(file, ":", line, ": ", why));
}

// Strict unsigned parsers: non-empty, digits only, no overflow.
bool ParseHex(absl::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 16) return false;
  uint64_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return false;
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  *out = v;
  return true;
}

bool ParseDec(absl::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

// Splits off the next space-delimited token (skipping leading blanks).
absl::string_view NextToken(absl::string_view& rest) {
  size_t i = 0;
  while (i < rest.size() && rest[i] == ' ') ++i;
  size_t j = i;
  while (j < rest.size() && rest[j] != ' ') ++j;
  absl::string_view tok = rest.substr(i, j - i);
  rest.remove_prefix(j);
  return tok;
}

// Lines of `text`; a final newline does not make an extra empty line.
std::vector<absl::string_view> Lines(absl::string_view text) {
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

MapKind KindOf(absl::string_view path) {
  if (path.empty() || absl::StartsWith(path, "[anon:")) return MapKind::kAnonymous;
  if (path == "[heap]") return MapKind::kHeap;
  if (path == "[stack]" || absl::StartsWith(path, "[stack:")) return MapKind::kStack;
  if (path[0] == '/') return MapKind::kFile;
  return MapKind::kSpecial;
}

absl::Status ParseMapsLine(absl::string_view line, absl::string_view file, size_t n,
                           MapsEntry* e) {
  absl::string_view rest = line;
  const absl::string_view range = NextToken(rest);
  const size_t dash = range.find('-');
  if (dash == absl::string_view::npos ||
      !ParseHex(range.substr(0, dash), &e->start) ||
      !ParseHex(range.substr(dash + 1), &e->end)) {
    return LineError(file, n, absl::StrCat("bad address range '", range, "'"));
  }
  if (e->start >= e->end) return LineError(file, n, "empty or inverted range");
  if (e->start % kBasePageBytes != 0 || e->end % kBasePageBytes != 0) {
    return LineError(file, n, "range not page aligned");
  }
  const absl::string_view perms = NextToken(rest);
  if (perms.size() != 4 || (perms[0] != 'r' && perms[0] != '-') ||
      (perms[1] != 'w' && perms[1] != '-') || (perms[2] != 'x' && perms[2] != '-') ||
      (perms[3] != 'p' && perms[3] != 's')) {
    return LineError(file, n, absl::StrCat("bad permissions '", perms, "'"));
  }
  e->read = perms[0] == 'r';
  e->write = perms[1] == 'w';
  e->exec = perms[2] == 'x';
  e->shared = perms[3] == 's';
  if (!ParseHex(NextToken(rest), &e->offset)) return LineError(file, n, "bad offset");
  const absl::string_view dev = NextToken(rest);
  const size_t colon = dev.find(':');
  uint64_t major = 0, minor = 0;
  if (colon == absl::string_view::npos || !ParseHex(dev.substr(0, colon), &major) ||
      !ParseHex(dev.substr(colon + 1), &minor) || major > 0xffffffffu ||
      minor > 0xffffffffu) {
    return LineError(file, n, absl::StrCat("bad device '", dev, "'"));
  }
  e->dev_major = static_cast<uint32_t>(major);
  e->dev_minor = static_cast<uint32_t>(minor);
  if (!ParseDec(NextToken(rest), &e->inode)) return LineError(file, n, "bad inode");
  // The path is the rest of the line after the padding; it may contain
  // spaces of its own.
  size_t i = 0;
  while (i < rest.size() && rest[i] == ' ') ++i;
  if (i == 0 && !rest.empty()) return LineError(file, n, "bad inode");
  absl::string_view path = rest.substr(i);
  constexpr absl::string_view kDeleted = " (deleted)";
  if (absl::EndsWith(path, kDeleted)) {
    e->deleted = true;
    path.remove_suffix(kDeleted.size());
  }
  e->path = std::string(path);
  e->kind = KindOf(path);
  return absl::OkStatus();
}

std::string ProcPath(const std::string& root, Pid pid, absl::string_view leaf) {
  return absl::StrCat(root, "/proc/", pid, "/", leaf);
}

}  // namespace

// ---------------------------------------------------------------- maps --

absl::StatusOr<std::vector<MapsEntry>> ParseMaps(absl::string_view text,
                                                 absl::string_view file_name) {
  std::vector<MapsEntry> out;
  size_t n = 0;
  for (absl::string_view line : Lines(text)) {
    ++n;
    if (out.size() >= kMaxMapsEntries) {
      return LineError(file_name, n, absl::StrCat("more than ", kMaxMapsEntries, " entries"));
    }
    MapsEntry e;
    if (absl::Status st = ParseMapsLine(line, file_name, n, &e); !st.ok()) return st;
    if (!out.empty() && e.start < out.back().end) {
      return LineError(file_name, n, "entry overlaps or precedes the previous one");
    }
    out.push_back(std::move(e));
  }
  return out;
}

bool IsPlaceable(const MapsEntry& e, const PlaceOptions& options) {
  if (e.end > kUserVaddrLimit) return false;
  if (!e.read && !e.write && !e.exec) return false;  // guard page
  switch (e.kind) {
    case MapKind::kAnonymous:
    case MapKind::kHeap:
    case MapKind::kStack:
      return !e.shared || options.shared;
    case MapKind::kFile:
      // memfd, SysV shm and shared anonymous memory show as deleted files.
      if (e.shared) return options.shared && (e.deleted || options.file_backed);
      return options.file_backed;
    case MapKind::kSpecial:
      return false;
  }
  return false;
}

std::vector<Vma> PlaceableVmas(const std::vector<MapsEntry>& entries,
                               const PlaceOptions& options) {
  std::vector<Vma> out;
  for (const MapsEntry& e : entries) {
    if (IsPlaceable(e, options)) out.push_back(Vma{e.start, e.end});
  }
  return out;
}

absl::StatusOr<std::vector<MapsEntry>> ReadMaps(const std::string& root, Pid pid) {
  const std::string path = ProcPath(root, pid, "maps");
  absl::StatusOr<std::string> text = ReadFileBounded(path, kMaxProcFileBytes);
  if (!text.ok()) return text.status();
  return ParseMaps(*text, path);
}

// ------------------------------------------------------------ processes --

absl::StatusOr<ProcessInfo> ParseStat(absl::string_view text, absl::string_view file_name,
                                      bool* kernel_thread) {
  constexpr uint64_t kPfKthread = 0x00200000;
  ProcessInfo info;
  const size_t open = text.find('(');
  const size_t close = text.rfind(')');
  if (open == absl::string_view::npos || close == absl::string_view::npos || close < open) {
    return LineError(file_name, 1, "no (comm)");
  }
  uint64_t pid = 0;
  if (!ParseDec(absl::StripAsciiWhitespace(text.substr(0, open)), &pid) || pid == 0 ||
      pid > static_cast<uint64_t>(std::numeric_limits<Pid>::max())) {
    return LineError(file_name, 1, "bad pid");
  }
  info.pid = static_cast<Pid>(pid);
  info.comm = std::string(text.substr(open + 1, close - open - 1));
  absl::string_view rest = text.substr(close + 1);
  if (!rest.empty() && rest.back() == '\n') rest.remove_suffix(1);
  // Fields after the comm: 3 state, 4 ppid, 5 pgrp, 6 session, 7 tty_nr,
  // 8 tpgid, 9 flags.
  const absl::string_view state = NextToken(rest);
  if (state.size() != 1) return LineError(file_name, 1, "bad state");
  info.state = state[0];
  uint64_t ppid = 0;
  if (!ParseDec(NextToken(rest), &ppid) ||
      ppid > static_cast<uint64_t>(std::numeric_limits<Pid>::max())) {
    return LineError(file_name, 1, "bad ppid");
  }
  info.ppid = static_cast<Pid>(ppid);
  for (int field = 5; field <= 8; ++field) {
    if (NextToken(rest).empty()) return LineError(file_name, 1, "too few fields");
  }
  uint64_t flags = 0;
  if (!ParseDec(NextToken(rest), &flags)) return LineError(file_name, 1, "bad flags");
  if (kernel_thread != nullptr) {
    // kthreadd is pid 2 and the parent of every other kernel thread; the
    // flag is authoritative, the pids cover fixtures without it.
    *kernel_thread = (flags & kPfKthread) != 0 || info.pid == 2 || info.ppid == 2;
  }
  // 10 minflt .. 21 itrealvalue, 22 starttime, 23 vsize: optional (every
  // kernel writes them; short fixture lines need not), numbers if present.
  for (int field = 10; field <= 23; ++field) {
    const absl::string_view tok = NextToken(rest);
    if (tok.empty()) break;
    uint64_t v = 0;
    if (field >= 22 && !ParseDec(tok, &v)) {
      return LineError(file_name, 1, field == 22 ? "bad starttime" : "bad vsize");
    }
    if (field == 22) info.start_time_ticks = v;
    if (field == 23) info.vsize_bytes = v;
  }
  return info;
}

absl::StatusOr<ProcessListing> ListProcesses(const std::string& root,
                                             const ProcessFilter& filter) {
  const std::string dir_path = root + "/proc";
  DIR* dir = ::opendir(dir_path.c_str());
  if (dir == nullptr) return ErrnoStatus(errno, "opendir", dir_path);
  std::vector<Pid> pids;
  while (const struct dirent* d = ::readdir(dir)) {
    uint64_t pid = 0;
    if (!ParseDec(d->d_name, &pid) || pid == 0 ||
        pid > static_cast<uint64_t>(std::numeric_limits<Pid>::max())) {
      continue;
    }
    pids.push_back(static_cast<Pid>(pid));
  }
  ::closedir(dir);
  std::sort(pids.begin(), pids.end());

  ProcessListing out;
  for (Pid pid : pids) {
    if (filter.deny_pids.contains(pid)) {
      ++out.denied;
      continue;
    }
    if (filter.known_kernel_threads.contains(pid)) {
      ++out.kernel_threads;
      out.kernel_thread_pids.push_back(pid);
      continue;
    }
    const std::string path = ProcPath(root, pid, "stat");
    absl::StatusOr<std::string> text = ReadFileBounded(path, 1 << 16);
    if (!text.ok()) {
      if (absl::IsNotFound(text.status())) {
        ++out.vanished;
      } else if (out.errors.size() < kMaxListingErrors) {
        out.errors.push_back(text.status());
      }
      continue;
    }
    bool kthread = false;
    absl::StatusOr<ProcessInfo> info = ParseStat(*text, path, &kthread);
    if (!info.ok()) {
      if (out.errors.size() < kMaxListingErrors) out.errors.push_back(info.status());
      continue;
    }
    if (info->pid != pid) {
      if (out.errors.size() < kMaxListingErrors) {
        out.errors.push_back(LineError(path, 1, absl::StrCat("pid ", info->pid, " != ", pid)));
      }
      continue;
    }
    if (kthread) {
      ++out.kernel_threads;
      out.kernel_thread_pids.push_back(pid);
    } else if (filter.deny_comms.contains(info->comm)) {
      ++out.denied;
    } else if (info->state == 'Z' || info->state == 'X') {
      ++out.zombies;
    } else {
      out.processes.push_back(std::move(*info));
    }
  }
  return out;
}

// ------------------------------------------------------------- pressure --

absl::StatusOr<MemoryPressure> ParsePressure(absl::string_view text,
                                             absl::string_view file_name) {
  MemoryPressure out;
  bool has_some = false;
  size_t n = 0;
  for (absl::string_view line : Lines(text)) {
    ++n;
    absl::string_view rest = line;
    const absl::string_view which = NextToken(rest);
    PsiLine* target;
    if (which == "some") {
      if (has_some) return LineError(file_name, n, "second 'some' line");
      has_some = true;
      target = &out.some;
    } else if (which == "full") {
      if (out.has_full) return LineError(file_name, n, "second 'full' line");
      out.has_full = true;
      target = &out.full;
    } else {
      return LineError(file_name, n, absl::StrCat("unknown line '", which, "'"));
    }
    int seen = 0;  // bit per required key
    for (absl::string_view tok = NextToken(rest); !tok.empty(); tok = NextToken(rest)) {
      const size_t eq = tok.find('=');
      if (eq == absl::string_view::npos) {
        return LineError(file_name, n, absl::StrCat("bad field '", tok, "'"));
      }
      const absl::string_view key = tok.substr(0, eq), value = tok.substr(eq + 1);
      if (key == "total") {
        if (!ParseDec(value, &target->total_us)) return LineError(file_name, n, "bad total");
        seen |= 8;
        continue;
      }
      double* avg = key == "avg10" ? &target->avg10
                    : key == "avg60" ? &target->avg60
                    : key == "avg300" ? &target->avg300
                    : nullptr;
      if (avg == nullptr) continue;  // a later kernel's field
      double v = 0;
      if (!absl::SimpleAtod(value, &v) || !std::isfinite(v) || v < 0 || v > 100) {
        return LineError(file_name, n, absl::StrCat("bad ", key, " '", value, "'"));
      }
      *avg = v;
      seen |= key == "avg10" ? 1 : key == "avg60" ? 2 : 4;
    }
    if (seen != 15) return LineError(file_name, n, "missing avg10/avg60/avg300/total");
  }
  if (!has_some) return LineError(file_name, n + 1, "no 'some' line");
  return out;
}

absl::StatusOr<MemoryPressure> ReadMemoryPressure(const std::string& root) {
  const std::string path = root + "/proc/pressure/memory";
  absl::StatusOr<std::string> text = ReadFileBounded(path, 1 << 16);
  if (!text.ok()) return text.status();
  return ParsePressure(*text, path);
}

// -------------------------------------------------------------- meminfo --

absl::StatusOr<NodeMeminfo> ParseNodeMeminfo(absl::string_view text,
                                             absl::string_view file_name, int node) {
  NodeMeminfo out;
  out.node = node;
  size_t n = 0;
  for (absl::string_view line : Lines(text)) {
    ++n;
    absl::string_view rest = line;
    if (NextToken(rest) != "Node") return LineError(file_name, n, "does not start with 'Node'");
    uint64_t node_num = 0;
    if (!ParseDec(NextToken(rest), &node_num) || node_num != static_cast<uint64_t>(node)) {
      return LineError(file_name, n, absl::StrCat("not about node ", node));
    }
    absl::string_view key = NextToken(rest);
    if (key.size() < 2 || key.back() != ':') return LineError(file_name, n, "bad key");
    key.remove_suffix(1);
    uint64_t value = 0;
    if (!ParseDec(NextToken(rest), &value)) {
      return LineError(file_name, n, absl::StrCat("bad value for ", key));
    }
    const absl::string_view unit = NextToken(rest);
    if (unit == "kB") {
      if (value > std::numeric_limits<uint64_t>::max() / 1024) {
        return LineError(file_name, n, absl::StrCat(key, " overflows"));
      }
      value *= 1024;
    } else if (!unit.empty()) {
      return LineError(file_name, n, absl::StrCat("bad unit '", unit, "'"));
    }
    if (!NextToken(rest).empty()) return LineError(file_name, n, "trailing text");
    if (!out.fields.emplace(std::string(key), value).second) {
      return LineError(file_name, n, absl::StrCat("duplicate ", key));
    }
  }
  auto get = [&](const char* key, uint64_t* dst) {
    auto it = out.fields.find(key);
    if (it == out.fields.end()) return false;
    *dst = it->second;
    return true;
  };
  if (!get("MemTotal", &out.total_bytes) || !get("MemFree", &out.free_bytes)) {
    return LineError(file_name, n + 1, "MemTotal or MemFree missing");
  }
  if (out.free_bytes > out.total_bytes) {
    return LineError(file_name, n + 1, "MemFree exceeds MemTotal");
  }
  if (!get("MemUsed", &out.used_bytes)) out.used_bytes = out.total_bytes - out.free_bytes;
  get("Active", &out.active_bytes);
  get("Inactive", &out.inactive_bytes);
  get("AnonPages", &out.anon_bytes);
  get("FilePages", &out.file_bytes);
  return out;
}

absl::StatusOr<NodeMeminfo> ReadNodeMeminfo(const std::string& root, int node) {
  const std::string path = absl::StrCat(root, "/sys/devices/system/node/node", node, "/meminfo");
  absl::StatusOr<std::string> text = ReadFileBounded(path, 1 << 16);
  if (!text.ok()) return text.status();
  return ParseNodeMeminfo(*text, path, node);
}

absl::StatusOr<std::vector<int>> ParseNodeList(absl::string_view text,
                                               absl::string_view file_name) {
  constexpr uint64_t kMaxNode = 1 << 10;  // MAX_NUMNODES on x86-64
  std::vector<int> out;
  absl::string_view s = absl::StripAsciiWhitespace(text);
  if (s.empty()) return out;
  for (absl::string_view part : absl::StrSplit(s, ',')) {
    const size_t dash = part.find('-');
    uint64_t lo = 0, hi = 0;
    const bool ok = dash == absl::string_view::npos
                        ? ParseDec(part, &lo) && (hi = lo, true)
                        : ParseDec(part.substr(0, dash), &lo) &&
                              ParseDec(part.substr(dash + 1), &hi);
    if (!ok || lo > hi || hi >= kMaxNode ||
        (!out.empty() && lo <= static_cast<uint64_t>(out.back()))) {
      return LineError(file_name, 1, absl::StrCat("bad node list part '", part, "'"));
    }
    for (uint64_t i = lo; i <= hi; ++i) out.push_back(static_cast<int>(i));
  }
  return out;
}

absl::StatusOr<std::vector<int>> ReadOnlineNodes(const std::string& root) {
  const std::string path = root + "/sys/devices/system/node/online";
  absl::StatusOr<std::string> text = ReadFileBounded(path, 1 << 16);
  if (!text.ok()) return text.status();
  return ParseNodeList(*text, path);
}

// ------------------------------------------------------------- zoneinfo --

absl::StatusOr<std::vector<ZoneInfo>> ParseZoneinfo(absl::string_view text,
                                                    absl::string_view file_name) {
  constexpr uint64_t kMaxNode = 1 << 10;  // MAX_NUMNODES on x86-64
  // Counts are pages: bounding them keeps every "* 4096" below in range.
  constexpr uint64_t kMaxPages = std::numeric_limits<uint64_t>::max() / kZoneinfoPageBytes;
  // MAX_NR_ZONES is at most 6; a longer array is not the kernel's.
  constexpr size_t kMaxProtection = 16;
  constexpr size_t kMaxZones = kMaxNode * kMaxProtection;
  // Keys of a block, one bit each, to catch repeats and missing ones.
  enum : unsigned {
    kFree = 1, kMin = 2, kLow = 4, kHigh = 8, kManaged = 16, kPresent = 32, kProtection = 64,
  };
  constexpr unsigned kWatermarks = kFree | kMin | kLow | kHigh;

  std::vector<ZoneInfo> out;
  absl::flat_hash_set<std::pair<int, std::string>> zones_seen;
  ZoneInfo cur;
  bool in_block = false;
  unsigned seen = 0;
  uint64_t present = 0;
  size_t header_line = 0;
  size_t block_lines = 0;  // lines after the header

  // Validates the open block and appends it.
  auto finish = [&]() -> absl::Status {
    if (!in_block) return absl::OkStatus();
    in_block = false;
    if ((seen & kWatermarks) != kWatermarks) {
      // An empty zone may print only part of the block (or just the
      // header): its free pages and watermarks are zero.
      const bool empty = block_lines == 0 || ((seen & kPresent) && present == 0) ||
                         ((seen & kManaged) && cur.managed_pages == 0);
      if (!empty) {
        const char* missing = !(seen & kFree)  ? "pages free"
                              : !(seen & kMin) ? "min"
                              : !(seen & kLow) ? "low"
                                               : "high";
        return LineError(file_name, header_line,
                         absl::StrCat("node ", cur.node, " zone ", cur.zone, " has no '",
                                      missing, "'"));
      }
      cur.free_pages = cur.min_pages = cur.low_pages = cur.high_pages = 0;
    }
    out.push_back(std::move(cur));
    cur = ZoneInfo();
    return absl::OkStatus();
  };

  size_t n = 0;
  for (absl::string_view line : Lines(text)) {
    ++n;
    absl::string_view rest = line;
    const absl::string_view key = NextToken(rest);
    if (absl::StartsWith(line, "Node")) {
      if (absl::Status st = finish(); !st.ok()) return st;
      if (key != "Node") return LineError(file_name, n, "bad zone header");
      absl::string_view num = NextToken(rest);
      uint64_t node = 0;
      if (num.size() < 2 || num.back() != ',' ||
          !ParseDec(num.substr(0, num.size() - 1), &node)) {
        return LineError(file_name, n, absl::StrCat("bad node '", num, "'"));
      }
      if (node >= kMaxNode) {
        return LineError(file_name, n, absl::StrCat("node ", node, " out of range"));
      }
      if (NextToken(rest) != "zone") return LineError(file_name, n, "no 'zone' in header");
      const absl::string_view name = NextToken(rest);
      if (name.empty()) return LineError(file_name, n, "no zone name");
      if (!NextToken(rest).empty()) return LineError(file_name, n, "trailing text");
      if (out.size() >= kMaxZones) {
        return LineError(file_name, n, absl::StrCat("more than ", kMaxZones, " zones"));
      }
      cur.node = static_cast<int>(node);
      cur.zone = std::string(name);
      if (!zones_seen.emplace(cur.node, cur.zone).second) {
        return LineError(file_name, n,
                         absl::StrCat("node ", cur.node, " zone ", cur.zone, " listed twice"));
      }
      in_block = true;
      seen = 0;
      present = 0;
      header_line = n;
      block_lines = 0;
      continue;
    }
    if (!in_block) {
      if (key.empty()) continue;  // blank line
      return LineError(file_name, n, "text before the first 'Node N, zone NAME'");
    }
    ++block_lines;
    if (key == "protection:") {
      if (seen & kProtection) return LineError(file_name, n, "repeated protection");
      seen |= kProtection;
      absl::string_view list = absl::StripAsciiWhitespace(rest);
      if (list.size() < 3 || list.front() != '(' || list.back() != ')') {
        return LineError(file_name, n, "bad protection list");
      }
      list = list.substr(1, list.size() - 2);
      for (absl::string_view part : absl::StrSplit(list, ',')) {
        uint64_t v = 0;
        if (!ParseDec(absl::StripAsciiWhitespace(part), &v)) {
          return LineError(file_name, n,
                           absl::StrCat("bad protection value '", part, "'"));
        }
        if (v > kMaxPages) return LineError(file_name, n, "protection overflows");
        if (cur.protection_pages.size() >= kMaxProtection) {
          return LineError(file_name, n, "protection list too long");
        }
        cur.protection_pages.push_back(v);
      }
      continue;
    }
    unsigned bit = 0;
    uint64_t* dst = nullptr;
    absl::string_view what = key;
    if (key == "pages") {
      if (NextToken(rest) != "free") continue;  // not a count this parser uses
      bit = kFree, dst = &cur.free_pages, what = "pages free";
    } else if (key == "min") {
      bit = kMin, dst = &cur.min_pages;
    } else if (key == "low") {
      bit = kLow, dst = &cur.low_pages;
    } else if (key == "high") {
      bit = kHigh, dst = &cur.high_pages;
    } else if (key == "managed") {
      bit = kManaged, dst = &cur.managed_pages;
    } else if (key == "present") {
      bit = kPresent, dst = &present;
    } else {
      continue;  // stats, pagesets, spanned, boost, promo, cma, start_pfn, ...
    }
    if (seen & bit) return LineError(file_name, n, absl::StrCat("repeated ", what));
    seen |= bit;
    const absl::string_view value = NextToken(rest);
    if (!ParseDec(value, dst)) {
      return LineError(file_name, n, absl::StrCat("bad ", what, " '", value, "'"));
    }
    if (*dst > kMaxPages) return LineError(file_name, n, absl::StrCat(what, " overflows"));
    if (!NextToken(rest).empty()) return LineError(file_name, n, "trailing text");
  }
  if (absl::Status st = finish(); !st.ok()) return st;
  if (out.empty()) return LineError(file_name, n + 1, "no 'Node N, zone NAME' block");
  return out;
}

uint64_t UsableFreeBytes(absl::Span<const ZoneInfo> zones, int node) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  uint64_t total = 0;
  for (const ZoneInfo& z : zones) {
    if (z.node != node) continue;
    uint64_t reserve = 0;
    for (uint64_t p : z.protection_pages) reserve = std::max(reserve, p);
    // Saturating: parsed counts are bounded, but a caller's need not be.
    const uint64_t keep = z.low_pages > kMax - reserve ? kMax : z.low_pages + reserve;
    if (z.free_pages <= keep) continue;
    const uint64_t pages = z.free_pages - keep;
    const uint64_t bytes =
        pages > kMax / kZoneinfoPageBytes ? kMax : pages * kZoneinfoPageBytes;
    total = bytes > kMax - total ? kMax : total + bytes;
  }
  return total;
}

absl::StatusOr<std::vector<ZoneInfo>> ReadZoneinfo(const std::string& root) {
  const std::string path = root + "/proc/zoneinfo";
  absl::StatusOr<std::string> text = ReadFileBounded(path, kMaxZoneinfoBytes);
  if (!text.ok()) return text.status();
  return ParseZoneinfo(*text, path);
}

}  // namespace tiervm::adapters
