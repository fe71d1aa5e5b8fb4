// `tiervm xml`: the command-line front end of the converter.  Reads a
// domain XML from a file or stdin ("-"), writes the tiered domain to
// stdout or -o FILE (written to FILE.tmp and renamed, so a refused
// conversion leaves FILE untouched).
//
//   tiervm xml [--fmem-min SIZE] [--fmem-max SIZE] [--fmem-initial SIZE]
//              [--smem SIZE] [--fmem-host-nodes SET] [--smem-host-nodes SET]
//              [--dedup on|off] [--weight N] [--psi-target-pct N]
//              [--smem-stall-target-pct N] [--sample-budget-ppm N]
//              [--check-host] [--sysfs-root DIR] [--changes] [-o FILE]
//              INPUT|-
//
// Exit codes: 0 converted, 1 refused (message on `err`), 2 usage error.
#ifndef TIERVM_LIBVIRT_HOOKS_CONVERTER_XML_COMMAND_H_
#define TIERVM_LIBVIRT_HOOKS_CONVERTER_XML_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

namespace tiervm::libvirt {

// `args` are the arguments after "xml".  Reads stdin when INPUT is "-".
int RunXmlCommand(const std::vector<std::string>& args, std::ostream& out,
                  std::ostream& err);

}  // namespace tiervm::libvirt

#endif  // TIERVM_LIBVIRT_HOOKS_CONVERTER_XML_COMMAND_H_
