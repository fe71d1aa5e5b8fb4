// The agent's part of a libvirt domain's TierVM metadata:
//
//   <tiervm:tiering xmlns:tiervm="http://tiervm.org/xmlns/libvirt/1.0">
//     <tiervm:fmem min="512" max="2048" unit="MiB"/>
//     <tiervm:weight>4</tiervm:weight>
//   </tiervm:tiering>
//
// as stored in the domain XML.  virDomainGetMetadata(ELEMENT, kTierVmXmlNs)
// returns the same element with the namespace stripped (`<tiering>...`), so
// elements in our namespace or in none are accepted, others ignored.  The schema belongs to libvirt-hooks/; this parse is small and
// tolerant on purpose: it reads only fmem@min, fmem@max, fmem@unit and
// weight, ignores any other element or attribute, and each of the three
// values is optional.  `unit` is one of b/bytes, KiB/k, MiB/M, GiB/G, TiB/T
// (libvirt's spellings; default KiB, as libvirt's memory elements).  A value
// that is present but malformed is an error (InvalidArgument naming it):
// the operator meant something, and guessing would be worse.
//
// Pure; thread-safe (libxml2 is initialised once).
#ifndef TIERVM_HOST_AGENT_ADAPTERS_LIBVIRT_TIERING_METADATA_H_
#define TIERVM_HOST_AGENT_ADAPTERS_LIBVIRT_TIERING_METADATA_H_

#include <string_view>

#include "absl/status/statusor.h"
#include "adapters/vm_source.h"

namespace tiervm::agent {

inline constexpr std::string_view kTierVmXmlNs =
    "http://tiervm.org/xmlns/libvirt/1.0";

absl::StatusOr<VmSettings> ParseTieringMetadata(std::string_view xml);

}  // namespace tiervm::agent

#endif  // TIERVM_HOST_AGENT_ADAPTERS_LIBVIRT_TIERING_METADATA_H_
