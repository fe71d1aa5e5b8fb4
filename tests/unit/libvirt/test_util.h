// Helpers for the libvirt integration tests: temporary directories, a fake
// sysfs NUMA tree, file and subprocess helpers.  Not thread-safe.
#ifndef TIERVM_TESTS_UNIT_LIBVIRT_TEST_UTIL_H_
#define TIERVM_TESTS_UNIT_LIBVIRT_TEST_UTIL_H_

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace tiervm::libvirt::testing {

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void WriteFile(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tiervm-lv-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A sysfs root with host nodes of the given MemTotal (MiB); nodes listed
// in `hmat` get access0 initiator figures (latency ns, bandwidth MiB/s).
struct FakeNode {
  int id;
  uint64_t mem_mib;
  uint32_t latency_ns = 0;  // 0: no HMAT
  uint32_t bandwidth_mibps = 0;
};
inline void MakeFakeSysfs(const std::string& root, const std::vector<FakeNode>& nodes) {
  for (const FakeNode& n : nodes) {
    const std::string dir = root + "/devices/system/node/node" + std::to_string(n.id);
    WriteFile(dir + "/meminfo", "Node " + std::to_string(n.id) + " MemTotal:       " +
                                    std::to_string(n.mem_mib * 1024) + " kB\nNode " +
                                    std::to_string(n.id) + " MemFree:        1000 kB\n");
    if (n.latency_ns) {
      const std::string p = dir + "/access0/initiators/";
      WriteFile(p + "read_latency", std::to_string(n.latency_ns) + "\n");
      WriteFile(p + "write_latency", std::to_string(n.latency_ns + 10) + "\n");
      WriteFile(p + "read_bandwidth", std::to_string(n.bandwidth_mibps) + "\n");
      WriteFile(p + "write_bandwidth", std::to_string(n.bandwidth_mibps - 1000) + "\n");
    }
  }
  // Files next to the node directories that are not nodes.
  WriteFile(root + "/devices/system/node/online", "0-1\n");
}

struct RunResult {
  int exit_code = -1;
  std::string out, err;
};

// Runs `argv` with `input` on stdin (through files, the input being small).
inline RunResult Run(const std::vector<std::string>& argv, const std::string& input,
                     const std::vector<std::string>& env = {}) {
  TempDir dir;
  WriteFile(dir / "in", input);
  std::string cmd;
  for (const std::string& e : env) cmd += e + " ";
  for (const std::string& a : argv) cmd += "'" + a + "' ";
  cmd += "<" + (dir / "in") + " >" + (dir / "out") + " 2>" + (dir / "err");
  const int st = std::system(cmd.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  r.out = ReadFile(dir / "out");
  r.err = ReadFile(dir / "err");
  return r;
}

}  // namespace tiervm::libvirt::testing

#endif  // TIERVM_TESTS_UNIT_LIBVIRT_TEST_UTIL_H_
