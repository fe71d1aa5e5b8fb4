// Fuzz target for the /proc/PID/maps parser (and the other procfs parsers,
// /proc/zoneinfo included, selected by the first byte).
//
// Properties checked on every input:
//   - no parser crashes, whatever the bytes (ASan/UBSan builds catch
//     out-of-bounds reads and overflow);
//   - an error names the file and a line ("<file>:<n>: ...");
//   - accepted maps are ascending, disjoint, non-empty and page aligned,
//     and the placeable VMAs are a subset of them inside the user limit.
// Build with clang -fsanitize=fuzzer for libFuzzer, or link
// fuzz_driver_main.cc for the deterministic ctest run.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "daemon/adapters/procfs.h"

namespace {

void Fail(const char* what) {
  std::fprintf(stderr, "maps_parser_fuzz: %s\n", what);
  std::abort();
}

void CheckError(const absl::Status& st, const char* file) {
  if (!absl::StartsWith(st.message(), std::string(file) + ":")) Fail("error without file:line");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tiervm::adapters;
  const absl::string_view all(reinterpret_cast<const char*>(data), size);
  const uint8_t selector = size > 0 ? data[0] : 0;
  const absl::string_view text = size > 0 ? all.substr(1) : all;
  switch (selector % 8) {
    case 1: {
      auto p = ParsePressure(text, "psi");
      if (!p.ok()) CheckError(p.status(), "psi");
      return 0;
    }
    case 2: {
      auto m = ParseNodeMeminfo(text, "mi", 1);
      if (!m.ok()) {
        CheckError(m.status(), "mi");
      } else if (m->free_bytes > m->total_bytes) {
        Fail("MemFree > MemTotal accepted");
      }
      return 0;
    }
    case 3: {
      bool kthread = false;
      auto s = ParseStat(text, "stat", &kthread);
      if (!s.ok()) CheckError(s.status(), "stat");
      else if (s->pid <= 0) Fail("non-positive pid accepted");
      auto n = ParseNodeList(text, "nl");
      if (!n.ok()) CheckError(n.status(), "nl");
      return 0;
    }
    case 4: {
      auto z = ParseZoneinfo(text, "zi");
      if (!z.ok()) {
        CheckError(z.status(), "zi");
        return 0;
      }
      if (z->empty()) Fail("zoneinfo without zones accepted");
      for (const ZoneInfo& zone : *z) {
        if (zone.node < 0 || zone.node >= 1024) Fail("zoneinfo node out of range accepted");
        if (zone.free_pages > UINT64_MAX / 4096) Fail("zoneinfo free pages overflow bytes");
        // Every zone's usable part is at most its free pages: the node's
        // usable bytes never exceed its free bytes (both sums saturate).
        uint64_t free_bytes = 0;
        for (const ZoneInfo& o : *z) {
          if (o.node != zone.node) continue;
          const uint64_t b = o.free_pages * 4096;
          free_bytes = b > UINT64_MAX - free_bytes ? UINT64_MAX : free_bytes + b;
        }
        if (UsableFreeBytes(*z, zone.node) > free_bytes) Fail("usable exceeds free");
      }
      return 0;
    }
    default:
      break;
  }
  auto maps = ParseMaps(text, "maps");
  if (!maps.ok()) {
    CheckError(maps.status(), "maps");
    return 0;
  }
  for (size_t i = 0; i < maps->size(); ++i) {
    const MapsEntry& e = (*maps)[i];
    if (e.start >= e.end) Fail("empty entry accepted");
    if (e.start % 4096 != 0 || e.end % 4096 != 0) Fail("unaligned entry accepted");
    if (i > 0 && e.start < (*maps)[i - 1].end) Fail("overlap accepted");
  }
  for (bool file_backed : {false, true}) {
    for (bool shared : {false, true}) {
      PlaceOptions opt{file_backed, shared};
      auto vmas = PlaceableVmas(*maps, opt);
      size_t j = 0;
      for (const auto& v : vmas) {
        if (v.end > tiervm::placement::kUserVaddrLimit) Fail("VMA above the user limit");
        while (j < maps->size() && ((*maps)[j].start != v.start || (*maps)[j].end != v.end)) ++j;
        if (j == maps->size()) Fail("placeable VMA not among the entries, or out of order");
        ++j;
      }
    }
  }
  return 0;
}
