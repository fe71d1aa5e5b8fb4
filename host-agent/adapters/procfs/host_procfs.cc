#include "adapters/procfs/host_procfs.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tiervm::agent {

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int e = errno;
    if (e == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": not found"));
    return absl::InternalError(absl::StrCat(path, ": ", std::strerror(e)));
  }
  std::string s;
  char buf[4096];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    s.append(buf, static_cast<size_t>(in.gcount()));
    if (s.size() > max_bytes) {
      return absl::InternalError(absl::StrCat(path, ": larger than ", max_bytes, " bytes"));
    }
  }
  return s;
}

namespace {

absl::StatusOr<PsiLine> ParsePsiFields(absl::string_view rest,
                                       absl::string_view line) {
  PsiLine out;
  int seen = 0;
  for (absl::string_view f : absl::StrSplit(rest, ' ', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(f, '=');
    bool ok = true;
    if (kv.first == "avg10") { ok = absl::SimpleAtod(kv.second, &out.avg10); seen |= 1; }
    else if (kv.first == "avg60") { ok = absl::SimpleAtod(kv.second, &out.avg60); seen |= 2; }
    else if (kv.first == "avg300") { ok = absl::SimpleAtod(kv.second, &out.avg300); seen |= 4; }
    else if (kv.first == "total") { ok = absl::SimpleAtoi(kv.second, &out.total_us); seen |= 8; }
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("memory PSI: bad field '", std::string(f), "' in '",
                       std::string(line), "'"));
    }
  }
  if (seen != 15) {
    return absl::InvalidArgumentError(absl::StrCat(
        "memory PSI: missing avg10/avg60/avg300/total in '", std::string(line), "'"));
  }
  return out;
}

}  // namespace

absl::StatusOr<MemoryPsi> ParseMemoryPsi(absl::string_view text) {
  MemoryPsi psi;
  bool some = false;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    absl::string_view rest = line;
    if (absl::ConsumePrefix(&rest, "some ")) {
      absl::StatusOr<PsiLine> l = ParsePsiFields(rest, line);
      if (!l.ok()) return l.status();
      psi.some = *l;
      some = true;
    } else if (absl::ConsumePrefix(&rest, "full ")) {
      absl::StatusOr<PsiLine> l = ParsePsiFields(rest, line);
      if (!l.ok()) return l.status();
      psi.full = *l;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("memory PSI: unexpected line '", std::string(line), "'"));
    }
  }
  if (!some) return absl::InvalidArgumentError("memory PSI: no 'some' line");
  return psi;
}

absl::StatusOr<uint64_t> ParseNodeMemFreeBytes(absl::string_view text) {
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    // "Node 0 MemFree:         1234 kB"
    const size_t k = line.find("MemFree:");
    if (k == absl::string_view::npos) continue;
    absl::string_view rest = absl::StripAsciiWhitespace(line.substr(k + 8));
    if (!absl::ConsumeSuffix(&rest, " kB")) {
      return absl::InvalidArgumentError(
          absl::StrCat("node meminfo: MemFree without kB: '", std::string(line), "'"));
    }
    uint64_t kib = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(rest), &kib) ||
        kib > (UINT64_MAX >> 10)) {
      return absl::InvalidArgumentError(
          absl::StrCat("node meminfo: bad MemFree '", std::string(line), "'"));
    }
    return kib << 10;
  }
  return absl::InvalidArgumentError("node meminfo: no MemFree line");
}

std::string HostProcfs::Path(absl::string_view rel) const {
  std::string r = root_;
  while (!r.empty() && r.back() == '/') r.pop_back();
  return absl::StrCat(r, "/", std::string(rel));
}

absl::StatusOr<MemoryPsi> HostProcfs::ReadMemoryPsi() const {
  absl::StatusOr<std::string> t = ReadSmallFile(Path("proc/pressure/memory"));
  if (!t.ok()) return t.status();
  return ParseMemoryPsi(*t);
}

absl::StatusOr<uint64_t> HostProcfs::ReadFreeBytes(
    const std::vector<int>& nodes) const {
  uint64_t sum = 0;
  for (int n : nodes) {
    const std::string p =
        Path(absl::StrCat("sys/devices/system/node/node", n, "/meminfo"));
    absl::StatusOr<std::string> t = ReadSmallFile(p);
    if (!t.ok()) return t.status();
    absl::StatusOr<uint64_t> f = ParseNodeMemFreeBytes(*t);
    if (!f.ok()) return absl::InvalidArgumentError(absl::StrCat(p, ": ", f.status().message()));
    sum += *f;
  }
  return sum;
}

absl::StatusOr<KsmStats> HostProcfs::ReadKsm() const {
  KsmStats k;
  struct Field {
    const char* name;
    uint64_t* out;
  };
  uint64_t run = 0;
  const Field fields[] = {{"pages_shared", &k.pages_shared},
                          {"pages_sharing", &k.pages_sharing},
                          {"pages_unshared", &k.pages_unshared},
                          {"full_scans", &k.full_scans},
                          {"run", &run}};
  for (const Field& f : fields) {
    const std::string p = Path(absl::StrCat("sys/kernel/mm/ksm/", f.name));
    absl::StatusOr<std::string> t = ReadSmallFile(p);
    if (!t.ok()) return t.status();
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(*t), f.out)) {
      return absl::InvalidArgumentError(absl::StrCat(p, ": not a number"));
    }
  }
  k.running = run == 1;
  k.merged_bytes = k.pages_sharing * page_bytes_;
  return k;
}

}  // namespace tiervm::agent
