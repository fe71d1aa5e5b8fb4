# Install helpers shared by the components (packaging: cmake/Packaging.cmake).
#
# Install COMPONENTs, one per Debian package:
#   host   tiervm-host    agent, CLI, converter, libvirt hook, schema, unit, configs
#   guest  tiervm-guest   hplaced, its unit and config
#   dkms   hballoon-dkms  hballoon.ko source with dkms.conf
include(GNUInstallDirs)

# tiervm_install_unit(TEMPLATE NAME COMPONENT): a systemd unit configured at
# *install* time, so that its paths follow the prefix given to `cmake
# --install --prefix` (or CPack's /usr), not the configure-time one.  The
# template may use @TIERVM_UNIT_BINDIR@ and @TIERVM_UNIT_SBINDIR@.
# Installed as PREFIX/lib/systemd/system/NAME.
function(tiervm_install_unit template name component)
  set(_tmp "${CMAKE_CURRENT_BINARY_DIR}/install-${component}/${name}")
  install(CODE "
    set(TIERVM_UNIT_BINDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
    set(TIERVM_UNIT_SBINDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_SBINDIR}\")
    configure_file(\"${template}\" \"${_tmp}\" @ONLY)
    file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/lib/systemd/system\"
         TYPE FILE PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
         FILES \"${_tmp}\")" COMPONENT ${component})
endfunction()

# tiervm_install_conffile(SRC DIR NAME COMPONENT): a configuration file at
# the absolute DIR/NAME (e.g. /etc/tiervm/agent.toml).  A file already there
# is kept (`cmake --install` onto a configured host does not overwrite the
# operator's edits); a package build stages into an empty DESTDIR, so the
# file is always in the package, where dpkg treats it as a conffile
# (cmake/Packaging.cmake lists it).
function(tiervm_install_conffile src dir name component)
  install(CODE "
    if(EXISTS \"\$ENV{DESTDIR}${dir}/${name}\")
      message(STATUS \"Keeping existing: \$ENV{DESTDIR}${dir}/${name}\")
    else()
      file(INSTALL DESTINATION \"${dir}\" TYPE FILE RENAME \"${name}\"
           PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
           FILES \"${src}\")
    endif()" COMPONENT ${component})
endfunction()

# tiervm_add_man_page(TARGET SECTION DESCRIPTION COMPONENT): TARGET.SECTION.gz
# generated from `TARGET --help` by help2man and installed under
# share/man/manSECTION.  Without help2man the page is skipped (a warning;
# scripts/install-deps.sh installs it), and so it is in a TIERVM_SANITIZE
# build.
find_program(TIERVM_HELP2MAN help2man)
function(tiervm_add_man_page target section description component)
  if(TIERVM_SANITIZE)
    return()  # no packages from a sanitizer build; keep help2man off its binaries
  endif()
  if(NOT TIERVM_HELP2MAN)
    message(WARNING "help2man not found: no man page for ${target}")
    return()
  endif()
  set(_page "${CMAKE_BINARY_DIR}/man/${target}.${section}")
  add_custom_command(
    OUTPUT "${_page}.gz"
    COMMAND ${CMAKE_COMMAND} -E make_directory "${CMAKE_BINARY_DIR}/man"
    COMMAND ${TIERVM_HELP2MAN} --no-info --no-discard-stderr
            --version-string=${PROJECT_VERSION} --section=${section}
            --name=${description} --output=${_page} $<TARGET_FILE:${target}>
    COMMAND gzip -9nf "${_page}"
    DEPENDS ${target}
    COMMENT "help2man ${target}.${section}"
    VERBATIM)
  add_custom_target(man_${target} ALL DEPENDS "${_page}.gz")
  install(FILES "${_page}.gz" DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section}
          COMPONENT ${component})
endfunction()
