// Deterministic driver for metadata_fuzz.cc under g++ (see
// tests/fuzz/agent/fuzz_driver_main.cc).  Inputs: the FILE arguments (the
// corpus), then per iteration either random bytes or a seed mutated with
// XML-aware edits: splicing tokens (element and attribute names of our
// schema, numbers at the edges, units, node sets, markup), deleting or
// duplicating ranges, and flipping bytes, so most inputs stay close to
// well-formed and reach the semantic checks.
//
// usage: libvirt_metadata_fuzz [--iterations N] [--seed S] [FILE...]
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "driver_args.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

const char* const kSeeds[] = {
    R"(<tiervm:tiering xmlns:tiervm="http://tiervm.org/xmlns/libvirt/1.0"><tiervm:fmem min="1024" max="4096" unit="MiB"/><tiervm:weight>100</tiervm:weight><tiervm:smem size="2048" unit="MiB" dedup="off"/></tiervm:tiering>)",
    R"(<domain type="qemu"><name>f</name><metadata><tiervm:tiering xmlns:tiervm="http://tiervm.org/xmlns/libvirt/1.0"><tiervm:fmem min="1" max="2" unit="GiB"/><tiervm:weight>7</tiervm:weight><tiervm:fmem-initial size="1536" unit="MiB"/><tiervm:smem size="1" unit="GiB" dedup="on"/><tiervm:host-nodes fmem="0" smem="1"/><tiervm:targets psi-some-pct="10" smem-stall-pct="5"/><tiervm:guest sample-budget-ppm="20000"/></tiervm:tiering></metadata><vcpu>2</vcpu><os><type arch="x86_64" machine="q35">hvm</type></os><devices/></domain>)",
    R"(<domain xmlns:qemu="http://libvirt.org/schemas/domain/qemu/1.0" type="kvm"><name>g</name><metadata><tiervm:tiering xmlns:tiervm="http://tiervm.org/xmlns/libvirt/1.0"><tiervm:fmem min="512" max="1024" unit="MiB"/><tiervm:smem size="1024" unit="MiB"/></tiervm:tiering></metadata><memory unit="KiB">2097152</memory><vcpu>1</vcpu><cpu><numa><cell id="0" cpus="0" memory="1048576" unit="KiB"/><cell id="1" memory="1048576" unit="KiB"/></numa></cpu><numatune><memnode cellid="1" mode="strict" nodeset="1"/></numatune><memoryBacking><hugepages><page size="2" unit="M" nodeset="0"/></hugepages></memoryBacking><devices/><qemu:commandline><qemu:arg value="-device"/><qemu:arg value="virtio-hballoon-pci,id=hb0"/></qemu:commandline></domain>)",
};

const char* const kTokens[] = {
    "<tiervm:fmem min=\"1\" max=\"2\"/>", "<tiervm:smem size=\"1\"/>", "<tiervm:weight>",
    "</tiervm:weight>", "<tiervm:host-nodes fmem=\"0-3,^2\"/>", "<tiervm:fmem-initial size=\"0\"/>",
    " unit=\"TiB\"", " unit=\"KiB\"", " unit=\"b\"", " dedup=\"on\"", "18446744073709551615",
    "1125899906842624", "4294967296", "0", "-1", "1024", "^", "-", ",", "\"", "'", "<", ">",
    "/>", "&amp;", "&#0;", "<![CDATA[x]]>", "<!-- c -->", "<cell id=\"2\" memory=\"1\"/>",
    "<memory>1</memory>", "<vcpu>4096</vcpu>", "<currentMemory unit=\"MiB\">3</currentMemory>",
    "<memoryBacking><nosharepages/></memoryBacking>", "<memory model=\"virtio-mem\"/>",
    "<numatune><memory placement=\"auto\"/></numatune>", "xmlns:tiervm=\"urn:other\"",
    "<qemu:arg value=\"virtio-hballoon-pci,id=x\"/>", "\xff\xfe", "<tiervm:tiering>",
};

}  // namespace

int main(int argc, char** argv) {
  tiervm::fuzz::DriverArgs args;
  if (!tiervm::fuzz::ParseDriverArgs(argc, argv, &args)) return 2;
  std::vector<std::string> seeds(std::begin(kSeeds), std::end(kSeeds));
  for (const std::string& c : args.corpus) seeds.push_back(c);
  for (const std::string& s : seeds) {
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
  std::mt19937_64 rng(args.seed);
  for (long it = 0; it < args.iterations; ++it) {
    std::string buf;
    if (rng() % 8 == 0) {
      buf.resize(rng() % 512);
      for (char& b : buf) b = static_cast<char>(rng());
    } else {
      buf = seeds[rng() % seeds.size()];
      // Mostly one edit: deeper inputs stay close to valid.
      const int edits = rng() % 4 == 0 ? 2 + static_cast<int>(rng() % 3) : 1;
      for (int e = 0; e < edits; ++e) {
        const size_t at = buf.empty() ? 0 : rng() % (buf.size() + 1);
        switch (rng() % 5) {
          case 0:
            buf.insert(at, kTokens[rng() % std::size(kTokens)]);
            break;
          case 1: {  // replace a run of digits or a short range by a token
            const size_t len = std::min<size_t>(buf.size() - std::min(at, buf.size()), rng() % 12);
            buf.replace(at, len, kTokens[rng() % std::size(kTokens)]);
            break;
          }
          case 2: {  // delete a range
            const size_t len = std::min<size_t>(buf.size() - std::min(at, buf.size()), rng() % 40);
            buf.erase(at, len);
            break;
          }
          case 3: {  // duplicate a range
            const size_t len = std::min<size_t>(buf.size() - std::min(at, buf.size()), rng() % 80);
            buf.insert(at, buf.substr(at, len));
            break;
          }
          case 4:
            if (!buf.empty()) buf[rng() % buf.size()] ^= static_cast<char>(1u << (rng() % 8));
            break;
        }
      }
    }
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(buf.data()), buf.size());
  }
  std::printf("fuzz: %ld inputs (seed %llu), no failures\n", args.iterations,
              static_cast<unsigned long long>(args.seed));
  return 0;
}
