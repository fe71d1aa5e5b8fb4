// PerfSampleSource: PEBS memory-access samples through perf_event_open.
//
// One event per access kind (loads: L3-miss or load-latency loads; stores:
// all retired stores) is opened on every online CPU (pid -1, cpu N, all
// processes), each fd with its own mmap'ed ring.  Events are encoded for
// this CPU model by libpfm4 (pfm_get_os_event_encoding, PFM_OS_PERF_EVENT_EXT):
// the first name of each candidate list that this PMU knows is used.
// sample_type = TID | TIME | ADDR | WEIGHT; precise_ip is tried 2, then 1,
// then 0 (the kernel refuses a precision the PMU lacks with EINVAL or
// EOPNOTSUPP).  Intel PEBS only; AMD IBS (a different PMU with its own
// record format) is not implemented: on AMD, Open fails with
// FailedPrecondition naming the missing events and "auto" uses the
// accessed-bit source.
//
// Read drains every ring: for each, data_head is read with acquire
// semantics, the records in [data_tail, data_head) are parsed
// (perf_record_parser.h), then data_tail is stored with release semantics
// so the kernel may reuse the space.  A corrupt ring is logged in stats,
// skipped up to data_head, and reading continues (one bad ring does not
// break the source).  Samples without an address (addr 0) or with pid 0
// are dropped.  Sample::time_ns is perf's clock (CLOCK_MONOTONIC via
// use_clockid); weight = 1 per sample (each stands for `period` accesses,
// the same for every sample, so ratios are right).
//
// SetSamplePeriod changes every event's period (PERF_EVENT_IOC_PERIOD) for
// the BudgetController.
//
// The syscalls are behind PerfEventOps (LinuxPerfEventOps for real, a fake
// with in-memory rings in tests) and the encoding behind PerfEventEncoder
// (LibpfmEncoder).  Not thread-safe; the source owns its fds and mappings.
#ifndef TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_PERF_SOURCE_H_
#define TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_PERF_SOURCE_H_

#include <linux/perf_event.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "daemon/adapters/perf_record_parser.h"
#include "placement/sample_source.h"
#include "placement/types.h"

namespace tiervm::adapters {

// ------------------------------------------------------------------ ring --

// One perf mmap region: a metadata page (struct perf_event_mmap_page) then
// `data_bytes` (power of two) of records.  Borrows the memory.
class PerfRing {
 public:
  PerfRing(void* base, size_t page_bytes, size_t data_bytes);
  // Parses every record the kernel published and releases the space.
  // Returns the parse status; on a parse error the tail still moves to
  // head (the framing is lost) and `*dropped_bytes` counts what was skipped.
  absl::Status Drain(const PerfSampleFormat& format, PerfRecordSink& sink,
                     uint64_t* dropped_bytes);
  perf_event_mmap_page* meta() const { return meta_; }
  size_t data_bytes() const { return data_bytes_; }

 private:
  perf_event_mmap_page* meta_;
  const uint8_t* data_;
  size_t data_bytes_;
  std::vector<uint8_t> scratch_;
};

// ------------------------------------------------------------- syscalls --

class PerfEventOps {
 public:
  virtual ~PerfEventOps() = default;
  // perf_event_open(attr, pid -1, cpu, -1, PERF_FLAG_FD_CLOEXEC); -errno
  // mapped to Status with the errno in the message (ENOENT, EOPNOTSUPP,
  // EINVAL, EACCES...).  The errno is also returned through *err if given.
  virtual absl::StatusOr<int> Open(const perf_event_attr& attr, int cpu, int* err) = 0;
  // mmap(fd) of `bytes` (metadata page + data), PROT_READ|PROT_WRITE.
  virtual absl::StatusOr<void*> Map(int fd, size_t bytes) = 0;
  virtual void Unmap(void* addr, size_t bytes) = 0;
  virtual absl::Status SetPeriod(int fd, uint64_t period) = 0;
  virtual absl::Status Enable(int fd) = 0;
  virtual void Close(int fd) = 0;
  // Online CPU ids.
  virtual absl::StatusOr<std::vector<int>> OnlineCpus() = 0;
};

class LinuxPerfEventOps final : public PerfEventOps {
 public:
  absl::StatusOr<int> Open(const perf_event_attr& attr, int cpu, int* err) override;
  absl::StatusOr<void*> Map(int fd, size_t bytes) override;
  void Unmap(void* addr, size_t bytes) override;
  absl::Status SetPeriod(int fd, uint64_t period) override;
  absl::Status Enable(int fd) override;
  void Close(int fd) override;
  absl::StatusOr<std::vector<int>> OnlineCpus() override;
};

// Event name -> perf_event_attr (type, config, config1...) for this CPU.
class PerfEventEncoder {
 public:
  virtual ~PerfEventEncoder() = default;
  virtual absl::StatusOr<perf_event_attr> Encode(const std::string& name) = 0;
};

// libpfm4.  pfm_initialize once per process; NotFound for an event this
// PMU does not have, FailedPrecondition when libpfm finds no usable PMU.
class LibpfmEncoder final : public PerfEventEncoder {
 public:
  absl::StatusOr<perf_event_attr> Encode(const std::string& name) override;
};

// ---------------------------------------------------------------- source --

struct PerfSourceOptions {
  // Candidates per kind, first encodable wins (libpfm4 names).
  std::vector<std::string> load_events = {
      "MEM_LOAD_RETIRED:L3_MISS",                 // Skylake and later
      "MEM_LOAD_UOPS_RETIRED:L3_MISS",            // Haswell, Broadwell
      "MEM_TRANS_RETIRED:LOAD_LATENCY:ldlat=64",  // load latency >= 64 cycles
  };
  std::vector<std::string> store_events = {
      "MEM_INST_RETIRED:ALL_STORES",  // Skylake and later
      "MEM_UOPS_RETIRED:ALL_STORES",  // Haswell, Broadwell
  };
  bool stores = true;              // also sample stores
  uint64_t sample_period = 4093;   // odd (BudgetController keeps it so)
  size_t ring_data_pages = 64;     // per fd, power of two
  int max_precise_ip = 2;
  // CPUs to open on; empty = every online CPU.
  std::vector<int> cpus;
};

struct PerfSourceStats {
  uint64_t samples = 0;         // delivered
  uint64_t dropped_no_addr = 0; // addr 0 or pid 0
  uint64_t lost = 0;            // PERF_RECORD_LOST totals
  uint64_t throttles = 0;
  uint64_t unthrottles = 0;
  uint64_t other_records = 0;
  uint64_t corrupt_rings = 0;   // drains that hit a parse error
  uint64_t dropped_bytes = 0;   // skipped after a parse error
};

class PerfSampleSource final : public placement::SampleSource {
 public:
  // Encodes the events, opens them on every CPU, maps the rings and
  // enables them.  FailedPrecondition "no usable PMU: ..." when no event
  // can be encoded or opened (no PMU, a VM without PMU passthrough,
  // perf_event_paranoid); `ops` and `encoder` are borrowed.
  static absl::StatusOr<std::unique_ptr<PerfSampleSource>> Open(
      PerfEventOps* ops, PerfEventEncoder* encoder, PerfSourceOptions options);
  ~PerfSampleSource() override;
  PerfSampleSource(const PerfSampleSource&) = delete;
  PerfSampleSource& operator=(const PerfSampleSource&) = delete;

  // New period for every event (InvalidArgument for 0).
  absl::Status SetSamplePeriod(uint64_t period);
  uint64_t sample_period() const { return options_.sample_period; }

  // A line for the log: events, precise_ip, CPUs.
  const std::string& description() const { return description_; }
  const PerfSourceStats& stats() const { return stats_; }

  absl::StatusOr<size_t> Read(absl::Span<placement::Sample> out) override;
  bool Exhausted() const override { return false; }

  // The sample_type every event uses.
  static constexpr uint64_t kSampleType =
      PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_ADDR | PERF_SAMPLE_WEIGHT;

 private:
  struct Event {
    int fd = -1;
    int cpu = 0;
    placement::AccessKind kind = placement::AccessKind::kLoad;
    void* map = nullptr;
    size_t map_bytes = 0;
    std::unique_ptr<PerfRing> ring;
  };
  class Collector;
  PerfSampleSource(PerfEventOps* ops, PerfSourceOptions options, PerfSampleFormat format);
  void CloseAll();

  PerfEventOps* ops_;
  PerfSourceOptions options_;
  PerfSampleFormat format_;
  std::vector<Event> events_;
  std::string description_;
  // Samples parsed but not yet delivered (bounded by the rings' size).
  std::vector<placement::Sample> pending_;
  size_t pending_pos_ = 0;
  PerfSourceStats stats_;
};

}  // namespace tiervm::adapters

#endif  // TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_PERF_SOURCE_H_
