// Command line and corpus files shared by the deterministic fuzz drivers
// (the g++ stand-ins for libFuzzer).
//
// usage: DRIVER [--iterations N] [--seed S] [FILE...]
// Every FILE is read whole and handed to the target before the generated
// inputs.  Header-only; not thread-safe (called once from main).
#ifndef TIERVM_TESTS_FUZZ_DRIVER_ARGS_H_
#define TIERVM_TESTS_FUZZ_DRIVER_ARGS_H_

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace tiervm::fuzz {

struct DriverArgs {
  long iterations = 10000;
  uint64_t seed = 1;
  std::vector<std::string> corpus;  // contents of the FILE arguments
};

// Parses argv into *args; false (with a message on stderr) when a FILE
// cannot be read.
inline bool ParseDriverArgs(int argc, char** argv, DriverArgs* args) {
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--iterations") && i + 1 < argc) {
      args->iterations = std::strtol(argv[++i], nullptr, 10);
    } else if (!std::strcmp(argv[i], "--seed") && i + 1 < argc) {
      args->seed = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::ifstream in(argv[i], std::ios::binary);
      if (!in) {
        std::fprintf(stderr, "cannot read %s\n", argv[i]);
        return false;
      }
      args->corpus.emplace_back(std::istreambuf_iterator<char>(in),
                                std::istreambuf_iterator<char>());
    }
  }
  return true;
}

}  // namespace tiervm::fuzz

#endif  // TIERVM_TESTS_FUZZ_DRIVER_ARGS_H_
