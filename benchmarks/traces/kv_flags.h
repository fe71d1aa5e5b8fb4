// Command lines of the trace tools: every argument is --key=value.
#ifndef TIERVM_BENCHMARKS_TRACES_KV_FLAGS_H_
#define TIERVM_BENCHMARKS_TRACES_KV_FLAGS_H_

#include <cstdio>
#include <map>
#include <string>

namespace tiervm::traces {

// Fills `kv` from argv[1..]; on an argument that is not --key=value prints
// "<prog>: expected --key=value, got ARG" and returns false.
inline bool ParseKeyValueFlags(int argc, char** argv, const char* prog,
                               std::map<std::string, std::string>* kv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const size_t eq = a.find('=');
    if (a.rfind("--", 0) != 0 || eq == std::string::npos) {
      std::fprintf(stderr, "%s: expected --key=value, got %s\n", prog, a.c_str());
      return false;
    }
    (*kv)[a.substr(2, eq - 2)] = a.substr(eq + 1);
  }
  return true;
}

}  // namespace tiervm::traces

#endif  // TIERVM_BENCHMARKS_TRACES_KV_FLAGS_H_
