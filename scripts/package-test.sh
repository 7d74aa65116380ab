#!/usr/bin/env bash
# Builds the .deb with CPack from a build tree, installs it with apt (which also pulls
# its dependencies), checks the installed files and the example configuration, then
# purges it again. Run as root on Debian 12. Usage: package-test.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: package-test.sh BUILD_DIR}
if [ "$(id -u)" != 0 ]; then
  [ -n "${CI:-}" ] && { echo "package-test: FAILED: needs root, and CI must not skip it"; exit 1; }
  echo "package-test: SKIPPED: needs root (non-root developer run)"; exit 0
fi
cd "$build"
rm -f ebpfix_*.deb
cpack -G DEB >/dev/null
deb=$(ls ebpfix_*.deb)
echo "package-test: built $deb"
trap 'dpkg --purge ebpfix >/dev/null 2>&1 || true' EXIT
apt-get install -y -qq "./$deb" >/dev/null
for f in /usr/sbin/ebpfix /etc/ebpfix/ebpfix.toml /lib/systemd/system/ebpfix.service /etc/logrotate.d/ebpfix \
         /usr/share/man/man8/ebpfix.8 /usr/share/doc/ebpfix/README.md; do
  [ -e "$f" ] || { echo "package-test: FAILED: $f not installed"; exit 1; }
done
getent passwd ebpfix >/dev/null || { echo "package-test: FAILED: user ebpfix not created"; exit 1; }
/usr/sbin/ebpfix --check-config /etc/ebpfix/ebpfix.toml
/usr/sbin/ebpfix --version
logrotate --debug /etc/logrotate.d/ebpfix >/dev/null 2>&1 || { echo "package-test: FAILED: logrotate rejects the rule"; exit 1; }
dpkg --purge ebpfix >/dev/null
[ ! -e /usr/sbin/ebpfix ] || { echo "package-test: FAILED: purge left the binary"; exit 1; }
echo "package-test: 1 passed, 0 failed"
