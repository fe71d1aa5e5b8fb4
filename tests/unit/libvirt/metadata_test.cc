// Parser and writer of the <tiervm:tiering> metadata, and the size /
// node-set helpers.
#include "converter/metadata.h"

#include <gtest/gtest.h>

#include "converter/xml_util.h"

namespace tiervm::libvirt {
namespace {

constexpr char kNs[] = "xmlns:tiervm=\"http://tiervm.org/xmlns/libvirt/1.0\"";

std::string Wrap(const std::string& body) {
  return std::string("<tiervm:tiering ") + kNs + ">" + body + "</tiervm:tiering>";
}

absl::StatusOr<std::optional<TieringConfig>> P(const std::string& body) {
  return ParseTieringMetadata(Wrap(body));
}

TEST(Metadata, ParsesEveryField) {
  auto c = P("<tiervm:fmem min='1' max='4' unit='GiB'/>"
             "<tiervm:weight>300</tiervm:weight>"
             "<tiervm:fmem-initial size='2048' unit='MiB'/>"
             "<tiervm:smem size='8192' unit='MiB' dedup='on'/>"
             "<tiervm:host-nodes fmem='0-1' smem='2,^3,3-4'/>"
             "<tiervm:targets psi-some-pct='10' smem-stall-pct='5'/>"
             "<tiervm:guest sample-budget-ppm='20000'/>");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(c->has_value());
  const TieringConfig& t = **c;
  EXPECT_EQ(t.fmem_min_bytes, 1ull << 30);
  EXPECT_EQ(t.fmem_max_bytes, 4ull << 30);
  EXPECT_EQ(t.fmem_initial_bytes, 2ull << 30);
  EXPECT_EQ(t.smem_bytes, 8ull << 30);
  EXPECT_EQ(t.weight, 300u);
  EXPECT_TRUE(t.dedup);
  EXPECT_EQ(t.fmem_host_nodes, (std::vector<int>{0, 1}));
  EXPECT_EQ(t.smem_host_nodes, (std::vector<int>{2, 4}));
  EXPECT_EQ(t.psi_some_target_pct, 10u);
  EXPECT_EQ(t.smem_stall_target_pct, 5u);
  EXPECT_EQ(t.sample_budget_ppm, 20000u);
}

TEST(Metadata, DefaultsForOptionalParts) {
  auto c = P("<tiervm:fmem min='0' max='1024' unit='MiB'/><tiervm:smem size='1024' unit='MiB'/>");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->weight, kDefaultWeight);
  EXPECT_FALSE((*c)->dedup);
  EXPECT_FALSE((*c)->fmem_initial_bytes.has_value());
  EXPECT_TRUE((*c)->fmem_host_nodes.empty());
}

TEST(Metadata, NoUnitMeansKiBAsInLibvirt) {
  auto c = P("<tiervm:fmem min='1048576' max='2097152'/><tiervm:smem size='524288'/>");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->fmem_min_bytes, 1ull << 30);
  EXPECT_EQ((*c)->fmem_max_bytes, 2ull << 30);
  EXPECT_EQ((*c)->smem_bytes, 512ull << 20);
}

TEST(Metadata, DomainWithoutOursIsNullopt) {
  auto c = ParseTieringMetadata(
      "<domain><name>x</name><metadata><a:b xmlns:a='urn:a'/></metadata></domain>");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->has_value());
  c = ParseTieringMetadata("<domain><name>x</name></domain>");
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->has_value());
}

TEST(Metadata, FoundInsideDomainWithAnyPrefix) {
  auto c = ParseTieringMetadata(
      "<domain><metadata><t:tiering xmlns:t='http://tiervm.org/xmlns/libvirt/1.0'>"
      "<t:fmem min='1' max='2' unit='GiB'/><t:smem size='3' unit='G'/></t:tiering>"
      "</metadata></domain>");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->smem_bytes, 3ull << 30);
}

struct BadCase {
  const char* body;
  const char* message;
};

TEST(Metadata, RefusesBadInputNamingTheElement) {
  const BadCase cases[] = {
      {"<tiervm:fmem min='5' max='4' unit='GiB'/><tiervm:smem size='1' unit='MiB'/>",
       "<tiervm:fmem>: min (5120 MiB) > max (4096 MiB)"},
      {"<tiervm:smem size='1' unit='MiB'/>", "missing <tiervm:fmem"},
      {"<tiervm:fmem min='1' max='2' unit='MiB'/>", "missing <tiervm:smem"},
      {"<tiervm:fmem min='1' max='2' unit='parsec'/><tiervm:smem size='1' unit='MiB'/>",
       "<tiervm:fmem> attribute 'min': unknown unit 'parsec'"},
      {"<tiervm:fmem min='-1' max='2'/><tiervm:smem size='1' unit='MiB'/>",
       "<tiervm:fmem> attribute 'min': '-1' is not a non-negative integer"},
      {"<tiervm:fmem min='1' max='2' unit='MiB' typo='1'/><tiervm:smem size='1' unit='MiB'/>",
       "<tiervm:fmem>: unknown attribute 'typo'"},
      {"<tiervm:fmem min='1' max='2' unit='MiB'/><tiervm:smem size='1' unit='MiB'/><tiervm:fmen/>",
       "unknown element <tiervm:fmen>"},
      {"<tiervm:fmem min='1' max='2' unit='MiB'/><tiervm:fmem min='1' max='2' unit='MiB'/><tiervm:smem size='1' unit='MiB'/>",
       "<tiervm:fmem> appears twice"},
      {"<tiervm:fmem min='1' max='2' unit='MiB'/><tiervm:smem size='1' unit='MiB'/><tiervm:weight>0</tiervm:weight>",
       "<tiervm:weight>: '0' is not an integer in [1, 1000]"},
      {"<tiervm:fmem min='1' max='2' unit='MiB'/><tiervm:smem size='1' unit='MiB'/><tiervm:weight>1e3</tiervm:weight>",
       "<tiervm:weight>"},
      {"<tiervm:fmem min='1' max='2' unit='MiB'/><tiervm:smem size='1' unit='MiB' dedup='maybe'/>",
       "<tiervm:smem> dedup: 'maybe' is not on/off"},
      {"<tiervm:fmem min='1' max='2' unit='MiB'/><tiervm:smem size='1' unit='MiB'/><tiervm:host-nodes smem='2-1'/>",
       "<tiervm:host-nodes> attribute 'smem': bad node set '2-1'"},
      {"<tiervm:fmem min='1' max='2' unit='MiB'/><tiervm:smem size='1' unit='MiB'/><tiervm:host-nodes fmem='1,^1'/>",
       "selects no node"},
      {"<tiervm:fmem min='1' max='2' unit='MiB'/><tiervm:smem size='1' unit='MiB'/><tiervm:targets psi-some-pct='101'/>",
       "<tiervm:targets> psi-some-pct"},
      {"<tiervm:fmem min='1' max='4' unit='GiB'/><tiervm:smem size='1' unit='MiB'/>"
       "<tiervm:fmem-initial size='5' unit='GiB'/>",
       "<tiervm:fmem-initial>: 5120 MiB is outside <tiervm:fmem>"},
      {"<tiervm:fmem min='1' max='2' unit='KiB'/><tiervm:smem size='1' unit='MiB'/>",
       "is not a whole number of MiB"},
      {"<tiervm:fmem min='0' max='0' unit='MiB'/><tiervm:smem size='1' unit='MiB'/>", "<tiervm:fmem max> must be > 0"},
      {"<tiervm:fmem min='1' max='2' unit='TiB'/><tiervm:smem size='2000' unit='TiB'/>",
       "exceeds 1 PiB"},
      {"<tiervm:fmem min='1' max='2' unit='MiB'/><tiervm:smem size='1' unit='MiB'/><other xmlns='urn:x'/>",
       "unexpected element <other>"},
      {"<tiervm:fmem min='1' max='2' unit='MiB'/>text<tiervm:smem size='1' unit='MiB'/>", "unexpected text"},
  };
  for (const BadCase& bc : cases) {
    auto c = P(bc.body);
    ASSERT_FALSE(c.ok()) << bc.body;
    EXPECT_NE(std::string(c.status().message()).find(bc.message), std::string::npos)
        << bc.body << " -> " << c.status().message();
  }
}

TEST(Metadata, RefusesMalformedAndWrongRoots) {
  EXPECT_FALSE(ParseTieringMetadata("").ok());
  EXPECT_FALSE(ParseTieringMetadata("<domain>").ok());
  auto c = ParseTieringMetadata("<pool/>");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(std::string(c.status().message()).find("expected <domain>"), std::string::npos);
  // Two of ours in one <metadata>: libvirt allows one element per namespace.
  c = ParseTieringMetadata(
      "<domain><metadata>" + Wrap("<tiervm:fmem min='1' max='2' unit='MiB'/><tiervm:smem size='1' unit='MiB'/>") +
      Wrap("<tiervm:fmem min='1' max='2' unit='MiB'/><tiervm:smem size='1' unit='MiB'/>") + "</metadata></domain>");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(std::string(c.status().message()).find("more than one <tiervm:tiering>"),
            std::string::npos);
  // Entities are not expanded (no billion laughs, no external files).
  c = ParseTieringMetadata(
      "<!DOCTYPE d [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><domain><name>&e;</name></domain>");
  if (c.ok()) {
    EXPECT_FALSE(c->has_value());
  }
}

TEST(Metadata, BuildThenParseRoundTrips) {
  TieringConfig c;
  c.fmem_min_bytes = 512 * kMiB;
  c.fmem_max_bytes = 4096 * kMiB;
  c.fmem_initial_bytes = 1024 * kMiB;
  c.smem_bytes = 8192 * kMiB;
  c.weight = 7;
  c.fmem_host_nodes = {0, 1, 2, 5};
  c.smem_host_nodes = {3};
  c.dedup = true;
  c.psi_some_target_pct = 0;
  c.smem_stall_target_pct = 100;
  c.sample_budget_ppm = 1000000;
  xmlDoc* doc = xmlNewDoc(xml::X("1.0"));
  xmlDocSetRootElement(doc, BuildTieringElement(doc, c));
  const std::string text = xml::Serialize(doc).value();
  xmlFreeDoc(doc);
  EXPECT_NE(text.find("<tiervm:fmem min=\"512\" max=\"4096\" unit=\"MiB\"/>"), std::string::npos)
      << text;
  EXPECT_NE(text.find("<tiervm:weight>7</tiervm:weight>"), std::string::npos) << text;
  EXPECT_NE(text.find("fmem=\"0-2,5\""), std::string::npos) << text;
  auto back = ParseTieringMetadata(text);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(**back, c);
}

TEST(Sizes, ArgsAndUnits) {
  EXPECT_EQ(*ParseSizeArg("4G"), 4ull << 30);
  EXPECT_EQ(*ParseSizeArg("4GiB"), 4ull << 30);
  EXPECT_EQ(*ParseSizeArg("512"), 512ull << 20);
  EXPECT_EQ(*ParseSizeArg("512M"), 512ull << 20);
  EXPECT_EQ(*ParseSizeArg("1T"), 1ull << 40);
  EXPECT_FALSE(ParseSizeArg("").ok());
  EXPECT_FALSE(ParseSizeArg("G").ok());
  EXPECT_FALSE(ParseSizeArg("4X").ok());
  EXPECT_FALSE(ParseSizeArg("-4G").ok());
  EXPECT_FALSE(ParseSizeArg("99999999999999999999999G").ok());
  EXPECT_FALSE(ParseSizeArg("2048T").ok());  // > 1 PiB
  EXPECT_EQ(*ParseSizeWithUnit("1048576", "", "KiB"), 1ull << 30);
  EXPECT_EQ(*ParseSizeWithUnit("1", "GB", "KiB"), 1000000000ull);
}

TEST(NodeSets, ParseAndFormat) {
  EXPECT_EQ(*ParseNodeSet("0"), (std::vector<int>{0}));
  EXPECT_EQ(*ParseNodeSet("0-3,^2, 7"), (std::vector<int>{0, 1, 3, 7}));
  EXPECT_EQ(FormatNodeSet({0, 1, 3, 7, 8, 9}), "0-1,3,7-9");
  EXPECT_FALSE(ParseNodeSet("").ok());
  EXPECT_FALSE(ParseNodeSet("a").ok());
  EXPECT_FALSE(ParseNodeSet("3-1").ok());
  EXPECT_FALSE(ParseNodeSet("^1-2").ok());
  EXPECT_FALSE(ParseNodeSet("1024").ok());
  EXPECT_FALSE(ParseNodeSet("0,,1").ok());
}

}  // namespace
}  // namespace tiervm::libvirt
