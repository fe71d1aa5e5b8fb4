#include "adapters/procfs/numa_maps.h"

#include <limits>
#include <map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "adapters/procfs/host_procfs.h"

namespace tiervm::agent {
namespace {

constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();

bool IsNodeField(absl::string_view tok) {
  return tok.size() >= 2 && tok[0] == 'N' && absl::ascii_isdigit(tok[1]);
}

// Error text for one line: the line itself, cut so that a huge garbage
// line does not end up whole in a log.
std::string LineError(absl::string_view why, absl::string_view line) {
  constexpr size_t kShown = 120;
  return absl::StrCat("numa_maps: ", why, " in '", line.substr(0, kShown),
                      line.size() > kShown ? "...'" : "'");
}

// One mapping line -> (node, bytes) pairs, or the reason it is unreadable.
absl::StatusOr<std::vector<std::pair<int, uint64_t>>> ParseLine(absl::string_view line) {
  std::vector<absl::string_view> tok = absl::StrSplit(line, ' ', absl::SkipEmpty());
  uint64_t address = 0;
  if (tok.size() < 2 || !absl::SimpleHexAtoi(tok[0], &address)) {
    return absl::InvalidArgumentError(LineError("no address and policy", line));
  }
  // The kernel prints the node counts last but for the page size, after
  // any file= path; reading from the end keeps a path with spaces (which
  // the kernel does not escape) out of the node counts.
  size_t end = tok.size();
  uint64_t page_kib = 0;
  if (absl::StartsWith(tok[end - 1], "kernelpagesize_kB=")) {
    if (!absl::SimpleAtoi(tok[end - 1].substr(18), &page_kib) || page_kib == 0 ||
        page_kib > (kU64Max >> 10)) {
      return absl::InvalidArgumentError(LineError("bad kernelpagesize_kB", line));
    }
    --end;
  }
  std::vector<std::pair<int, uint64_t>> out;
  for (size_t i = end; i > 2 && IsNodeField(tok[i - 1]); --i) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(tok[i - 1], '=');
    int node = 0;
    uint64_t pages = 0;
    if (!absl::SimpleAtoi(kv.first.substr(1), &node) || node < 0 || node > kMaxNumaNode ||
        !absl::SimpleAtoi(kv.second, &pages)) {
      return absl::InvalidArgumentError(LineError("bad node field", line));
    }
    out.emplace_back(node, pages);
  }
  if (out.empty()) return out;  // nothing resident in this mapping
  if (page_kib == 0) {
    return absl::InvalidArgumentError(LineError("node counts without kernelpagesize_kB", line));
  }
  const uint64_t page_bytes = page_kib << 10;
  for (auto& [node, v] : out) {
    if (v > kU64Max / page_bytes) {
      return absl::InvalidArgumentError(LineError("page count overflows", line));
    }
    v *= page_bytes;
  }
  return out;
}

}  // namespace

absl::StatusOr<NumaResidency> ParseNumaMaps(absl::string_view text) {
  if (text.size() > kMaxNumaMapsBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("numa_maps: ", text.size(), " bytes, more than ", kMaxNumaMapsBytes));
  }
  NumaResidency r;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipWhitespace())) {
    absl::StatusOr<std::vector<std::pair<int, uint64_t>>> fields = ParseLine(line);
    bool ok = fields.ok();
    if (ok) {
      // Sums checked before any is applied: a line adds whole or not at all.
      for (const auto& [node, bytes] : *fields) {
        if (bytes > kU64Max - r.node_bytes[node]) ok = false;
      }
      if (!ok) fields = absl::InvalidArgumentError(LineError("node total overflows", line));
    }
    if (!ok) {
      if (r.skipped_lines++ == 0) r.first_error = std::string(fields.status().message());
      continue;
    }
    ++r.lines;
    for (const auto& [node, bytes] : *fields) r.node_bytes[node] += bytes;
  }
  // Drop the zero entries the overflow check created.
  std::erase_if(r.node_bytes, [](const auto& kv) { return kv.second == 0; });
  if (r.lines == 0 && r.skipped_lines > 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("numa_maps: no readable line (", r.skipped_lines,
                     " malformed); first: ", r.first_error));
  }
  return r;
}

absl::StatusOr<NumaResidency> ProcfsNumaMapsReader::Read(int pid) {
  if (pid <= 0) return absl::InvalidArgumentError(absl::StrCat("numa_maps: bad pid ", pid));
  std::string r = root_;
  while (!r.empty() && r.back() == '/') r.pop_back();
  absl::StatusOr<std::string> text =
      ReadSmallFile(absl::StrCat(r, "/proc/", pid, "/numa_maps"), kMaxNumaMapsBytes);
  if (!text.ok()) return text.status();
  return ParseNumaMaps(*text);
}

}  // namespace tiervm::agent
