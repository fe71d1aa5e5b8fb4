// The converter (`tiervm xml`) on a corpus of domain XMLs: outputs
// validate against libvirt's schema (virt-xml-validate) and ours (xmllint
// --relaxng), convert to themselves byte for byte, keep what they had
// (other metadata, qemu args, devices), and contradictory inputs are
// refused with a message naming the element.
#include <gtest/gtest.h>

#include <sstream>

#include "converter/metadata.h"
#include "converter/xml_command.h"
#include "converter/xml_util.h"
#include "test_util.h"

namespace tiervm::libvirt {
namespace {

using testing::MakeFakeSysfs;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

const std::string kCorpus = TIERVM_LIBVIRT_CORPUS_DIR;

struct Cmd {
  int rc;
  std::string out, err;
};

Cmd Xml(std::vector<std::string> args) {
  std::ostringstream out, err;
  const int rc = RunXmlCommand(args, out, err);
  return {rc, out.str(), err.str()};
}

// Writes our metadata element of `domain_xml` as a document of its own.
std::string ExtractTiering(const std::string& domain_xml, const std::string& path) {
  auto doc = xml::Parse(domain_xml);
  EXPECT_TRUE(doc.ok());
  xmlNode* meta = xml::FirstChild(xmlDocGetRootElement(doc->get()), "metadata");
  EXPECT_NE(meta, nullptr);
  xmlNode* t = meta ? xml::FirstChild(meta, "tiering", kTieringNsUri) : nullptr;
  EXPECT_NE(t, nullptr);
  if (t == nullptr) return "";
  xmlDoc* out = xmlNewDoc(xml::X("1.0"));
  xmlDocSetRootElement(out, xmlDocCopyNode(t, out, 1));
  const std::string text = xml::Serialize(out).value_or("");
  xmlFreeDoc(out);
  WriteFile(path, text);
  return text;
}

int Shell(const std::string& cmd) {
  const int st = std::system((cmd + " >/dev/null 2>&1").c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

struct GoodCase {
  std::string file;
  std::vector<std::string> args;
  std::vector<std::string> expect;  // substrings of the output
};

class CorpusTest : public ::testing::TestWithParam<GoodCase> {};

TEST_P(CorpusTest, ConvertsValidatesAndIsIdempotent) {
  const GoodCase& c = GetParam();
  TempDir dir;
  // Host without HMAT tables: the documented defaults are used, so the
  // outputs do not depend on the machine running the test.
  MakeFakeSysfs(dir / "sys", {{0, 16384}, {1, 16384}});
  std::vector<std::string> args = c.args;
  args.insert(args.end(), {"--sysfs-root", dir / "sys", kCorpus + "/" + c.file});
  const Cmd first = Xml(args);
  ASSERT_EQ(first.rc, 0) << first.err;
  const std::string out1 = dir / "out1.xml";
  WriteFile(out1, first.out);
  for (const std::string& e : c.expect) {
    EXPECT_NE(first.out.find(e), std::string::npos) << "missing " << e << " in\n" << first.out;
  }
  // libvirt's own schema accepts the result.
  EXPECT_EQ(Shell("virt-xml-validate " + out1 + " domain"), 0) << first.out;
  // Our schema accepts the metadata.
  ExtractTiering(first.out, dir / "tiering.xml");
  EXPECT_EQ(Shell(std::string("xmllint --noout --relaxng ") + TIERVM_LIBVIRT_SCHEMA + " " +
                  (dir / "tiering.xml")),
            0)
      << ReadFile(dir / "tiering.xml");
  // Converting the output again (without options: from its metadata)
  // changes nothing, byte for byte, and says so.
  const Cmd second = Xml({"--changes", "--sysfs-root", dir / "sys", out1});
  ASSERT_EQ(second.rc, 0) << second.err;
  EXPECT_EQ(second.out, first.out);
  EXPECT_NE(second.err.find("already tiered, nothing changed"), std::string::npos) << second.err;
  // Same with the options repeated.
  std::vector<std::string> again = c.args;
  again.insert(again.end(), {"--sysfs-root", dir / "sys", out1});
  EXPECT_EQ(Xml(again).out, first.out);
}

INSTANTIATE_TEST_SUITE_P(
    Corpus, CorpusTest,
    ::testing::Values(
        GoodCase{"q35_virt_install.xml",
                 {"--fmem-min", "1G", "--fmem-max", "4G"},
                 {"<cell id=\"0\" cpus=\"0-3\" memory=\"4194304\" unit=\"KiB\"/>",
                  "<cell id=\"1\" memory=\"2097152\" unit=\"KiB\"/>",
                  "<qemu:arg value=\"virtio-hballoon-pci,id=hb0\"/>",
                  "xmlns:qemu=\"http://libvirt.org/schemas/domain/qemu/1.0\"",
                  "<libosinfo:os id=\"http://debian.org/debian/12\"/>",
                  "<tiervm:smem size=\"2048\" unit=\"MiB\" dedup=\"off\"/>",
                  "<nosharepages/>", "<memballoon model=\"virtio\"/>",
                  "<latency initiator=\"0\" target=\"1\" type=\"access\" value=\"240\"/>"}},
        GoodCase{"i440fx_minimal.xml",
                 {"--fmem-min", "512", "--fmem-max", "1G", "--smem", "1G"},
                 {"<cell id=\"0\" cpus=\"0\" memory=\"1048576\"", "<acpi/>",
                  "machine=\"pc\""}},
        GoodCase{"hugepages_fmem_dedup.xml",
                 {"--fmem-min", "4G", "--fmem-max", "8G", "--dedup", "on", "--fmem-host-nodes",
                  "0", "--smem-host-nodes", "1"},
                 {"<memnode cellid=\"0\" mode=\"strict\" nodeset=\"0\"/>",
                  "<memnode cellid=\"1\" mode=\"strict\" nodeset=\"1\"/>",
                  "<page size=\"2\" unit=\"M\" nodeset=\"0\"/>",
                  "<tiervm:smem size=\"8192\" unit=\"MiB\" dedup=\"on\"/>",
                  "<tiervm:host-nodes fmem=\"0\" smem=\"1\"/>",
                  "<topology sockets=\"1\" dies=\"1\" cores=\"4\" threads=\"2\"/>"}},
        GoodCase{"existing_numa_cells.xml",
                 {"--fmem-min", "1G"},
                 // Sizes and the SMEM binding adopted from the domain.
                 {"<tiervm:fmem min=\"1024\" max=\"2048\" unit=\"MiB\"/>",
                  "<tiervm:host-nodes smem=\"1\"/>", "<memory mode=\"strict\" nodeset=\"0\"/>",
                  "<model fallback=\"allow\">Skylake-Server</model>"}},
        GoodCase{"other_metadata_qemu_cmdline.xml",
                 {"--fmem-min", "2G", "--smem", "4G", "--weight", "300"},
                 {"<nova:name>app-server</nova:name>",
                  "<app:config xmlns:app=\"https://example.com/app/1\">keep me</app:config>",
                  "<qemu:arg value=\"/usr/share/qemu\"/>\n    <qemu:arg value=\"-device\"/>\n"
                  "    <qemu:arg value=\"virtio-hballoon-pci,id=hb0\"/>\n    <qemu:env",
                  "<tiervm:weight>300</tiervm:weight>",
                  "<tiervm:fmem min=\"2048\" max=\"4096\" unit=\"MiB\"/>"}},
        GoodCase{"pre_tiered_metadata.xml",
                 {},
                 {"<tiervm:weight>250</tiervm:weight>",
                  "<tiervm:fmem-initial size=\"512\" unit=\"MiB\"/>",
                  "<tiervm:targets psi-some-pct=\"10\" smem-stall-pct=\"5\"/>",
                  "<memory unit=\"KiB\">2097152</memory>"}},
        GoodCase{"hugepages_all_nodedup.xml",
                 {"--fmem-min", "1G", "--fmem-max", "2G"},
                 {"<hugepages/>", "<locked/>", "<nosharepages/>"}}),
    [](const ::testing::TestParamInfo<GoodCase>& info) {
      std::string n = info.param.file.substr(0, info.param.file.find('.'));
      return n;
    });

struct BadCase {
  std::string name;
  std::string input;  // a corpus file, or inline XML when it starts with '<'
  std::vector<std::string> args;
  std::string message;
};

class RefusalTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(RefusalTest, RefusesWithTheElementNamedAndWritesNothing) {
  const BadCase& c = GetParam();
  TempDir dir;
  MakeFakeSysfs(dir / "sys", {{0, 8192}, {1, 2048}});
  std::string input = c.input;
  if (!input.empty() && input[0] == '<') {
    WriteFile(dir / "in.xml", input);
    input = dir / "in.xml";
  } else {
    input = kCorpus + "/" + input;
  }
  // An existing output file must survive a refusal.
  WriteFile(dir / "out.xml", "previous");
  std::vector<std::string> args = c.args;
  args.insert(args.end(), {"--sysfs-root", dir / "sys", "-o", dir / "out.xml", input});
  const Cmd r = Xml(args);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
  EXPECT_EQ(ReadFile(dir / "out.xml"), "previous");
  EXPECT_FALSE(std::filesystem::exists(dir / "out.xml.tmp"));
}

const char kTiny[] =
    "<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"
    "<name>t</name><memory unit='MiB'>2048</memory><vcpu>2</vcpu>"
    "<os><type arch='x86_64' machine='q35'>hvm</type></os>%s"
    "<devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices>%s</domain>";

std::string Tiny(const std::string& extra, const std::string& tail = "") {
  char buf[4096];
  std::snprintf(buf, sizeof(buf), kTiny, extra.c_str(), tail.c_str());
  return buf;
}

const std::vector<std::string> kSizes = {"--fmem-min", "512", "--fmem-max", "1G"};

INSTANTIATE_TEST_SUITE_P(
    Refusals, RefusalTest,
    ::testing::Values(
        BadCase{"virtio_mem", "virtio_mem.xml", {"--fmem-min", "1G", "--fmem-max", "4G"},
                "<devices><memory model='virtio-mem'>: memory devices"},
        BadCase{"three_cells", "numa_three_cells.xml", {"--fmem-min", "1G", "--fmem-max", "4G"},
                "<cpu><numa>: has cells 0,1,2"},
        BadCase{"cell_disagrees", "existing_numa_cells.xml",
                {"--fmem-min", "1G", "--fmem-max", "1G"},
                "<cpu><numa><cell id='0'>: memory 2048 MiB disagrees with FMEM max 1024 MiB"},
        BadCase{"smem_cell_has_cpus",
                Tiny("<cpu><numa><cell id='0' cpus='0-1' memory='1' unit='GiB'/>"
                     "<cell id='1' cpus='1' memory='1' unit='GiB'/></numa></cpu>"),
                {"--fmem-min", "512"}, "<cpu><numa><cell id='1'>: the SMEM cell must have no vCPUs"},
        BadCase{"fmem_cell_not_all_cpus",
                Tiny("<cpu><numa><cell id='0' cpus='0' memory='1' unit='GiB'/>"
                     "<cell id='1' memory='1' unit='GiB'/></numa></cpu>"),
                {"--fmem-min", "512"}, "<cpu><numa><cell id='0'>: cpus '0' must be all vCPUs (0-1)"},
        BadCase{"memory_total", "q35_virt_install.xml",
                {"--fmem-min", "1G", "--fmem-max", "4G", "--smem", "4G"},
                "<memory>: 6144 MiB disagrees with FMEM max 4096 MiB + SMEM 4096 MiB"},
        BadCase{"current_memory",
                Tiny("<currentMemory unit='MiB'>1024</currentMemory>"), kSizes,
                "<currentMemory>: 1024 MiB disagrees"},
        BadCase{"min_above_max", "q35_virt_install.xml", {"--fmem-min", "5G", "--fmem-max", "4G"},
                "<tiervm:fmem>: min (5120 MiB) > max (4096 MiB)"},
        BadCase{"initial_outside", "q35_virt_install.xml",
                {"--fmem-min", "1G", "--fmem-max", "4G", "--fmem-initial", "512M"},
                "<tiervm:fmem-initial>: 512 MiB is outside"},
        BadCase{"no_min", "q35_virt_install.xml", {"--fmem-max", "4G"}, "--fmem-min"},
        BadCase{"no_sizes", "hugepages_all_nodedup.xml", {"--fmem-min", "1G"},
                "sizes unknown"},
        BadCase{"memory_all_fmem", "hugepages_all_nodedup.xml",
                {"--fmem-min", "1G", "--fmem-max", "4G"}, "<memory>: 4096 MiB leaves nothing"},
        BadCase{"host_node_missing", "q35_virt_install.xml",
                {"--fmem-min", "1G", "--fmem-max", "4G", "--smem-host-nodes", "3",
                 "--check-host"},
                "<tiervm:host-nodes smem=...>: host NUMA node 3 does not exist (host nodes: 0,1)"},
        BadCase{"smem_does_not_fit", "q35_virt_install.xml",
                {"--fmem-min", "1G", "--fmem-max", "2G", "--smem-host-nodes", "1",
                 "--check-host"},
                "<tiervm:smem size>: 4096 MiB does not fit host nodes 1 (MemTotal 2048 MiB)"},
        BadCase{"memnode_disagrees", "existing_numa_cells.xml",
                {"--fmem-min", "1G", "--smem-host-nodes", "0"},
                "<numatune><memnode cellid='1'>: nodeset '1' disagrees with <tiervm:host-nodes smem='0'>"},
        BadCase{"memnode_unknown_cell",
                Tiny("<numatune><memnode cellid='2' mode='strict' nodeset='0'/></numatune>"),
                kSizes, "<numatune><memnode cellid='2'>"},
        BadCase{"placement_auto",
                Tiny("<numatune><memory mode='strict' placement='auto'/></numatune>"),
                {"--fmem-min", "512", "--fmem-max", "1G", "--fmem-host-nodes", "0"},
                "<numatune><memory placement='auto'>"},
        BadCase{"dedup_vs_nosharepages",
                Tiny("<memoryBacking><nosharepages/></memoryBacking>"),
                {"--fmem-min", "512", "--fmem-max", "1G", "--dedup", "on"},
                "<memoryBacking><nosharepages/>: disables KSM"},
        BadCase{"dedup_vs_hugepages", "hugepages_all_nodedup.xml",
                {"--fmem-min", "1G", "--fmem-max", "2G", "--dedup", "on"},
                "<memoryBacking><hugepages>: backs the SMEM cell with huge pages"},
        BadCase{"hballoon_other_id",
                Tiny("", "<qemu:commandline><qemu:arg value='-device'/>"
                         "<qemu:arg value='virtio-hballoon-pci,id=balloon7'/></qemu:commandline>"),
                kSizes, "<qemu:commandline><qemu:arg value='virtio-hballoon-pci,id=balloon7'>"},
        BadCase{"hballoon_twice",
                Tiny("", "<qemu:commandline><qemu:arg value='-device'/>"
                         "<qemu:arg value='virtio-hballoon-pci,id=hb0'/><qemu:arg value='-device'/>"
                         "<qemu:arg value='virtio-hballoon-pci,id=hb0'/></qemu:commandline>"),
                kSizes, "a second virtio-hballoon device"},
        BadCase{"bad_metadata",
                Tiny("<metadata><tiervm:tiering xmlns:tiervm='http://tiervm.org/xmlns/libvirt/1.0'>"
                     "<tiervm:fmem min='1' max='2' unit='GiB'/><tiervm:smem size='1' unit='GiB'/>"
                     "<tiervm:wieght>3</tiervm:wieght></tiervm:tiering></metadata>"),
                {}, "<metadata>: <tiervm:tiering>: unknown element <tiervm:wieght>"},
        BadCase{"two_memory", Tiny("<memory unit='MiB'>2048</memory>"), kSizes,
                "<memory>: appears more than once"},
        BadCase{"bad_vcpu", "<domain><name>v</name><vcpu>many</vcpu></domain>", kSizes,
                "<vcpu>: 'many' is not a vCPU count"},
        BadCase{"malformed", "<domain><name>x</name>", kSizes, "malformed XML: line 1"},
        BadCase{"undeclared_prefix",
                Tiny("", "<qemu2:commandline><qemu2:arg value='-m'/></qemu2:commandline>"),
                kSizes, "malformed XML: line 1: Namespace prefix qemu2"},
        BadCase{"not_a_domain", "<network><name>x</name></network>", kSizes,
                "root element is <network>, expected <domain>"}),
    [](const ::testing::TestParamInfo<BadCase>& info) { return info.param.name; });

TEST(Converter, ExampleMatchesTheDocumentedCommand) {
  // README.md: tiervm xml --fmem-min 1G --fmem-max 4G --fmem-initial 2G
  //   --weight 200 plain.xml -o tiered.xml
  const std::string ex = TIERVM_LIBVIRT_EXAMPLES_DIR;
  const Cmd r = Xml({"--fmem-min", "1G", "--fmem-max", "4G", "--fmem-initial", "2G", "--weight",
                     "200", ex + "/plain.xml"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, ReadFile(ex + "/tiered.xml"));
  EXPECT_EQ(Shell("virt-xml-validate " + ex + "/tiered.xml domain"), 0);
}

TEST(Converter, HmatFiguresComeFromTheHostWhenPresent) {
  TempDir dir;
  MakeFakeSysfs(dir / "sys", {{0, 16384, 90, 30000}, {1, 65536, 300, 10000}});
  const Cmd r = Xml({"--fmem-min", "1G", "--fmem-max", "4G", "--fmem-host-nodes", "0",
                     "--smem-host-nodes", "1", "--check-host", "--changes", "--sysfs-root",
                     dir / "sys", kCorpus + "/q35_virt_install.xml"});
  ASSERT_EQ(r.rc, 0) << r.err;
  // Worst of read/write: latency max(90, 100), bandwidth min(30000, 29000).
  EXPECT_NE(r.out.find("<latency initiator=\"0\" target=\"0\" type=\"access\" value=\"100\"/>"),
            std::string::npos);
  EXPECT_NE(r.out.find("<latency initiator=\"0\" target=\"1\" type=\"access\" value=\"310\"/>"),
            std::string::npos);
  EXPECT_NE(r.out.find("<bandwidth initiator=\"0\" target=\"0\" type=\"access\" value=\"29000\" "
                       "unit=\"MiB\"/>"),
            std::string::npos);
  EXPECT_NE(r.out.find("<bandwidth initiator=\"0\" target=\"1\" type=\"access\" value=\"9000\" "
                       "unit=\"MiB\"/>"),
            std::string::npos);
  EXPECT_NE(r.err.find("from host"), std::string::npos) << r.err;
  // A converted domain keeps its figures on a host without tables.
  TempDir other;
  MakeFakeSysfs(other / "sys", {{0, 16384}, {1, 65536}});
  WriteFile(dir / "t.xml", r.out);
  EXPECT_EQ(Xml({"--sysfs-root", other / "sys", dir / "t.xml"}).out, r.out);
}

TEST(Converter, OptionsOverrideExistingMetadata) {
  TempDir dir;
  MakeFakeSysfs(dir / "sys", {{0, 16384}});
  const Cmd r = Xml({"--weight", "900", "--dedup", "off", "--sysfs-root", dir / "sys",
                     kCorpus + "/pre_tiered_metadata.xml"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("<tiervm:weight>900</tiervm:weight>"), std::string::npos);
  EXPECT_NE(r.out.find("dedup=\"off\""), std::string::npos);
  EXPECT_NE(r.out.find("<nosharepages/>"), std::string::npos);
}

TEST(Converter, UsageErrors) {
  EXPECT_EQ(Xml({}).rc, 2);
  EXPECT_EQ(Xml({"--fmem-min"}).rc, 2);
  EXPECT_EQ(Xml({"--fmem-min", "lots", "x.xml"}).rc, 2);
  EXPECT_EQ(Xml({"--dedup", "maybe", "x.xml"}).rc, 2);
  EXPECT_EQ(Xml({"--bogus", "1", "x.xml"}).rc, 2);
  EXPECT_EQ(Xml({"a.xml", "b.xml"}).rc, 2);
  const Cmd missing = Xml({"/nonexistent/domain.xml"});
  EXPECT_EQ(missing.rc, 1);
  EXPECT_NE(missing.err.find("cannot read /nonexistent/domain.xml"), std::string::npos);
  EXPECT_EQ(Xml({"--help"}).rc, 0);
}

TEST(Converter, StandaloneBinaryReadsStdin) {
  const auto r = testing::Run({TIERVM_XML_BIN, "--fmem-min", "1G", "--fmem-max", "4G", "-"},
                              ReadFile(kCorpus + "/q35_virt_install.xml"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("virtio-hballoon-pci,id=hb0"), std::string::npos);
}

}  // namespace
}  // namespace tiervm::libvirt
