// tiervm: the operator's command line for tiervm-agent (cli/cli.h).
#include <iostream>
#include <string>
#include <vector>

#include "cli/cli.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  // The `tiervm xml` dispatch point: pass tiervm::libvirt::RunXmlCommand
  // here when the converter library (libvirt-hooks/) is linked in.
  return tiervm::cli::RunCli(args, std::cout, std::cerr, nullptr);
}
