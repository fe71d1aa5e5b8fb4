// procfs/sysfs readers for hplaced: VMAs (/proc/PID/maps), the process list
// (/proc/[0-9]*), memory pressure (/proc/pressure/memory) and per-node
// meminfo (/sys/devices/system/node/nodeN/meminfo) and the per-zone
// watermarks and reserves (/proc/zoneinfo).
//
// Parsers take the text and the file name it came from; readers take a
// `root` ("/" in production, a fixture tree in tests) and read the file
// with a size bound.  Malformed input is an absl::Status naming the file and
// line ("<file>:<line>: ..."), never a crash or a CHECK.  A process that
// exits while being read is NotFound.  Reentrant; no state.
#ifndef TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_PROCFS_H_
#define TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_PROCFS_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "placement/types.h"

namespace tiervm::adapters {

using placement::Pid;
using placement::Vaddr;
using placement::Vma;

// ---------------------------------------------------------------- maps --

enum class MapKind : uint8_t {
  kAnonymous,  // no path, or a named anonymous area "[anon:name]"
  kHeap,       // [heap]
  kStack,      // [stack] (or the old per-thread "[stack:TID]")
  kFile,       // a path ("/..."), possibly " (deleted)": memfd, SysV shm too
  kSpecial,    // [vdso], [vvar], [vsyscall], [uprobes], anon_inode:..., ...
};

struct MapsEntry {
  Vaddr start = 0;
  Vaddr end = 0;
  bool read = false, write = false, exec = false;
  bool shared = false;  // 's' (else 'p', private)
  uint64_t offset = 0;
  uint32_t dev_major = 0, dev_minor = 0;
  uint64_t inode = 0;
  std::string path;      // without the " (deleted)" suffix
  bool deleted = false;  // the path ended in " (deleted)"
  MapKind kind = MapKind::kAnonymous;
};

// At most this many entries per file (the kernel's default
// vm.max_map_count is 65530): bounds memory on hostile input.
inline constexpr size_t kMaxMapsEntries = 1 << 20;
// Bound for reading any one procfs/sysfs file.
inline constexpr size_t kMaxProcFileBytes = 256ull << 20;

// Parses the whole text of a maps file.  Entries must be ascending and
// disjoint, page-aligned and non-empty, as the kernel writes them.
// InvalidArgument "<file_name>:<line>: <reason>" otherwise.  An empty file
// (a kernel thread or a zombie) gives an empty list.
absl::StatusOr<std::vector<MapsEntry>> ParseMaps(absl::string_view text,
                                                 absl::string_view file_name);

// Which areas are worth placing.  Guard pages (no access), special areas
// and anything above the user address limit are never placed.
struct PlaceOptions {
  // Private file-backed areas (text, data, read-only file mappings).  Off:
  // page cache is the kernel's to place, and clean pages are cheap to drop.
  bool file_backed = false;
  // Shared areas: MAP_SHARED|MAP_ANONYMOUS ("/dev/zero (deleted)"), memfd,
  // SysV shm.  Off: move_pages with MPOL_MF_MOVE skips pages mapped by more
  // than one process anyway.
  bool shared = false;
};
bool IsPlaceable(const MapsEntry& e, const PlaceOptions& options);

// The placeable entries as the VMA list RangeTracker::SetVmas takes
// (ascending, disjoint).
std::vector<Vma> PlaceableVmas(const std::vector<MapsEntry>& entries,
                               const PlaceOptions& options = {});

// Reads and parses <root>/proc/<pid>/maps.
absl::StatusOr<std::vector<MapsEntry>> ReadMaps(const std::string& root, Pid pid);

// ------------------------------------------------------------ processes --

struct ProcessInfo {
  Pid pid = 0;
  Pid ppid = 0;
  std::string comm;
  char state = '?';
  // Fields 22 and 23, 0 when the line ends before them: together with the
  // pid they tell a process whose maps may have changed (vsize moved) or a
  // reused pid (start time moved) from one that did not.
  uint64_t start_time_ticks = 0;  // clock ticks after boot
  uint64_t vsize_bytes = 0;
  friend bool operator==(const ProcessInfo&, const ProcessInfo&) = default;
};

// Parses /proc/PID/stat ("pid (comm) state ppid pgrp ... flags ...").  The
// comm may hold spaces and parentheses: it ends at the last ')'.
// `kernel_thread` is set from PF_KTHREAD in the flags field.
absl::StatusOr<ProcessInfo> ParseStat(absl::string_view text, absl::string_view file_name,
                                      bool* kernel_thread);

struct ProcessFilter {
  absl::flat_hash_set<std::string> deny_comms;  // exact comm (<= 15 chars)
  absl::flat_hash_set<Pid> deny_pids;           // e.g. the daemon itself
  // Pids a previous listing found to be kernel threads: counted as kernel
  // threads without reading their stat (most of a guest's pids; a pid is
  // reused only after pid_max wraps, and the caller lists without this set
  // from time to time).
  absl::flat_hash_set<Pid> known_kernel_threads;
};

struct ProcessListing {
  std::vector<ProcessInfo> processes;  // ascending pid
  size_t kernel_threads = 0;           // skipped
  size_t denied = 0;                   // skipped by the filter
  size_t zombies = 0;                  // state Z or X: no memory to place
  size_t vanished = 0;                 // exited while listing
  std::vector<Pid> kernel_thread_pids;  // ascending; known ones included
  // One bad /proc/PID/stat does not hide the other processes: it is skipped
  // and its error kept here (at most kMaxListingErrors).
  std::vector<absl::Status> errors;
};
inline constexpr size_t kMaxListingErrors = 16;

// Lists <root>/proc/[0-9]*.  Fails only when <root>/proc cannot be read.
absl::StatusOr<ProcessListing> ListProcesses(const std::string& root,
                                             const ProcessFilter& filter);

// ------------------------------------------------------------- pressure --

struct PsiLine {
  double avg10 = 0, avg60 = 0, avg300 = 0;  // percent of wall time
  uint64_t total_us = 0;                    // cumulative stall, microseconds
};

struct MemoryPressure {
  PsiLine some;
  PsiLine full;
  bool has_full = false;
};

// Parses /proc/pressure/memory: a "some" line (required) and a "full" line,
// each with avg10=, avg60=, avg300=, total= (unknown keys are ignored).
absl::StatusOr<MemoryPressure> ParsePressure(absl::string_view text,
                                             absl::string_view file_name);
absl::StatusOr<MemoryPressure> ReadMemoryPressure(const std::string& root);

// -------------------------------------------------------------- meminfo --

struct NodeMeminfo {
  int node = 0;
  uint64_t total_bytes = 0;  // MemTotal
  uint64_t free_bytes = 0;   // MemFree
  uint64_t used_bytes = 0;   // MemUsed (total - free when absent)
  uint64_t active_bytes = 0, inactive_bytes = 0;
  uint64_t anon_bytes = 0, file_bytes = 0;  // AnonPages, FilePages
  // Every field: "kB" values in bytes, plain counts (HugePages_*) as they are.
  absl::flat_hash_map<std::string, uint64_t> fields;
  // Free memory a movable user allocation on this node can take before the
  // page allocator refuses it (see UsableFreeBytes); unset when
  // /proc/zoneinfo was not read.  Less than free_bytes: ZONE_DMA's free
  // pages are held back by the lowmem reserve, and every zone keeps its
  // low watermark.
  std::optional<uint64_t> usable_free_bytes;
};

// Parses nodeN/meminfo ("Node N Key:  value [kB]").  Every line must name
// `node`; MemTotal and MemFree are required.
absl::StatusOr<NodeMeminfo> ParseNodeMeminfo(absl::string_view text,
                                             absl::string_view file_name, int node);
absl::StatusOr<NodeMeminfo> ReadNodeMeminfo(const std::string& root, int node);

// Parses a node list such as "0-1,3\n" (sysfs "online"/"has_memory").
absl::StatusOr<std::vector<int>> ParseNodeList(absl::string_view text,
                                               absl::string_view file_name);
// <root>/sys/devices/system/node/online.
absl::StatusOr<std::vector<int>> ReadOnlineNodes(const std::string& root);

// ------------------------------------------------------------- zoneinfo --

// One "Node N, zone NAME" block of /proc/zoneinfo.  Every count is in pages
// of 4 KiB (the kernel's PAGE_SIZE on x86-64), as the file gives them.
struct ZoneInfo {
  int node = 0;
  std::string zone;  // "DMA", "DMA32", "Normal", "Movable", "Device", ...
  uint64_t free_pages = 0;     // "pages free"
  uint64_t min_pages = 0;      // "min" watermark
  uint64_t low_pages = 0;      // "low" watermark (kswapd wakes below it)
  uint64_t high_pages = 0;     // "high" watermark (kswapd stops above it)
  uint64_t managed_pages = 0;  // "managed" (0 when absent)
  // "protection: (a, b, ...)": lowmem_reserve[i], the pages this zone keeps
  // back from an allocation whose highest usable zone has index i.  Empty
  // when the block has no protection line.
  std::vector<uint64_t> protection_pages;
  friend bool operator==(const ZoneInfo&, const ZoneInfo&) = default;
};

// Bytes per page in /proc/zoneinfo counts.
inline constexpr uint64_t kZoneinfoPageBytes = 4096;
// Bound for reading /proc/zoneinfo (~100 KiB per node on big machines).
inline constexpr size_t kMaxZoneinfoBytes = 4u << 20;

// Parses the whole text of /proc/zoneinfo: every "Node N, zone NAME" block
// with its "pages free", "min", "low", "high", "managed" and "protection:"
// lines; every other line (per-node and per-zone nr_* stats, "spanned",
// "present", "boost", "promo", "cma", pagesets, "start_pfn:", ...) is
// skipped.  A block needs pages free/min/low/high unless it is an empty
// zone: it says "present 0" or "managed 0", or it is the bare header line;
// such a block gets zeros.  InvalidArgument "<file_name>:<line>: <reason>"
// for text before the first header, a bad header, a node outside 0..1023,
// a zone listed twice, a key repeated in a block, a non-numeric value, a
// count that overflows when taken as bytes, a block missing a required
// key, and a text with no zone at all.
absl::StatusOr<std::vector<ZoneInfo>> ParseZoneinfo(absl::string_view text,
                                                    absl::string_view file_name);

// Bytes a movable user allocation (a move_pages/migration target, a page
// fault) can take from `node`'s zones before the page allocator's fast path
// refuses it: the sum over the node's zones of
//   max(0, free - low - max(protection)) * 4096   (saturating).
// Why not MemFree: the allocator takes a page from a zone only while the
// zone keeps more than its watermark plus lowmem_reserve[class zone] free
// pages.  A movable allocation's class zone is the highest one (Movable or
// Normal), whose reserve in every lower zone is the largest entry of that
// zone's protection array: ZONE_DMA's ~15 MiB free on a small node is
// therefore out of reach.  The fast path checks the low watermark; below it
// the allocation wakes kswapd and goes to the slow path (min watermark,
// direct reclaim), where a node with no swap and mostly anonymous memory
// has nothing to reclaim and a __GFP_THISNODE migration target fails with
// ENOMEM -- and pushing the FMEM node into reclaim would evict the very
// pages placed there.  Zones of other nodes are ignored; 0 when `node` has
// none.
uint64_t UsableFreeBytes(absl::Span<const ZoneInfo> zones, int node);

// Reads (at most kMaxZoneinfoBytes) and parses <root>/proc/zoneinfo.
absl::StatusOr<std::vector<ZoneInfo>> ReadZoneinfo(const std::string& root);

}  // namespace tiervm::adapters

#endif  // TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_PROCFS_H_
