// PolicyRegistry: policies by name (the oomd REGISTER_PLUGIN idiom).  The
// config names a policy; the daemon asks the registry for it.
//
// The built-in policies ("utility", the default; "proportional"; "static")
// are registered when Global() is first used, by an explicit call rather
// than by static initialisers in their own files: the core is a static
// library, and a linker drops object files nothing refers to, taking their
// self-registration with them.  TIERVM_REGISTER_POLICY is for policies
// compiled straight into a binary (tests, experiments).
//
// Thread-safety: all methods are thread-safe.
#ifndef TIERVM_HOST_AGENT_CORE_POLICY_REGISTRY_H_
#define TIERVM_HOST_AGENT_CORE_POLICY_REGISTRY_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/policy.h"

namespace tiervm::agent {

inline constexpr std::string_view kDefaultPolicy = "utility";

using PolicyFactory = std::function<absl::StatusOr<std::unique_ptr<FmemPolicy>>(
    const PolicyArgs& args)>;

class PolicyRegistry {
 public:
  PolicyRegistry() = default;
  PolicyRegistry(const PolicyRegistry&) = delete;
  PolicyRegistry& operator=(const PolicyRegistry&) = delete;

  // The process-wide registry, holding the built-ins.  Never destroyed.
  static PolicyRegistry& Global();

  // AlreadyExists if the name is taken, InvalidArgument if empty.
  absl::Status Register(std::string name, PolicyFactory factory);

  // NotFound (listing the known names) for an unknown name; the factory's
  // error (e.g. InvalidArgument for bad args) otherwise.
  absl::StatusOr<std::unique_ptr<FmemPolicy>> Create(
      std::string_view name, const PolicyArgs& args) const;

  // Sorted.
  std::vector<std::string> Names() const;

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, PolicyFactory> factories_
      ABSL_GUARDED_BY(mu_);
};

// Adds the built-in policies to `registry`.
void RegisterBuiltinPolicies(PolicyRegistry& registry);

}  // namespace tiervm::agent

// Registers `factory` under `name` at static-initialisation time.  `ident`
// must be a unique C identifier in the translation unit.
#define TIERVM_REGISTER_POLICY(ident, name, factory)                      \
  [[maybe_unused]] static const bool tiervm_policy_##ident##_registered = \
      ::tiervm::agent::PolicyRegistry::Global()                           \
          .Register((name), (factory))                                    \
          .ok()

#endif  // TIERVM_HOST_AGENT_CORE_POLICY_REGISTRY_H_
