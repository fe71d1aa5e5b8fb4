# Debian packages with CPack's DEB generator (`cpack --config
# BUILD/CPackConfig.cmake`, run by tests/pkg/test_packages.sh).
#
# Why CPack and not a debian/ directory: the tree has one build system, and
# its install() rules already say where every file goes; each Debian package
# is one install COMPONENT (cmake/TierVMInstall.cmake), so `cmake --install`
# and the packages cannot drift apart.  Conffiles and maintainer scripts
# come from packaging/deb/<component>/.
#
#   component  package        contents
#   host       tiervm-host    tiervm-agent, tiervm, tiervm-xml, the libvirt
#                             hook, schema, unit, /etc/tiervm/{agent.toml,
#                             libvirt-hook.conf}, man pages
#   guest      tiervm-guest   hplaced, hplaced.service, /etc/tiervm/hplaced.toml
#   dkms       hballoon-dkms  /usr/src/hballoon-<version> with dkms.conf

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME tiervm)
set(CPACK_PACKAGE_VENDOR "TierVM")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "TierVM developers <tiervm@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Tiered memory for KVM/QEMU virtual machines")
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL host guest dkms)
# Absolute destinations (/etc/tiervm, /etc/libvirt/hooks) and paths computed
# from the prefix at install time (units, the hook symlink) need a real
# DESTDIR install at prefix /usr.
# (With CPACK_SET_DESTDIR, CPack installs at CPACK_INSTALL_PREFIX, not
# CPACK_PACKAGING_INSTALL_PREFIX; both say /usr.)
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# Depends from the binaries' shared libraries (dpkg-shlibdeps).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)

set(_deb ${PROJECT_SOURCE_DIR}/packaging/deb)
set(_debgen ${PROJECT_BINARY_DIR}/packaging/deb)
foreach(_s postinst prerm)
  configure_file(${_deb}/dkms/${_s}.in ${_debgen}/dkms/${_s} @ONLY
                 FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE
                                  GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
endforeach()

set(CPACK_DEBIAN_HOST_PACKAGE_NAME tiervm-host)
set(CPACK_COMPONENT_HOST_DESCRIPTION
  "TierVM host agent, CLI and libvirt integration
 tiervm-agent splits the host's fast memory (FMEM) across VMs from their
 guests' telemetry and drives each VM's virtio-hballoon device; tiervm is
 its command line; tiervm-xml converts a libvirt domain to a tiered one and
 a libvirt qemu hook validates tiered domains and notifies the agent.
 Needs QEMU with the virtio-hballoon patch series.")
set(CPACK_DEBIAN_HOST_PACKAGE_CONTROL_EXTRA
  "${_deb}/host/conffiles;${_deb}/host/postinst;${_deb}/host/prerm;${_deb}/host/postrm")
set(CPACK_DEBIAN_HOST_PACKAGE_SUGGESTS "libvirt-daemon-system")

set(CPACK_DEBIAN_GUEST_PACKAGE_NAME tiervm-guest)
set(CPACK_COMPONENT_GUEST_DESCRIPTION
  "TierVM guest placement daemon (hplaced)
 hplaced keeps every process's hot address ranges on the guest's fast
 NUMA node (FMEM) and cold ones on the slow node (SMEM), using accessed-bit
 scanning through hballoon.ko or PEBS, under a CPU budget, and reports
 telemetry to the host through the virtio-hballoon device.")
set(CPACK_DEBIAN_GUEST_PACKAGE_CONTROL_EXTRA
  "${_deb}/guest/conffiles;${_deb}/guest/postinst;${_deb}/guest/prerm;${_deb}/guest/postrm")
set(CPACK_DEBIAN_GUEST_PACKAGE_RECOMMENDS "hballoon-dkms")

set(CPACK_DEBIAN_DKMS_PACKAGE_NAME hballoon-dkms)
set(CPACK_DEBIAN_DKMS_PACKAGE_ARCHITECTURE all)
set(CPACK_DEBIAN_DKMS_PACKAGE_SECTION kernel)
set(CPACK_DEBIAN_DKMS_PACKAGE_DEPENDS "dkms")
set(CPACK_DEBIAN_DKMS_PACKAGE_SHLIBDEPS OFF)
set(CPACK_COMPONENT_DKMS_DESCRIPTION
  "virtio-hballoon guest driver (hballoon.ko) in DKMS source form
 The per-NUMA-node balloon driver of TierVM guests, with /dev/hballoon
 (accessed-bit scanning, page location, telemetry) for hplaced.  DKMS
 builds it for every installed kernel whose headers are installed
 (linux-headers-<release>).")
set(CPACK_DEBIAN_DKMS_PACKAGE_CONTROL_EXTRA "${_debgen}/dkms/postinst;${_debgen}/dkms/prerm")

include(CPack)
