// libFuzzer-style target: untrusted bytes as domain XML / metadata.  The
// parser must return a value or an error, never crash; whatever it accepts
// must satisfy ValidateConfig and survive a write/re-parse round trip;
// and a domain it accepts must convert, with the conversion being a fixed
// point (the second conversion changes nothing).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "converter/converter.h"
#include "converter/metadata.h"
#include "converter/xml_util.h"

namespace {

// How far inputs got, printed at exit so that a run shows it reached the
// semantic checks and the converter, not only the XML parser.
struct Reach {
  long inputs = 0, metadata = 0, converted = 0;
  ~Reach() {
    std::fprintf(stderr, "reach: %ld inputs, %ld with valid metadata, %ld converted\n", inputs,
                 metadata, converted);
  }
} reach;

void Fail(const char* what, const std::string& input) {
  std::fprintf(stderr, "fuzz failure: %s\ninput:\n%s\n", what, input.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tiervm::libvirt;
  const std::string input(reinterpret_cast<const char*>(data), size);
  ++reach.inputs;
  absl::StatusOr<std::optional<TieringConfig>> meta = ParseTieringMetadata(input);
  if (!meta.ok() || !meta->has_value()) return 0;
  const TieringConfig& c = **meta;
  ++reach.metadata;
  if (!ValidateConfig(c).ok()) Fail("accepted config does not validate", input);
  // Round trip through the canonical writer.
  xmlDoc* doc = xmlNewDoc(xml::X("1.0"));
  xmlDocSetRootElement(doc, BuildTieringElement(doc, c));
  const absl::StatusOr<std::string> written = xml::Serialize(doc);
  xmlFreeDoc(doc);
  if (!written.ok()) Fail("canonical metadata cannot be written", input);
  const std::string& text = *written;
  absl::StatusOr<std::optional<TieringConfig>> back = ParseTieringMetadata(text);
  if (!back.ok() || !back->has_value() || !(**back == c)) Fail("round trip", input);
  // A domain whose metadata parses: the conversion may refuse it, but when
  // it succeeds the result is already converted.
  HostTopology host;
  host.nodes[0].mem_total_bytes = uint64_t{1} << 40;
  host.nodes[1].mem_total_bytes = uint64_t{1} << 40;
  absl::StatusOr<ConvertResult> r1 = ConvertDomain(input, {}, &host, false);
  if (!r1.ok()) return 0;
  ++reach.converted;
  absl::StatusOr<ConvertResult> r2 = ConvertDomain(r1->xml, {}, &host, false);
  if (!r2.ok()) Fail("converted domain refused on second pass", input);
  if (r2->xml != r1->xml || !r2->changes.empty()) Fail("conversion not idempotent", input);
  return 0;
}
