#include "adapters/libvirt/tiering_metadata.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace tiervm::agent {

namespace {

struct DocFree {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};

// Our namespace, or none: virDomainGetMetadata hands back the element it
// selected by our namespace URI with the namespace stripped.
bool IsOurs(const xmlNode* n, const char* local) {
  return n->type == XML_ELEMENT_NODE &&
         std::string_view(reinterpret_cast<const char*>(n->name)) == local &&
         (n->ns == nullptr || n->ns->href == nullptr ||
          std::string_view(reinterpret_cast<const char*>(n->ns->href)) ==
              kTierVmXmlNs);
}

std::optional<std::string> Attr(const xmlNode* n, const char* name) {
  xmlChar* v = xmlGetNoNsProp(n, reinterpret_cast<const xmlChar*>(name));
  if (v == nullptr) return std::nullopt;
  std::string s(reinterpret_cast<const char*>(v));
  xmlFree(v);
  return s;
}

absl::StatusOr<uint64_t> UnitBytes(std::string_view unit) {
  const std::string u = absl::AsciiStrToLower(std::string(unit));
  if (u == "b" || u == "bytes") return 1;
  if (u == "k" || u == "kib") return uint64_t{1} << 10;
  if (u == "m" || u == "mib") return uint64_t{1} << 20;
  if (u == "g" || u == "gib") return uint64_t{1} << 30;
  if (u == "t" || u == "tib") return uint64_t{1} << 40;
  return absl::InvalidArgumentError(
      absl::StrCat("tiervm:fmem@unit: unknown unit '", std::string(unit), "'"));
}

absl::StatusOr<uint64_t> Scaled(const std::string& what, const std::string& v,
                                uint64_t unit) {
  uint64_t x = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(v), &x)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": '", v, "' is not a non-negative integer"));
  }
  if (x > UINT64_MAX / unit) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": '", v, "' too large"));
  }
  return x * unit;
}

}  // namespace

absl::StatusOr<VmSettings> ParseTieringMetadata(std::string_view xml) {
  if (xml.size() > (size_t{1} << 20)) {
    return absl::InvalidArgumentError("tiervm metadata: larger than 1 MiB");
  }
  std::unique_ptr<xmlDoc, DocFree> doc(xmlReadMemory(
      xml.data(), static_cast<int>(xml.size()), "tiervm-metadata.xml", nullptr,
      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
  if (!doc) return absl::InvalidArgumentError("tiervm metadata: not well-formed XML");
  const xmlNode* root = xmlDocGetRootElement(doc.get());
  if (root == nullptr || !IsOurs(root, "tiering")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tiervm metadata: root is not <tiering> (in namespace ",
        std::string(kTierVmXmlNs), " or none)"));
  }
  VmSettings s;
  for (const xmlNode* n = root->children; n != nullptr; n = n->next) {
    if (IsOurs(n, "fmem")) {
      uint64_t unit = uint64_t{1} << 10;
      if (std::optional<std::string> u = Attr(n, "unit")) {
        absl::StatusOr<uint64_t> b = UnitBytes(*u);
        if (!b.ok()) return b.status();
        unit = *b;
      }
      if (std::optional<std::string> v = Attr(n, "min")) {
        absl::StatusOr<uint64_t> b = Scaled("tiervm:fmem@min", *v, unit);
        if (!b.ok()) return b.status();
        s.min_fmem_bytes = *b;
      }
      if (std::optional<std::string> v = Attr(n, "max")) {
        absl::StatusOr<uint64_t> b = Scaled("tiervm:fmem@max", *v, unit);
        if (!b.ok()) return b.status();
        s.max_fmem_bytes = *b;
      }
    } else if (IsOurs(n, "weight")) {
      xmlChar* c = xmlNodeGetContent(n);
      std::string v = c ? reinterpret_cast<const char*>(c) : "";
      xmlFree(c);
      uint32_t w = 0;
      if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(v), &w) || w < 1 ||
          w > kMaxVmWeight) {
        return absl::InvalidArgumentError(absl::StrCat(
            "tiervm:weight: '", v, "' is not an integer in 1..", kMaxVmWeight));
      }
      s.weight = w;
    }
  }
  if (s.min_fmem_bytes && s.max_fmem_bytes && *s.min_fmem_bytes > *s.max_fmem_bytes) {
    return absl::InvalidArgumentError("tiervm:fmem: min above max");
  }
  return s;
}

}  // namespace tiervm::agent
