#include "converter/metadata.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "converter/xml_util.h"

namespace tiervm::libvirt {
namespace {

using xml::Name;
using xml::Prop;
using xml::X;

std::optional<uint64_t> UnitMultiplier(absl::string_view unit) {
  const std::string u = absl::AsciiStrToLower(unit);
  if (u == "b" || u == "bytes") return 1;
  if (u == "k" || u == "kib") return uint64_t{1} << 10;
  if (u == "kb") return 1000;
  if (u == "m" || u == "mib") return uint64_t{1} << 20;
  if (u == "mb") return 1000 * 1000;
  if (u == "g" || u == "gib") return uint64_t{1} << 30;
  if (u == "gb") return 1000ull * 1000 * 1000;
  if (u == "t" || u == "tib") return uint64_t{1} << 40;
  if (u == "tb") return 1000ull * 1000 * 1000 * 1000;
  return std::nullopt;
}

absl::StatusOr<uint32_t> ParseBounded(absl::string_view what,
                                      absl::string_view text, uint32_t lo,
                                      uint32_t hi) {
  const absl::string_view t = absl::StripAsciiWhitespace(text);
  uint64_t v = 0;
  if (t.empty() || !std::all_of(t.begin(), t.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c));
      }) || !absl::SimpleAtoi(t, &v) || v < lo || v > hi) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": '", std::string(text), "' is not an integer in [",
                     lo, ", ", hi, "]"));
  }
  return static_cast<uint32_t>(v);
}

// Reads the size attribute `attr` of `el` with its `unit` attribute.
absl::StatusOr<uint64_t> SizeAttr(const xmlNode* el, const char* attr,
                                  absl::string_view where) {
  const std::optional<std::string> v = Prop(el, attr);
  if (!v) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": missing attribute '", attr, "'"));
  }
  const std::string unit = Prop(el, "unit").value_or("");
  // No unit means KiB, as in libvirt's own memory elements (and in the
  // agent's reader of the same element).
  absl::StatusOr<uint64_t> bytes = ParseSizeWithUnit(*v, unit, "KiB");
  if (!bytes.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, " attribute '", attr, "': ", bytes.status().message()));
  }
  return *bytes;
}

absl::Status CheckAttributes(const xmlNode* el, absl::string_view where,
                             std::initializer_list<absl::string_view> allowed) {
  for (const xmlAttr* a = el->properties; a != nullptr; a = a->next) {
    const absl::string_view name = reinterpret_cast<const char*>(a->name);
    if (a->ns != nullptr ||
        std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": unknown attribute '", name, "'"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> ParseOnOff(absl::string_view where, absl::string_view v) {
  if (v == "on" || v == "yes") return true;
  if (v == "off" || v == "no") return false;
  return absl::InvalidArgumentError(
      absl::StrCat(where, ": '", v, "' is not on/off"));
}

std::string MiBString(uint64_t bytes) { return absl::StrCat(bytes / kMiB); }

}  // namespace

absl::StatusOr<uint64_t> ParseSizeWithUnit(absl::string_view value,
                                           absl::string_view unit,
                                           absl::string_view default_unit) {
  const absl::string_view v = absl::StripAsciiWhitespace(value);
  uint64_t n = 0;
  if (v.empty() || !std::all_of(v.begin(), v.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c));
      }) || v.size() > 20 || !absl::SimpleAtoi(v, &n)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", value, "' is not a non-negative integer"));
  }
  const std::optional<uint64_t> mult =
      UnitMultiplier(unit.empty() ? default_unit : unit);
  if (!mult) {
    return absl::InvalidArgumentError(absl::StrCat("unknown unit '", unit, "'"));
  }
  if (n > kMaxSizeBytes / *mult) {
    return absl::InvalidArgumentError(
        absl::StrCat("size ", value, " ", unit, " exceeds 1 PiB"));
  }
  return n * *mult;
}

absl::StatusOr<uint64_t> ParseSizeArg(absl::string_view arg) {
  size_t i = 0;
  while (i < arg.size() && std::isdigit(static_cast<unsigned char>(arg[i]))) ++i;
  return ParseSizeWithUnit(arg.substr(0, i), arg.substr(i), "MiB");
}

absl::StatusOr<std::vector<int>> ParseNodeSet(absl::string_view set) {
  std::set<int> include, exclude;
  const absl::string_view s = absl::StripAsciiWhitespace(set);
  if (s.empty()) return absl::InvalidArgumentError("empty node set");
  for (absl::string_view part : absl::StrSplit(s, ',')) {
    part = absl::StripAsciiWhitespace(part);
    const bool neg = absl::ConsumePrefix(&part, "^");
    std::vector<absl::string_view> ends = absl::StrSplit(part, absl::MaxSplits('-', 1));
    int lo = 0, hi = 0;
    auto num = [](absl::string_view t, int* out) {
      t = absl::StripAsciiWhitespace(t);
      return !t.empty() && t.size() <= 4 &&
             std::all_of(t.begin(), t.end(), [](char c) {
               return std::isdigit(static_cast<unsigned char>(c));
             }) &&
             absl::SimpleAtoi(t, out) && *out <= kMaxHostNode;
    };
    if (!num(ends[0], &lo) || (ends.size() == 2 && !num(ends[1], &hi)) ||
        (ends.size() == 2 && (neg || hi < lo))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bad node set '", set, "' (expected e.g. 0-3,^2,5; nodes <= ",
          kMaxHostNode, ")"));
    }
    if (ends.size() == 1) hi = lo;
    for (int n = lo; n <= hi; ++n) (neg ? exclude : include).insert(n);
  }
  std::vector<int> out;
  for (int n : include) {
    if (!exclude.count(n)) out.push_back(n);
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("node set '", set, "' selects no node"));
  }
  return out;
}

std::string FormatNodeSet(const std::vector<int>& nodes) {
  std::string out;
  for (size_t i = 0; i < nodes.size();) {
    size_t j = i;
    while (j + 1 < nodes.size() && nodes[j + 1] == nodes[j] + 1) ++j;
    if (!out.empty()) out += ",";
    out += absl::StrCat(nodes[i]);
    if (j > i) out += absl::StrCat("-", nodes[j]);
    i = j + 1;
  }
  return out;
}

absl::Status ValidateConfig(const TieringConfig& c) {
  auto whole = [](absl::string_view what, uint64_t bytes) -> absl::Status {
    if (bytes % kMiB != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " (", bytes, " bytes) is not a whole number of MiB"));
    }
    if (bytes > kMaxSizeBytes) {
      return absl::InvalidArgumentError(absl::StrCat(what, " exceeds 1 PiB"));
    }
    return absl::OkStatus();
  };
  for (auto [what, v] : {std::pair<const char*, uint64_t>{"<tiervm:fmem min>", c.fmem_min_bytes},
                         {"<tiervm:fmem max>", c.fmem_max_bytes},
                         {"<tiervm:smem size>", c.smem_bytes},
                         {"<tiervm:fmem-initial size>", c.fmem_initial_bytes.value_or(0)}}) {
    if (absl::Status s = whole(what, v); !s.ok()) return s;
  }
  if (c.fmem_max_bytes == 0) {
    return absl::InvalidArgumentError("<tiervm:fmem max> must be > 0");
  }
  if (c.smem_bytes == 0) {
    return absl::InvalidArgumentError("<tiervm:smem size> must be > 0");
  }
  if (c.fmem_min_bytes > c.fmem_max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "<tiervm:fmem>: min (", c.fmem_min_bytes / kMiB, " MiB) > max (",
        c.fmem_max_bytes / kMiB, " MiB)"));
  }
  if (c.fmem_initial_bytes && (*c.fmem_initial_bytes < c.fmem_min_bytes ||
                               *c.fmem_initial_bytes > c.fmem_max_bytes)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "<tiervm:fmem-initial>: ", *c.fmem_initial_bytes / kMiB,
        " MiB is outside <tiervm:fmem> [min ", c.fmem_min_bytes / kMiB,
        ", max ", c.fmem_max_bytes / kMiB, "] MiB"));
  }
  if (c.weight < 1 || c.weight > kMaxWeight) {
    return absl::InvalidArgumentError(
        absl::StrCat("<tiervm:weight>: ", c.weight, " is not in [1, ", kMaxWeight, "]"));
  }
  auto sorted_nodes = [](const std::vector<int>& v) {
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i] < 0 || v[i] > kMaxHostNode || (i > 0 && v[i] <= v[i - 1])) return false;
    }
    return true;
  };
  if (!sorted_nodes(c.fmem_host_nodes) || !sorted_nodes(c.smem_host_nodes)) {
    return absl::InvalidArgumentError("<tiervm:host-nodes>: bad node list");
  }
  if (c.psi_some_target_pct.value_or(0) > 100 ||
      c.smem_stall_target_pct.value_or(0) > 100) {
    return absl::InvalidArgumentError("<tiervm:targets>: percentages must be in [0, 100]");
  }
  if (c.sample_budget_ppm.value_or(0) > 1000000) {
    return absl::InvalidArgumentError(
        "<tiervm:guest sample-budget-ppm>: must be in [0, 1000000]");
  }
  return absl::OkStatus();
}

absl::StatusOr<TieringConfig> ParseTieringElement(const xmlNode* root) {
  if (!xml::Is(root, "tiering", kTieringNsUri)) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected <tiervm:tiering xmlns:tiervm=\"", kTieringNsUri, "\">"));
  }
  if (absl::Status s = CheckAttributes(root, "<tiervm:tiering>", {}); !s.ok()) return s;
  TieringConfig c;
  bool have_fmem = false, have_smem = false;
  std::set<std::string> seen;
  for (const xmlNode* el = root->children; el != nullptr; el = el->next) {
    if (el->type == XML_TEXT_NODE || el->type == XML_COMMENT_NODE) {
      if (el->type == XML_TEXT_NODE &&
          !absl::StripAsciiWhitespace(xml::Text(el)).empty()) {
        return absl::InvalidArgumentError("<tiervm:tiering>: unexpected text");
      }
      continue;
    }
    if (el->type != XML_ELEMENT_NODE || xml::NsUri(el) != kTieringNsUri) {
      return absl::InvalidArgumentError(absl::StrCat(
          "<tiervm:tiering>: unexpected ",
          el->type == XML_ELEMENT_NODE ? absl::StrCat("element <", Name(el), ">")
                                       : std::string("node"),
          " (children must be in namespace ", kTieringNsUri, ")"));
    }
    const std::string name = Name(el);
    const std::string where = absl::StrCat("<tiervm:", name, ">");
    if (!seen.insert(name).second) {
      return absl::InvalidArgumentError(absl::StrCat(where, " appears twice"));
    }
    if (name != "weight" && !xml::Children(el).empty()) {
      return absl::InvalidArgumentError(absl::StrCat(where, " must be empty"));
    }
    if (name == "fmem") {
      if (auto s = CheckAttributes(el, where, {"min", "max", "unit"}); !s.ok()) return s;
      absl::StatusOr<uint64_t> min = SizeAttr(el, "min", where);
      if (!min.ok()) return min.status();
      absl::StatusOr<uint64_t> max = SizeAttr(el, "max", where);
      if (!max.ok()) return max.status();
      c.fmem_min_bytes = *min;
      c.fmem_max_bytes = *max;
      have_fmem = true;
    } else if (name == "weight") {
      if (auto s = CheckAttributes(el, where, {}); !s.ok()) return s;
      if (!xml::Children(el).empty()) {
        return absl::InvalidArgumentError(absl::StrCat(where, " must hold only a number"));
      }
      absl::StatusOr<uint32_t> w = ParseBounded(where, xml::Text(el), 1, kMaxWeight);
      if (!w.ok()) return w.status();
      c.weight = *w;
    } else if (name == "fmem-initial") {
      if (auto s = CheckAttributes(el, where, {"size", "unit"}); !s.ok()) return s;
      absl::StatusOr<uint64_t> v = SizeAttr(el, "size", where);
      if (!v.ok()) return v.status();
      c.fmem_initial_bytes = *v;
    } else if (name == "smem") {
      if (auto s = CheckAttributes(el, where, {"size", "unit", "dedup"}); !s.ok()) return s;
      absl::StatusOr<uint64_t> v = SizeAttr(el, "size", where);
      if (!v.ok()) return v.status();
      c.smem_bytes = *v;
      if (auto d = Prop(el, "dedup")) {
        absl::StatusOr<bool> on = ParseOnOff(absl::StrCat(where, " dedup"), *d);
        if (!on.ok()) return on.status();
        c.dedup = *on;
      }
      have_smem = true;
    } else if (name == "host-nodes") {
      if (auto s = CheckAttributes(el, where, {"fmem", "smem"}); !s.ok()) return s;
      for (auto [attr, out] : {std::pair<const char*, std::vector<int>*>{"fmem", &c.fmem_host_nodes},
                               {"smem", &c.smem_host_nodes}}) {
        if (auto v = Prop(el, attr)) {
          absl::StatusOr<std::vector<int>> nodes = ParseNodeSet(*v);
          if (!nodes.ok()) {
            return absl::InvalidArgumentError(absl::StrCat(
                where, " attribute '", attr, "': ", nodes.status().message()));
          }
          *out = *std::move(nodes);
        }
      }
    } else if (name == "targets") {
      if (auto s = CheckAttributes(el, where, {"psi-some-pct", "smem-stall-pct"}); !s.ok()) return s;
      if (auto v = Prop(el, "psi-some-pct")) {
        absl::StatusOr<uint32_t> p = ParseBounded(absl::StrCat(where, " psi-some-pct"), *v, 0, 100);
        if (!p.ok()) return p.status();
        c.psi_some_target_pct = *p;
      }
      if (auto v = Prop(el, "smem-stall-pct")) {
        absl::StatusOr<uint32_t> p = ParseBounded(absl::StrCat(where, " smem-stall-pct"), *v, 0, 100);
        if (!p.ok()) return p.status();
        c.smem_stall_target_pct = *p;
      }
    } else if (name == "guest") {
      if (auto s = CheckAttributes(el, where, {"sample-budget-ppm"}); !s.ok()) return s;
      if (auto v = Prop(el, "sample-budget-ppm")) {
        absl::StatusOr<uint32_t> p =
            ParseBounded(absl::StrCat(where, " sample-budget-ppm"), *v, 0, 1000000);
        if (!p.ok()) return p.status();
        c.sample_budget_ppm = *p;
      }
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("<tiervm:tiering>: unknown element ", where));
    }
  }
  if (!have_fmem) {
    return absl::InvalidArgumentError("<tiervm:tiering>: missing <tiervm:fmem min=.. max=..>");
  }
  if (!have_smem) {
    return absl::InvalidArgumentError("<tiervm:tiering>: missing <tiervm:smem size=..>");
  }
  if (absl::Status s = ValidateConfig(c); !s.ok()) return s;
  return c;
}

absl::StatusOr<std::optional<TieringConfig>> ParseTieringMetadata(absl::string_view text) {
  absl::StatusOr<xml::DocPtr> doc = xml::Parse(text);
  if (!doc.ok()) return doc.status();
  const xmlNode* root = xmlDocGetRootElement(doc->get());
  if (xml::Is(root, "tiering", kTieringNsUri)) {
    absl::StatusOr<TieringConfig> c = ParseTieringElement(root);
    if (!c.ok()) return c.status();
    return std::optional<TieringConfig>(*c);
  }
  if (!xml::Is(root, "domain")) {
    return absl::InvalidArgumentError(
        absl::StrCat("root element is <", Name(root), ">, expected <domain>"));
  }
  const std::vector<xmlNode*> metas = xml::Children(root, "metadata");
  if (metas.size() > 1) {
    return absl::InvalidArgumentError("<metadata> appears more than once");
  }
  if (metas.empty()) return std::optional<TieringConfig>();
  const std::vector<xmlNode*> ours = xml::Children(metas[0], "tiering", kTieringNsUri);
  if (ours.size() > 1) {
    return absl::InvalidArgumentError("<metadata> holds more than one <tiervm:tiering>");
  }
  if (ours.empty()) return std::optional<TieringConfig>();
  absl::StatusOr<TieringConfig> c = ParseTieringElement(ours[0]);
  if (!c.ok()) return c.status();
  return std::optional<TieringConfig>(*c);
}

xmlNode* BuildTieringElement(xmlDoc* doc, const TieringConfig& c) {
  xmlNode* root = xmlNewDocNode(doc, nullptr, X("tiering"), nullptr);
  xmlNs* ns = xmlNewNs(root, X(kTieringNsUri), X(kTieringNsPrefix));
  xmlSetNs(root, ns);
  auto child = [&](const char* name) {
    return xmlNewChild(root, ns, X(name), nullptr);
  };
  auto set = [](xmlNode* n, const char* attr, const std::string& v) {
    xmlNewProp(n, X(attr), X(v.c_str()));
  };
  xmlNode* fmem = child("fmem");
  set(fmem, "min", MiBString(c.fmem_min_bytes));
  set(fmem, "max", MiBString(c.fmem_max_bytes));
  set(fmem, "unit", "MiB");
  xmlNewTextChild(root, ns, X("weight"), X(absl::StrCat(c.weight).c_str()));
  if (c.fmem_initial_bytes) {
    xmlNode* init = child("fmem-initial");
    set(init, "size", MiBString(*c.fmem_initial_bytes));
    set(init, "unit", "MiB");
  }
  xmlNode* smem = child("smem");
  set(smem, "size", MiBString(c.smem_bytes));
  set(smem, "unit", "MiB");
  set(smem, "dedup", c.dedup ? "on" : "off");
  if (!c.fmem_host_nodes.empty() || !c.smem_host_nodes.empty()) {
    xmlNode* hn = child("host-nodes");
    if (!c.fmem_host_nodes.empty()) set(hn, "fmem", FormatNodeSet(c.fmem_host_nodes));
    if (!c.smem_host_nodes.empty()) set(hn, "smem", FormatNodeSet(c.smem_host_nodes));
  }
  if (c.psi_some_target_pct || c.smem_stall_target_pct) {
    xmlNode* t = child("targets");
    if (c.psi_some_target_pct) set(t, "psi-some-pct", absl::StrCat(*c.psi_some_target_pct));
    if (c.smem_stall_target_pct) set(t, "smem-stall-pct", absl::StrCat(*c.smem_stall_target_pct));
  }
  if (c.sample_budget_ppm) {
    set(child("guest"), "sample-budget-ppm", absl::StrCat(*c.sample_budget_ppm));
  }
  return root;
}

}  // namespace tiervm::libvirt
