// libvirt qemu hook entry point.  Flags come only from here: the config
// file /etc/tiervm/libvirt-hook.conf (TIERVM_HOOK_CONFIG overrides its
// path; libvirt passes hooks a minimal environment, so on a real host the
// file is the way to configure), then TIERVM_AGENT_SOCKET,
// TIERVM_SYSFS_ROOT, TIERVM_HOOK_TIMEOUT_MS for tests.
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "hook/hook.h"

int main(int argc, char** argv) {
  tiervm::libvirt::HookOptions options;
  const char* config = std::getenv("TIERVM_HOOK_CONFIG");
  if (absl::Status s = tiervm::libvirt::ReadHookConfig(
          config ? config : "/etc/tiervm/libvirt-hook.conf", &options);
      !s.ok()) {
    std::cerr << "tiervm hook: " << s.message() << "\n";
    // Keep the defaults: a typo in our config must not block every VM's
    // stop path; the prepare path still validates each tiered domain.
  }
  if (const char* v = std::getenv("TIERVM_AGENT_SOCKET")) options.agent_socket = v;
  if (const char* v = std::getenv("TIERVM_SYSFS_ROOT")) options.sysfs_root = v;
  if (const char* v = std::getenv("TIERVM_HOOK_TIMEOUT_MS")) {
    int ms = 0;
    if (absl::SimpleAtoi(v, &ms) && ms > 0 && ms <= 60000) options.agent_timeout_ms = ms;
  }
  // Bounded in size and time (hook.h); libvirt does not mind a hook that
  // stops reading early.
  const tiervm::libvirt::HookInput input = tiervm::libvirt::ReadBoundedInput(STDIN_FILENO);
  return tiervm::libvirt::RunHook(std::vector<std::string>(argv + 1, argv + argc), input,
                                  options, std::cerr);
}
