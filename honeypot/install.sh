#!/usr/bin/env bash
# make honeypot: Cowrie (PyPI, pinned) in a virtualenv, configured as an IoT device
# persona, ready to run as an unprivileged user (docs/HONEYPOT.md).
#
#   honeypot/install.sh [--root DIR] [--persona NAME] [--ssh-port N] [--telnet-port N]
#                       [--user USER] [--units]
#
# DIR (default /var/lib/suriguard-honeypot) is where Cowrie runs: etc/cowrie.cfg (the
# persona's, ports filled in), the persona's files, share/fs.pickle (its fake filesystem,
# made by Cowrie's createfs from the persona's fs/ folder), var/log/cowrie/cowrie.json
# (what `suriguardctl honeypot follow` reads). The virtualenv is shared:
# $SURIGUARD_COWRIE_VENV or /opt/suriguard-honeypot/venv, reused when it already holds
# the pinned version. --units installs and enables the systemd units (Cowrie, and the
# follower). Idempotent; prints DIR.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
COWRIE_VERSION=3.1.4

root=/var/lib/suriguard-honeypot
persona=ipcam
ssh_port=2222
telnet_port=2323
user=cowrie
units=no
while [ $# -gt 0 ]; do
    case "$1" in
    --root) root=$2; shift 2 ;;
    --persona) persona=$2; shift 2 ;;
    --ssh-port) ssh_port=$2; shift 2 ;;
    --telnet-port) telnet_port=$2; shift 2 ;;
    --user) user=$2; shift 2 ;;
    --units) units=yes; shift ;;
    *) echo "install.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
venv=${SURIGUARD_COWRIE_VENV:-/opt/suriguard-honeypot/venv}
src="$here/personas/$persona"
log() { echo "honeypot: $*" >&2; }
[ -f "$src/cowrie.cfg" ] || { log "no persona $persona in $here/personas"; exit 2; }
[ "$(id -u)" -eq 0 ] || { log "must run as root (user, folders, units)"; exit 1; }

# The virtualenv, with the pinned Cowrie.
if ! [ "$(readlink -f "$venv/bin/python")" = "$(readlink -f /usr/bin/python3)" ] ||
    ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('cowrie') != '$COWRIE_VERSION')" 2>/dev/null; then
    log "installing cowrie $COWRIE_VERSION into $venv (PyPI)"
    # Debian's python3 (with python3-venv): an interpreter under /root (pyenv) would not
    # run for Cowrie's unprivileged user.
    py=/usr/bin/python3
    if ! "$py" -c 'import venv, ensurepip' 2>/dev/null; then
        log "installing python3-venv"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    fi
    mkdir -p "$(dirname "$venv")"
    rm -rf "$venv"
    "$py" -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "cowrie==$COWRIE_VERSION" >&2 || {
        rm -rf "$venv"
        log "pip could not install cowrie $COWRIE_VERSION"
        exit 1
    }
    # Twisted's plugin cache, written once here (Cowrie's user cannot write it).
    # (From /: Cowrie reads a cowrie.cfg in the current folder when its plugin loads.)
    (cd / && "$venv/bin/python" -c 'from twisted.plugin import IPlugin, getPlugins; list(getPlugins(IPlugin))') 2>/dev/null || true
fi

# Cowrie refuses to run as root: its own user.
if ! id "$user" >/dev/null 2>&1; then
    log "creating system user $user"
    useradd --system --home-dir "$root" --no-create-home --shell /usr/sbin/nologin "$user"
fi

# The folder Cowrie runs in: the persona, its configuration, its fake filesystem.
install -d -m 0755 "$root" "$root/etc" "$root/share"
rm -rf "$root/persona"
cp -r "$src" "$root/persona"
sed -e "s#@ROOT@#$root#g" -e "s#@PERSONA@#$root/persona#g" \
    -e "s#@SSH_PORT@#$ssh_port#g" -e "s#@TELNET_PORT@#$telnet_port#g" \
    "$src/cowrie.cfg" >"$root/etc/cowrie.cfg"
# The fake filesystem: the persona's files plus the folders every device has.
fsdir=$(mktemp -d)
trap 'rm -rf "$fsdir"' EXIT
cp -r "$src/fs/." "$fsdir/"
for d in bin sbin usr/bin usr/sbin lib tmp var/run dev root mnt/mtd/app; do mkdir -p "$fsdir/$d"; done
rm -f "$root/share/fs.pickle"
(cd "$fsdir" && "$venv/bin/createfs" -l "$fsdir" -o "$root/share/fs.pickle" >/dev/null)
install -d -o "$user" -m 0750 "$root/var" "$root/var/log" "$root/var/log/cowrie" \
    "$root/var/lib" "$root/var/lib/cowrie" "$root/var/lib/cowrie/downloads" "$root/var/lib/cowrie/tty"
chown -R root:root "$root/persona" "$root/etc" "$root/share"
# suriguardctl honeypot follow reads the log: group-readable by the admin group.
chmod 0755 "$root/var" "$root/var/log" "$root/var/log/cowrie"

if [ "$units" = yes ]; then
    # The source tree's units, or the package's (installed as /usr/share/suriguard/honeypot).
    units_dir="$here/../suricata-conf/systemd"
    [ -d "$units_dir" ] || units_dir=/usr/lib/systemd/system
    for u in suriguard-honeypot.service suriguard-honeypot-follow.service; do
        sed -e "s#/var/lib/suriguard-honeypot#$root#g" -e "s#/opt/suriguard-honeypot/venv#$venv#g" \
            -e "s#^User=cowrie#User=$user#" \
            -e "s#honeypot follow --config#honeypot follow --cowrie-log $root/var/log/cowrie/cowrie.json --config#" \
            "$units_dir/$u" >"/etc/systemd/system/$u"
    done
    systemctl daemon-reload
    systemctl enable --now suriguard-honeypot.service suriguard-honeypot-follow.service
fi
log "ready: persona $persona, ssh on $ssh_port, telnet on $telnet_port, log $root/var/log/cowrie/cowrie.json"
echo "$root"
