// Small RAII and lookup helpers over libxml2 shared by the converter and
// the metadata parser.  Thread-compatible.
#ifndef TIERVM_LIBVIRT_HOOKS_CONVERTER_XML_UTIL_H_
#define TIERVM_LIBVIRT_HOOKS_CONVERTER_XML_UTIL_H_

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <memory>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"

namespace tiervm::libvirt::xml {

struct DocDeleter {
  void operator()(xmlDoc* doc) const { xmlFreeDoc(doc); }
};
using DocPtr = std::unique_ptr<xmlDoc, DocDeleter>;

// Parses `text` without network access, entity expansion or DTD loading
// (the input is untrusted), dropping ignorable blanks so that the output
// re-indents canonically.  A document with a DOCTYPE is refused outright
// (libvirt never writes one; it is the way in for entity expansion and
// external entities).  Errors name the line.
absl::StatusOr<DocPtr> Parse(absl::string_view text);

// Serializes the root element, indented, without an XML declaration,
// ending in a newline.  Fails rather than return a partial document.
absl::StatusOr<std::string> Serialize(xmlDoc* doc);

inline const char* Name(const xmlNode* n) {
  return reinterpret_cast<const char*>(n->name);
}
inline const xmlChar* X(const char* s) {
  return reinterpret_cast<const xmlChar*>(s);
}
// Namespace URI of an element ("" when none).
absl::string_view NsUri(const xmlNode* n);
// Is `n` an element named `name` in namespace `ns_uri` ("" = none)?
bool Is(const xmlNode* n, absl::string_view name, absl::string_view ns_uri = "");
std::optional<std::string> Prop(const xmlNode* n, const char* name);
// Text content of an element (concatenated).
std::string Text(const xmlNode* n);
// Element children of `parent` (optionally only those named `name` in
// `ns_uri`).
std::vector<xmlNode*> Children(const xmlNode* parent);
std::vector<xmlNode*> Children(const xmlNode* parent, absl::string_view name,
                               absl::string_view ns_uri = "");
xmlNode* FirstChild(const xmlNode* parent, absl::string_view name,
                    absl::string_view ns_uri = "");

}  // namespace tiervm::libvirt::xml

#endif  // TIERVM_LIBVIRT_HOOKS_CONVERTER_XML_UTIL_H_
