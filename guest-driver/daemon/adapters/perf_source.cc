#include "daemon/adapters/perf_source.h"

#include <errno.h>
#include <perfmon/pfmlib_perf_event.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "daemon/adapters/file_util.h"
#include "daemon/adapters/procfs.h"

namespace tiervm::adapters {

namespace {

absl::Status ErrnoStatus(int err, const std::string& what) {
  std::string msg = absl::StrCat(what, ": ", std::string(strerror(err)), " (errno ", err, ")");
  switch (err) {
    case ENOENT:
    case ENODEV:
    case EOPNOTSUPP:
      return absl::FailedPreconditionError(msg);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(msg);
    case EINVAL:
      return absl::InvalidArgumentError(msg);
    case EMFILE:
    case ENOMEM:
      return absl::ResourceExhaustedError(msg);
    default:
      return absl::InternalError(msg);
  }
}

}  // namespace

// ------------------------------------------------------------------ ring --

PerfRing::PerfRing(void* base, size_t page_bytes, size_t data_bytes)
    : meta_(static_cast<perf_event_mmap_page*>(base)),
      data_(static_cast<const uint8_t*>(base) + page_bytes),
      data_bytes_(data_bytes) {}

absl::Status PerfRing::Drain(const PerfSampleFormat& format, PerfRecordSink& sink,
                             uint64_t* dropped_bytes) {
  // Pairs with the kernel's release store of data_head: the records before
  // head are fully written once we see it.
  const uint64_t head = __atomic_load_n(&meta_->data_head, __ATOMIC_ACQUIRE);
  const uint64_t tail = __atomic_load_n(&meta_->data_tail, __ATOMIC_RELAXED);
  PerfParseResult res;
  absl::Status s = ParsePerfRing(absl::MakeConstSpan(data_, data_bytes_), tail, head, format,
                                 sink, &res, &scratch_);
  if (!s.ok() && dropped_bytes != nullptr) {
    *dropped_bytes += head >= tail + res.consumed ? head - tail - res.consumed : 0;
  }
  // Our reads of the records happen before the kernel may overwrite them.
  __atomic_store_n(&meta_->data_tail, head, __ATOMIC_RELEASE);
  return s;
}

// ------------------------------------------------------------- syscalls --

absl::StatusOr<int> LinuxPerfEventOps::Open(const perf_event_attr& attr, int cpu, int* err) {
  perf_event_attr a = attr;
  a.size = sizeof(a);
  long fd = syscall(SYS_perf_event_open, &a, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    if (err) *err = e;
    return ErrnoStatus(e, absl::StrCat("perf_event_open(cpu ", cpu, ")"));
  }
  if (err) *err = 0;
  return static_cast<int>(fd);
}

absl::StatusOr<void*> LinuxPerfEventOps::Map(int fd, size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return ErrnoStatus(errno, "mmap(perf ring)");
  return p;
}

void LinuxPerfEventOps::Unmap(void* addr, size_t bytes) { munmap(addr, bytes); }

absl::Status LinuxPerfEventOps::SetPeriod(int fd, uint64_t period) {
  if (ioctl(fd, PERF_EVENT_IOC_PERIOD, &period) != 0) {
    return ErrnoStatus(errno, "PERF_EVENT_IOC_PERIOD");
  }
  return absl::OkStatus();
}

absl::Status LinuxPerfEventOps::Enable(int fd) {
  if (ioctl(fd, PERF_EVENT_IOC_ENABLE, 0) != 0) return ErrnoStatus(errno, "PERF_EVENT_IOC_ENABLE");
  return absl::OkStatus();
}

void LinuxPerfEventOps::Close(int fd) { close(fd); }

absl::StatusOr<std::vector<int>> LinuxPerfEventOps::OnlineCpus() {
  const std::string path = "/sys/devices/system/cpu/online";
  absl::StatusOr<std::string> text = ReadFileBounded(path, 4096);
  if (!text.ok()) return text.status();
  return ParseNodeList(*text, path);
}

absl::StatusOr<perf_event_attr> LibpfmEncoder::Encode(const std::string& name) {
  static std::once_flag once;
  static int init_rc = PFM_SUCCESS;
  std::call_once(once, [] { init_rc = pfm_initialize(); });
  if (init_rc != PFM_SUCCESS) {
    return absl::FailedPreconditionError(
        absl::StrCat("libpfm4: pfm_initialize: ", std::string(pfm_strerror(init_rc))));
  }
  perf_event_attr attr;
  std::memset(&attr, 0, sizeof(attr));
  pfm_perf_encode_arg_t arg;
  std::memset(&arg, 0, sizeof(arg));
  arg.attr = &attr;
  arg.size = sizeof(arg);
  // User-level accesses only (PLM3): the daemon places user memory.
  int rc = pfm_get_os_event_encoding(name.c_str(), PFM_PLM3, PFM_OS_PERF_EVENT_EXT, &arg);
  if (rc != PFM_SUCCESS) {
    std::string msg = absl::StrCat("libpfm4: ", name, ": ", std::string(pfm_strerror(rc)));
    if (rc == PFM_ERR_NOTFOUND || rc == PFM_ERR_ATTR || rc == PFM_ERR_UMASK) {
      return absl::NotFoundError(msg);
    }
    return absl::FailedPreconditionError(msg);
  }
  attr.size = sizeof(attr);
  return attr;
}

// ---------------------------------------------------------------- source --

class PerfSampleSource::Collector final : public PerfRecordSink {
 public:
  Collector(std::vector<placement::Sample>* out, PerfSourceStats* stats)
      : out_(out), stats_(stats) {}
  placement::AccessKind kind = placement::AccessKind::kLoad;

  void OnSample(const PerfSample& s) override {
    if (s.addr == 0 || s.pid == 0 || s.addr >= placement::kUserVaddrLimit) {
      ++stats_->dropped_no_addr;
      return;
    }
    out_->push_back(placement::Sample{static_cast<placement::Pid>(s.pid), s.addr, kind, 1,
                                      static_cast<int64_t>(s.time_ns)});
  }
  void OnLost(uint64_t, uint64_t lost) override { stats_->lost += lost; }
  void OnThrottle(uint64_t, bool throttled) override {
    ++(throttled ? stats_->throttles : stats_->unthrottles);
  }
  void OnOther(uint32_t) override { ++stats_->other_records; }

 private:
  std::vector<placement::Sample>* out_;
  PerfSourceStats* stats_;
};

PerfSampleSource::PerfSampleSource(PerfEventOps* ops, PerfSourceOptions options,
                                   PerfSampleFormat format)
    : ops_(ops), options_(std::move(options)), format_(format) {}

PerfSampleSource::~PerfSampleSource() { CloseAll(); }

void PerfSampleSource::CloseAll() {
  for (Event& e : events_) {
    e.ring.reset();
    if (e.map != nullptr) ops_->Unmap(e.map, e.map_bytes);
    if (e.fd >= 0) ops_->Close(e.fd);
  }
  events_.clear();
}

absl::StatusOr<std::unique_ptr<PerfSampleSource>> PerfSampleSource::Open(
    PerfEventOps* ops, PerfEventEncoder* encoder, PerfSourceOptions options) {
  if (ops == nullptr || encoder == nullptr) {
    return absl::InvalidArgumentError("perf source: ops and encoder are required");
  }
  const size_t pages = options.ring_data_pages;
  if (pages == 0 || (pages & (pages - 1)) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("perf source: ring_data_pages ", pages, " is not a power of two"));
  }
  if (options.sample_period == 0) {
    return absl::InvalidArgumentError("perf source: sample_period must be > 0");
  }
  absl::StatusOr<PerfSampleFormat> format = PerfSampleFormat::Create(kSampleType);
  if (!format.ok()) return format.status();

  std::vector<int> cpus = options.cpus;
  if (cpus.empty()) {
    absl::StatusOr<std::vector<int>> online = ops->OnlineCpus();
    if (!online.ok()) return online.status();
    cpus = *online;
  }
  if (cpus.empty()) return absl::FailedPreconditionError("perf source: no online CPU");

  // Encode: the first candidate this PMU knows, per kind.
  struct Chosen {
    placement::AccessKind kind;
    std::string name;
    perf_event_attr attr;
  };
  std::vector<Chosen> chosen;
  std::vector<std::string> errors;
  auto pick = [&](const std::vector<std::string>& names, placement::AccessKind kind) {
    for (const std::string& name : names) {
      absl::StatusOr<perf_event_attr> attr = encoder->Encode(name);
      if (attr.ok()) {
        chosen.push_back(Chosen{kind, name, *attr});
        return true;
      }
      errors.push_back(std::string(attr.status().message()));
    }
    return false;
  };
  if (!pick(options.load_events, placement::AccessKind::kLoad)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no usable PMU: no load event is known for this CPU (",
        absl::StrJoin(errors, "; "), "); PEBS needs an Intel PMU (AMD IBS is not supported)"));
  }
  if (options.stores) pick(options.store_events, placement::AccessKind::kStore);

  const size_t page_bytes = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  std::unique_ptr<PerfSampleSource> src(new PerfSampleSource(ops, options, *format));
  std::vector<std::string> described;
  for (const Chosen& c : chosen) {
    int precise_used = -1;
    for (int cpu : cpus) {
      perf_event_attr attr = c.attr;
      attr.size = sizeof(attr);
      attr.sample_period = options.sample_period;
      attr.sample_type = kSampleType;
      attr.disabled = 1;
      attr.exclude_kernel = 1;
      attr.exclude_hv = 1;
      attr.use_clockid = 1;
      attr.clockid = CLOCK_MONOTONIC;
      attr.watermark = 0;
      attr.wakeup_events = 0;
      absl::StatusOr<int> fd = absl::InternalError("not tried");
      int start = precise_used >= 0 ? precise_used : options.max_precise_ip;
      for (int precise = start; precise >= 0; --precise) {
        attr.precise_ip = static_cast<uint64_t>(precise);
        int err = 0;
        fd = ops->Open(attr, cpu, &err);
        if (fd.ok()) {
          precise_used = precise;
          break;
        }
        // A precision the PMU lacks: EINVAL or EOPNOTSUPP; anything else is final.
        if (err != EINVAL && err != EOPNOTSUPP) break;
      }
      if (!fd.ok()) {
        return absl::FailedPreconditionError(absl::StrCat("no usable PMU: ", c.name, " on cpu ",
                                                          cpu, ": ", fd.status().message()));
      }
      Event e;
      e.fd = *fd;
      e.cpu = cpu;
      e.kind = c.kind;
      e.map_bytes = page_bytes * (1 + pages);
      src->events_.push_back(std::move(e));
      Event& ev = src->events_.back();
      absl::StatusOr<void*> map = ops->Map(ev.fd, ev.map_bytes);
      if (!map.ok()) return map.status();
      ev.map = *map;
      ev.ring = std::make_unique<PerfRing>(ev.map, page_bytes, page_bytes * pages);
    }
    described.push_back(absl::StrCat(c.name, " (precise_ip ", precise_used, ")"));
  }
  for (Event& e : src->events_) {
    if (absl::Status s = ops->Enable(e.fd); !s.ok()) return s;
  }
  src->description_ = absl::StrCat("PEBS: ", absl::StrJoin(described, ", "), " on ", cpus.size(),
                                   " CPUs, period ", options.sample_period);
  return src;
}

absl::Status PerfSampleSource::SetSamplePeriod(uint64_t period) {
  if (period == 0) return absl::InvalidArgumentError("perf source: sample period 0");
  for (Event& e : events_) {
    if (absl::Status s = ops_->SetPeriod(e.fd, period); !s.ok()) return s;
  }
  options_.sample_period = period;
  return absl::OkStatus();
}

absl::StatusOr<size_t> PerfSampleSource::Read(absl::Span<placement::Sample> out) {
  if (pending_pos_ >= pending_.size()) {
    pending_.clear();
    pending_pos_ = 0;
    Collector collector(&pending_, &stats_);
    for (Event& e : events_) {
      collector.kind = e.kind;
      if (!e.ring->Drain(format_, collector, &stats_.dropped_bytes).ok()) ++stats_.corrupt_rings;
    }
  }
  size_t n = 0;
  while (n < out.size() && pending_pos_ < pending_.size()) out[n++] = pending_[pending_pos_++];
  stats_.samples += n;
  return n;
}

}  // namespace tiervm::adapters
