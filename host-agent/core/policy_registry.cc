#include "core/policy_registry.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/proportional_policy.h"
#include "core/static_policy.h"
#include "core/utility_policy.h"

namespace tiervm::agent {

PolicyRegistry& PolicyRegistry::Global() {
  static PolicyRegistry* const registry = [] {
    auto* r = new PolicyRegistry();
    RegisterBuiltinPolicies(*r);
    return r;
  }();
  return *registry;
}

void RegisterBuiltinPolicies(PolicyRegistry& registry) {
  // Ignoring the status: the names are distinct and the registry fresh.
  (void)registry.Register(std::string(kUtilityPolicyName), MakeUtilityPolicy);
  (void)registry.Register(std::string(kProportionalPolicyName),
                          MakeProportionalPolicy);
  (void)registry.Register(std::string(kStaticPolicyName), MakeStaticPolicy);
}

absl::Status PolicyRegistry::Register(std::string name, PolicyFactory factory) {
  if (name.empty()) {
    return absl::InvalidArgumentError("policy registry: empty policy name");
  }
  absl::MutexLock lock(&mu_);
  if (!factories_.emplace(name, std::move(factory)).second) {
    return absl::AlreadyExistsError(
        absl::StrFormat("policy registry: '%s' already registered", name));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<FmemPolicy>> PolicyRegistry::Create(
    std::string_view name, const PolicyArgs& args) const {
  PolicyFactory factory;
  {
    absl::MutexLock lock(&mu_);
    // absl::string_view is not std::string_view in this Abseil build.
    auto it = factories_.find(absl::string_view(name.data(), name.size()));
    if (it != factories_.end()) factory = it->second;
  }
  if (!factory) {
    return absl::NotFoundError(absl::StrFormat(
        "unknown policy '%s' (known: %s)", name, absl::StrJoin(Names(), ", ")));
  }
  // Run the factory outside the lock: it may be slow or use the registry.
  return factory(args);
}

std::vector<std::string> PolicyRegistry::Names() const {
  std::vector<std::string> names;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, factory] : factories_) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace tiervm::agent
