#!/usr/bin/env bash
# Builds (or reuses) a Debian root with Suricata from the release's backports, made with
# Debian's own tools only: debootstrap, then apt inside the root. Tests and benchmarks run
# Suricata there (`chroot ROOT suricata ...`, also inside network namespaces), and the
# package test installs suriguard's .deb into an overlay of it.
#
#   scripts/debian-root.sh trixie [ROOT]     Debian 13, Suricata 8 (trixie-backports)
#   scripts/debian-root.sh bookworm [ROOT]   Debian 12, Suricata 7.0 (bookworm-backports)
#
# Prints ROOT when it is ready. ROOT defaults to $SURIGUARD_DEBIAN13_ROOT or
# /var/cache/suriguard/debian13 (trixie), $SURIGUARD_DEBIAN12_ROOT or
# /var/cache/suriguard/debian12 (bookworm). A root is reused only when its completion
# stamp matches this script's recipe and the Suricata in it answers `suricata -V` with the
# expected major version; anything else is removed and rebuilt (about three minutes and
# 700 MB). A lock serialises concurrent callers (two checkouts, parallel tests).
set -euo pipefail

suite=${1:?usage: scripts/debian-root.sh trixie|bookworm [ROOT]}
case "$suite" in
trixie)
    name=debian13
    major=8
    root=${2:-${SURIGUARD_DEBIAN13_ROOT:-/var/cache/suriguard/debian13}}
    ;;
bookworm)
    name=debian12
    major=7
    root=${2:-${SURIGUARD_DEBIAN12_ROOT:-/var/cache/suriguard/debian12}}
    ;;
*)
    echo "debian-root: unknown suite $suite (trixie or bookworm)" >&2
    exit 2
    ;;
esac
mirror=${SURIGUARD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# The recipe: change it and every cached root is rebuilt.
recipe="$suite minbase + $suite-backports suricata, nftables, jq; v2"
stamp="$root/.suriguard-root"

log() { echo "$name-root: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
    log "must run as root (debootstrap, chroot)"
    exit 1
fi

ready() {
    [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$recipe" ] &&
        chroot "$root" suricata -V 2>/dev/null | grep -q "version $major\\."
}

mkdir -p "$(dirname "$root")"
exec 9>"$root.lock"
flock 9

if ready; then
    echo "$root"
    exit 0
fi

if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
fi

log "building $root (debootstrap $suite, then suricata from $suite-backports)"
# Whatever is there is incomplete or from another recipe. Nothing may stay mounted in it.
for m in proc dev/pts dev sys; do umount -l "$root/$m" 2>/dev/null || true; done
rm -rf "$root"
start=$(date +%s)
debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$root.debootstrap.log" 2>&1 || {
    log "debootstrap failed; the last lines of $root.debootstrap.log:"
    tail -n 20 "$root.debootstrap.log" >&2
    exit 1
}
cat >"$root/etc/apt/sources.list.d/$suite-backports.sources" <<SRC
Types: deb
URIs: $mirror
Suites: $suite-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
# Services must not start inside the root.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$root/etc/resolv.conf"
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
chroot "$root" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends -t "$suite-backports" suricata >/dev/null
chroot "$root" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends nftables jq >/dev/null
chroot "$root" apt-get clean
chroot "$root" suricata -V | grep -q "version $major\\." || {
    log "the root's suricata is not version $major: $(chroot "$root" suricata -V 2>&1)"
    exit 1
}
echo "$recipe" >"$stamp"
log "ready in $(($(date +%s) - start)) s: $(chroot "$root" suricata -V 2>&1)"
echo "$root"
