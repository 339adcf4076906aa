#!/usr/bin/env bash
# Build the Debian 12 systemd image Molecule scenarios run on, once. Nothing can
# be pulled here (no registry), so it is debootstrapped and `docker import`ed.
#   hack/systemd-image.sh [IMAGE]     default local/debian-systemd:bookworm
set -euo pipefail
. "$(dirname "$0")/lib.sh"
image=${1:-local/debian-systemd:bookworm}
exec 8>/tmp/kubedebug-systemd-image.lock
flock 8
if docker image inspect "$image" >/dev/null 2>&1; then exit 0; fi
mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
mirror=${mirror:-http://deb.debian.org/debian}
root=$(mktemp -d /tmp/kubedebug-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
log "image: debootstrap bookworm from $mirror"
debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,python3,python3-apt,dbus,iproute2,procps,ca-certificates,sudo,kmod,iptables \
  bookworm "$root" "$mirror" >/tmp/kubedebug-debootstrap.log 2>&1 || {
    tail -20 /tmp/kubedebug-debootstrap.log >&2; exit 1; }
# The same archive the host uses, so apt inside instances works.
cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/" 2>/dev/null || true
rm -f "$root/etc/apt/sources.list"
# No getty/udev noise in a container; keep journald.
for u in getty.target systemd-udevd.service systemd-udev-trigger.service; do
  ln -sf /dev/null "$root/etc/systemd/system/$u"
done
echo 'debian-systemd' > "$root/etc/hostname"
tar -C "$root" -c . | docker import -c 'CMD ["/lib/systemd/systemd"]' -c 'ENV container=docker' - "$image" >/dev/null
log "image: $image ready"
