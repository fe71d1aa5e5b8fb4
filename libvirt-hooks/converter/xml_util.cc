#include "converter/xml_util.h"

#include <libxml/xmlerror.h>
#include <libxml/xmlsave.h>

#include <climits>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace tiervm::libvirt::xml {
namespace {

void IgnoreXmlError(void*, const char*, ...) {}

// Encoding errors are reported through libxml2's generic error channel even
// with XML_PARSE_NOERROR; keep them off stderr while we work (our statuses
// carry the message) and restore the caller's handler afterwards.
class QuietErrors {
 public:
  QuietErrors() : func_(xmlGenericError), ctx_(xmlGenericErrorContext) {
    xmlSetGenericErrorFunc(nullptr, IgnoreXmlError);
  }
  ~QuietErrors() { xmlSetGenericErrorFunc(ctx_, func_); }

 private:
  xmlGenericErrorFunc func_;
  void* ctx_;
};

// SAX callback for `<!DOCTYPE`: libvirt's domain XML never has one, and a
// DTD is how entity tricks get in (billion laughs, SYSTEM "file:///...").
// Stop the parser before it reads a byte of the internal subset; the flag
// lives in ctxt->_private.
void RefuseDoctype(void* ctx, const xmlChar*, const xmlChar*, const xmlChar*) {
  auto* ctxt = static_cast<xmlParserCtxtPtr>(ctx);
  *static_cast<bool*>(ctxt->_private) = true;
  xmlStopParser(ctxt);
}

}  // namespace

absl::StatusOr<DocPtr> Parse(absl::string_view text) {
  if (text.size() > INT_MAX) return absl::InvalidArgumentError("XML too large");
  QuietErrors quiet;
  xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
  if (ctxt == nullptr) return absl::ResourceExhaustedError("libxml2: no memory");
  // No XML_PARSE_NOENT (substitute entities), XML_PARSE_DTDLOAD,
  // XML_PARSE_DTDATTR or XML_PARSE_HUGE: nothing is loaded or expanded, and
  // libxml2's size limits stay on.  A DOCTYPE stops the parse (above).
  const int options = XML_PARSE_NONET | XML_PARSE_NOBLANKS |
                      XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                      XML_PARSE_NOCDATA;
  bool doctype = false;
  ctxt->_private = &doctype;
  ctxt->sax->internalSubset = RefuseDoctype;
  ctxt->sax->externalSubset = RefuseDoctype;
  xmlDoc* doc = xmlCtxtReadMemory(ctxt, text.data(), static_cast<int>(text.size()),
                                  "domain.xml", nullptr, options);
  if (doctype || (doc != nullptr && (doc->intSubset != nullptr || doc->extSubset != nullptr))) {
    if (doc != nullptr) xmlFreeDoc(doc);
    xmlFreeParserCtxt(ctxt);
    return absl::InvalidArgumentError(
        "malformed XML: a DOCTYPE is not allowed (domain XML has no DTD; DTDs and "
        "entities are refused)");
  }
  std::string message;
  // Namespace errors (an undeclared prefix) are not fatal to libxml2, but
  // such an element is nobody's: "qemu:commandline" without the qemu
  // namespace would turn into a second real one once the namespace gets
  // declared.  Refuse like libvirt does.
  if (doc != nullptr && !ctxt->nsWellFormed) {
    xmlFreeDoc(doc);
    doc = nullptr;
  }
  if (doc == nullptr) {
    const xmlError* e = xmlCtxtGetLastError(ctxt);
    if (e != nullptr && e->message != nullptr) {
      message = absl::StrCat("line ", e->line, ": ",
                             absl::StripTrailingAsciiWhitespace(e->message));
    } else {
      message = "empty document";
    }
  }
  xmlFreeParserCtxt(ctxt);
  if (doc == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("malformed XML: ", message));
  }
  if (xmlDocGetRootElement(doc) == nullptr) {
    xmlFreeDoc(doc);
    return absl::InvalidArgumentError("malformed XML: no root element");
  }
  return DocPtr(doc);
}

namespace {

bool IsBlank(const xmlNode* n) {
  if (n->type != XML_TEXT_NODE || n->content == nullptr) return false;
  for (const xmlChar* c = n->content; *c; ++c) {
    if (*c != ' ' && *c != '\t' && *c != '\n' && *c != '\r') return false;
  }
  return true;
}

// Drops whitespace-only text next to elements (indentation the parser kept
// because the element also holds real text), so that the indenting writer
// produces the same bytes for its own output.
void StripIndentation(xmlNode* parent) {
  bool has_element = false;
  for (xmlNode* c = parent->children; c != nullptr; c = c->next) {
    if (c->type == XML_ELEMENT_NODE) has_element = true;
  }
  for (xmlNode* c = parent->children; c != nullptr;) {
    xmlNode* next = c->next;
    if (c->type == XML_ELEMENT_NODE) {
      StripIndentation(c);
    } else if (has_element && IsBlank(c)) {
      xmlUnlinkNode(c);
      xmlFreeNode(c);
    }
    c = next;
  }
}

}  // namespace

absl::StatusOr<std::string> Serialize(xmlDoc* doc) {
  QuietErrors quiet;
  StripIndentation(xmlDocGetRootElement(doc));
  xmlBuffer* buf = xmlBufferCreate();
  xmlSaveCtxt* save =
      xmlSaveToBuffer(buf, "UTF-8", XML_SAVE_FORMAT | XML_SAVE_NO_DECL);
  if (save == nullptr) {
    xmlBufferFree(buf);
    return absl::ResourceExhaustedError("libxml2: cannot write XML");
  }
  const long tree = xmlSaveTree(save, xmlDocGetRootElement(doc));
  const int closed = xmlSaveClose(save);
  std::string out(reinterpret_cast<const char*>(xmlBufferContent(buf)),
                  xmlBufferLength(buf));
  xmlBufferFree(buf);
  // A partial document must never reach the caller as if it were whole.
  if (tree < 0 || closed < 0 || out.empty()) {
    return absl::InvalidArgumentError("libxml2: cannot serialize the document (bad encoding?)");
  }
  if (out.back() != '\n') out.push_back('\n');
  return out;
}

absl::string_view NsUri(const xmlNode* n) {
  if (n->ns == nullptr || n->ns->href == nullptr) return "";
  return reinterpret_cast<const char*>(n->ns->href);
}

bool Is(const xmlNode* n, absl::string_view name, absl::string_view ns_uri) {
  return n != nullptr && n->type == XML_ELEMENT_NODE && Name(n) == name &&
         NsUri(n) == ns_uri;
}

std::optional<std::string> Prop(const xmlNode* n, const char* name) {
  // Attributes without a prefix have no namespace.
  xmlChar* v = xmlGetNoNsProp(n, X(name));
  if (v == nullptr) return std::nullopt;
  std::string s(reinterpret_cast<const char*>(v));
  xmlFree(v);
  return s;
}

std::string Text(const xmlNode* n) {
  xmlChar* v = xmlNodeGetContent(n);
  if (v == nullptr) return "";
  std::string s(reinterpret_cast<const char*>(v));
  xmlFree(v);
  return s;
}

std::vector<xmlNode*> Children(const xmlNode* parent) {
  std::vector<xmlNode*> out;
  for (xmlNode* c = parent->children; c != nullptr; c = c->next) {
    if (c->type == XML_ELEMENT_NODE) out.push_back(c);
  }
  return out;
}

std::vector<xmlNode*> Children(const xmlNode* parent, absl::string_view name,
                               absl::string_view ns_uri) {
  std::vector<xmlNode*> out;
  for (xmlNode* c = parent->children; c != nullptr; c = c->next) {
    if (Is(c, name, ns_uri)) out.push_back(c);
  }
  return out;
}

xmlNode* FirstChild(const xmlNode* parent, absl::string_view name,
                    absl::string_view ns_uri) {
  for (xmlNode* c = parent->children; c != nullptr; c = c->next) {
    if (Is(c, name, ns_uri)) return c;
  }
  return nullptr;
}

}  // namespace tiervm::libvirt::xml
