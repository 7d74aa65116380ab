# `cmake --install` and `cpack -G DEB`: the binary, the systemd unit, the example
# configuration (a conffile), logrotate, the man page and the docs, in Debian's places.
include(GNUInstallDirs)
set(EBPFIX_ETC ${PROJECT_SOURCE_DIR}/etc)

install(FILES ${EBPFIX_ETC}/ebpfix.toml DESTINATION /etc/ebpfix)
install(FILES ${EBPFIX_ETC}/ebpfix.service DESTINATION /lib/systemd/system)
install(FILES ${EBPFIX_ETC}/ebpfix.logrotate DESTINATION /etc/logrotate.d RENAME ebpfix)
install(FILES ${PROJECT_SOURCE_DIR}/docs/ebpfix.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR} FILES_MATCHING PATTERN "*.md")
if(EXISTS ${EBPFIX_ETC}/grafana-dashboard.json)
  install(FILES ${EBPFIX_ETC}/grafana-dashboard.json DESTINATION ${CMAKE_INSTALL_DOCDIR})
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ebpfix)
set(CPACK_PACKAGE_VENDOR "ebpfix")
set(CPACK_PACKAGE_CONTACT "ebpfix maintainers <ebpfix@localhost>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)   # libbpf1, libelf1, libpcap0.8, libc6 ... from the binary
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "eBPF flow exporter (IPFIX / NetFlow v9)\n A TCX program counts every packet into kernel flow maps; the daemon exports\n IPFIX and NetFlow v9 to standard collectors, like softflowd.")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${PROJECT_SOURCE_DIR}/etc/debian/conffiles ${PROJECT_SOURCE_DIR}/etc/debian/postinst)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_STRIP_FILES ON)
include(CPack)
