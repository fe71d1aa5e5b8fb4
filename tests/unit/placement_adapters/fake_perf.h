// FakePerfEventOps / FakePerfEncoder: in-memory perf rings for the PEBS
// source tests.  Test code, header-only.
#ifndef TIERVM_TESTS_UNIT_PLACEMENT_ADAPTERS_FAKE_PERF_H_
#define TIERVM_TESTS_UNIT_PLACEMENT_ADAPTERS_FAKE_PERF_H_

#include <errno.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon/adapters/perf_source.h"
#include "perf_synth.h"

namespace tiervm::testing {

class FakePerfEventOps final : public adapters::PerfEventOps {
 public:
  struct Opened {
    perf_event_attr attr{};
    int cpu = 0;
    uint8_t* map = nullptr;
    size_t map_bytes = 0;
    bool enabled = false;
    std::vector<uint64_t> periods;
  };
  std::vector<int> cpus = {0, 1};
  // Highest precise_ip accepted (EINVAL above); -1: every open fails with open_errno.
  int max_precise = 2;
  int open_errno = ENOENT;
  std::map<int, Opened> fds;
  std::set<int> closed;

  absl::StatusOr<int> Open(const perf_event_attr& attr, int cpu, int* err) override {
    int e = 0;
    if (max_precise < 0) e = open_errno;
    else if (static_cast<int>(attr.precise_ip) > max_precise) e = EINVAL;
    if (err) *err = e;
    if (e) return absl::FailedPreconditionError(absl::StrCat("fake open errno ", e));
    const int fd = next_fd_++;
    Opened o;
    o.attr = attr;
    o.cpu = cpu;
    fds[fd] = o;
    return fd;
  }
  absl::StatusOr<void*> Map(int fd, size_t bytes) override {
    void* p = std::aligned_alloc(4096, bytes);
    std::memset(p, 0, bytes);
    fds[fd].map = static_cast<uint8_t*>(p);
    fds[fd].map_bytes = bytes;
    auto* meta = reinterpret_cast<perf_event_mmap_page*>(p);
    meta->data_offset = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    meta->data_size = bytes - meta->data_offset;
    return p;
  }
  void Unmap(void* addr, size_t) override { std::free(addr); }
  absl::Status SetPeriod(int fd, uint64_t period) override {
    fds[fd].periods.push_back(period);
    return absl::OkStatus();
  }
  absl::Status Enable(int fd) override {
    fds[fd].enabled = true;
    return absl::OkStatus();
  }
  void Close(int fd) override { closed.insert(fd); }
  absl::StatusOr<std::vector<int>> OnlineCpus() override { return cpus; }

  // Appends `bytes` to fd's ring as the kernel would and publishes them.
  void Publish(int fd, const std::vector<uint8_t>& bytes) {
    Opened& o = fds.at(fd);
    auto* meta = reinterpret_cast<perf_event_mmap_page*>(o.map);
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    std::vector<uint8_t> ring(o.map + page, o.map + o.map_bytes);
    WriteRing(ring, meta->data_head, bytes);
    std::memcpy(o.map + page, ring.data(), ring.size());
    __atomic_store_n(&meta->data_head, meta->data_head + bytes.size(), __ATOMIC_RELEASE);
  }
  uint64_t Tail(int fd) {
    return reinterpret_cast<perf_event_mmap_page*>(fds.at(fd).map)->data_tail;
  }

 private:
  int next_fd_ = 100;
};

// Knows the events in `known`; NotFound for the rest.
class FakePerfEncoder final : public adapters::PerfEventEncoder {
 public:
  std::set<std::string> known;
  absl::StatusOr<perf_event_attr> Encode(const std::string& name) override {
    if (!known.contains(name)) return absl::NotFoundError("fake libpfm: " + name + ": event not found");
    perf_event_attr a;
    std::memset(&a, 0, sizeof(a));
    a.type = PERF_TYPE_RAW;
    a.config = std::hash<std::string>()(name) & 0xffff;
    return a;
  }
};

}  // namespace tiervm::testing

#endif  // TIERVM_TESTS_UNIT_PLACEMENT_ADAPTERS_FAKE_PERF_H_
