#!/usr/bin/env bash
# make deb [ARCH=arm64]: builds target/debian/suriguard_<version>_<arch>.deb with plain
# dpkg-deb (no debhelper, no cargo-deb): the plugin, rulesync, suriguardctl and the nft
# helper (stripped), the shipped models, the example configurations as conffiles under
# /etc/suriguard, the systemd units, man pages and bash/zsh/fish completions generated
# from the programs' clap definitions, and the maintainer scripts (docs/PACKAGING.md).
#
#   scripts/deb.sh [amd64|arm64]     prints the .deb's path
#
# arm64 is cross-compiled with Debian's gcc-aarch64-linux-gnu and rustup's
# aarch64-unknown-linux-gnu standard library (both installed here when missing).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

log() { echo "deb: $*" >&2; }
die() {
    log "$*"
    exit 1
}

host_arch=$(dpkg --print-architecture)
arch=${1:-${ARCH:-$host_arch}}
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
[ -n "$version" ] || die "no version in Cargo.toml's [workspace.package]"
debversion="$version-1"
pkgs=(-p suriguard-plugin -p suriguardctl -p rulesync -p suriguard-nft-helper)

need_pkg() { # command package
    command -v "$1" >/dev/null 2>&1 && return 0
    log "installing $2"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }
}

# The native build: it is also what writes the man pages and completions (the same
# clap definitions on every architecture).
cargo build --release --locked "${pkgs[@]}" >&2
native=target/release
case "$arch" in
"$host_arch")
    bin=$native
    strip_cmd=strip
    ;;
arm64)
    triple=aarch64-unknown-linux-gnu
    need_pkg aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu
    if ! rustup target list --installed 2>/dev/null | grep -qx "$triple"; then
        log "adding rustup target $triple"
        rustup target add "$triple" >&2 ||
            die "rustup cannot add $triple here; build on the Pi instead: make deb (docs/PACKAGING.md)"
    fi
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
    export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
    export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
    cargo build --release --locked --target "$triple" "${pkgs[@]}" >&2
    bin=target/$triple/release
    strip_cmd=aarch64-linux-gnu-strip
    ;;
*) die "architecture $arch: only $host_arch and arm64 are built here" ;;
esac

stage=target/debian/stage-$arch
rm -rf "$stage"
mkdir -p "$stage/DEBIAN"
d() { install -d -m 0755 "$stage/$1"; }
f() { # mode source destination
    install -D -m "$1" "$2" "$stage/$3"
}

# Programs, stripped (lintian: unstripped-binary-or-object).
f 0644 "$bin/libsuriguard.so" usr/lib/suriguard/libsuriguard.so
f 0755 "$bin/suriguardctl" usr/bin/suriguardctl
f 0755 "$bin/rulesync" usr/bin/rulesync
f 0755 "$bin/suriguard-nft-helper" usr/sbin/suriguard-nft-helper
for b in usr/lib/suriguard/libsuriguard.so usr/bin/suriguardctl usr/bin/rulesync usr/sbin/suriguard-nft-helper; do
    "$strip_cmd" --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/$b"
done

# Models (the model stage is off until [model] path names one).
for m in seq-lstm/seq-lstm.onnx seq-lstm/seq-lstm.meta.json seed/seed-bilstm.onnx seed/seed-bilstm.meta.json; do
    f 0644 "models/$m" "usr/share/suriguard/models/$m"
done
f 0644 models/seq-lstm/MODEL_CARD.md usr/share/doc/suriguard/MODEL_CARD.md

# The honeypot installer and its personas (docs/HONEYPOT.md):
# /usr/share/suriguard/honeypot/install.sh.
f 0755 honeypot/install.sh usr/share/suriguard/honeypot/install.sh
(cd honeypot && find personas -type f) | while read -r p; do
    # The persona's own scripts (its fake /etc/init.d/rcS) keep their mode.
    if [ -x "honeypot/$p" ]; then mode=0755; else mode=0644; fi
    f "$mode" "honeypot/$p" "usr/share/suriguard/honeypot/$p"
done

# Configuration: conffiles under /etc/suriguard, the same files as examples.
f 0644 suricata-conf/suriguard.toml etc/suriguard/suriguard.toml
f 0644 suricata-conf/rulesync.toml etc/suriguard/rulesync.toml
f 0644 suricata-conf/suricata-eve-include.yaml etc/suriguard/suricata-eve.yaml
for e in suriguard.toml rulesync.toml suriguard-eve.yaml suricata-eve-include.yaml rulesync.cron; do
    f 0644 "suricata-conf/$e" "usr/share/doc/suriguard/examples/$e"
done
# The decisions journal's rotation.
f 0644 suricata-conf/logrotate/suriguard etc/logrotate.d/suriguard
cat >"$stage/DEBIAN/conffiles" <<EOF
/etc/suriguard/suriguard.toml
/etc/suriguard/rulesync.toml
/etc/suriguard/suricata-eve.yaml
/etc/logrotate.d/suriguard
EOF

# systemd units, pointing at the packaged programs.
for u in suricata-conf/systemd/*; do
    dest="$stage/usr/lib/systemd/system/$(basename "$u")"
    install -D -m 0644 "$u" "$dest"
    sed -i -e 's#/usr/local/bin/suriguard-nft-helper#/usr/sbin/suriguard-nft-helper#g' \
        -e 's#/usr/local/bin/#/usr/bin/#g' \
        -e '/^# Install: cp /d' -e '/^#          systemctl enable/d' -e '/^#          suriguardctl serve passwd/d' \
        -e '/^#          (Group= must be/d' "$dest"
done

# Man pages and completions, from the native programs.
docs=$(mktemp -d)
trap 'rm -rf "$docs"' EXIT
for p in suriguardctl rulesync suriguard-nft-helper; do
    SURIGUARD_GENERATE_DOCS="$docs/$p" "$native/$p" >/dev/null
    for page in "$docs/$p"/man/*; do
        sec=${page##*.}
        d "usr/share/man/man$sec"
        gzip -9n -c "$page" >"$stage/usr/share/man/man$sec/$(basename "$page").gz"
        chmod 0644 "$stage/usr/share/man/man$sec/$(basename "$page").gz"
    done
    if [ "$p" != suriguard-nft-helper ]; then
        f 0644 "$docs/$p/completions/$p.bash" "usr/share/bash-completion/completions/$p"
        f 0644 "$docs/$p/completions/_$p" "usr/share/zsh/vendor-completions/_$p"
        f 0644 "$docs/$p/completions/$p.fish" "usr/share/fish/vendor_completions.d/$p.fish"
    fi
done

# Documentation Debian requires: copyright and a changelog.
d usr/share/doc/suriguard
cp packaging/debian/copyright "$stage/usr/share/doc/suriguard/copyright"
chmod 0644 "$stage/usr/share/doc/suriguard/copyright"
sed "s/@VERSION@/$debversion/" packaging/debian/changelog | gzip -9n >"$stage/usr/share/doc/suriguard/changelog.Debian.gz"
chmod 0644 "$stage/usr/share/doc/suriguard/changelog.Debian.gz"
install -m 0644 README.md "$stage/usr/share/doc/suriguard/README.md"

# Maintainer scripts.
for s in postinst prerm postrm; do
    install -m 0755 "packaging/debian/$s" "$stage/DEBIAN/$s"
done

# Dependencies: the newest glibc symbol version the programs use.
glibc=$(for b in usr/lib/suriguard/libsuriguard.so usr/bin/suriguardctl usr/bin/rulesync usr/sbin/suriguard-nft-helper; do
    objdump -T "$stage/$b"
done | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)
# The plugin's packed relocations (plugin/build.rs) need glibc 2.36, a version need
# (GLIBC_ABI_DT_RELR) that names no symbol, so objdump -T does not show it.
if readelf -V "$stage/usr/lib/suriguard/libsuriguard.so" | grep -q GLIBC_ABI_DT_RELR; then
    glibc=$(printf '%s\n2.36\n' "$glibc" | sort -V | tail -1)
fi
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$debversion/" -e "s/@ARCH@/$arch/" -e "s/@GLIBC@/$glibc/" -e "s/@SIZE@/$size/" \
    packaging/debian/control >"$stage/DEBIAN/control"
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -print0 | sort -z | xargs -0 md5sum | sed 's#  \./#  #') >"$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/conffiles" "$stage/DEBIAN/md5sums"
find "$stage" -type d -exec chmod 0755 {} +

out=target/debian/suriguard_${debversion}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$out" >&2
echo "$root/$out"
