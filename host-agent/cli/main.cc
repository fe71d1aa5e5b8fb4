// tiervm: the operator's command line for tiervm-agent (cli/cli.h).
#include <iostream>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "converter/xml_command.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  // `tiervm xml` is the libvirt domain XML converter (libvirt-hooks/).
  return tiervm::cli::RunCli(args, std::cout, std::cerr,
                             tiervm::libvirt::RunXmlCommand);
}
