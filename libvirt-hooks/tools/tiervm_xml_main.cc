// tiervm-xml: the converter as a standalone program (same as `tiervm xml`).
#include <iostream>
#include <string>
#include <vector>

#include "converter/xml_command.h"

int main(int argc, char** argv) {
  return tiervm::libvirt::RunXmlCommand(std::vector<std::string>(argv + 1, argv + argc),
                                        std::cout, std::cerr);
}
