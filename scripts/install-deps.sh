#!/usr/bin/env bash
# Installs what suriguard needs to build, demo and test on Debian 12 (bookworm), as root.
# Idempotent: packages already present are not touched and apt is only refreshed when
# something is missing. Suricata 7.0.10 comes from bookworm-backports.
set -euo pipefail

need_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-deps: must run as root (apt-get, network namespaces)" >&2
        exit 1
    fi
}

# Debian packages: name -> why
PKGS=(
    suricata          # the engine the plugin lives in (from bookworm-backports)
    nftables          # enforcement backend
    libclang-dev      # bindgen needs libclang to read our ABI header
    clang             # bindgen's builtin headers
    iproute2          # network namespaces for end-to-end tests
    iputils-ping      # ping across the test namespaces (IPv4 and IPv6)
    python3-aiosmtpd  # real SMTP server for notification tests
    openssl           # a test CA and server certificate for the SMTP TLS tests
    python3-scapy     # reproducible test captures
    python3-yaml      # the MISP test server reads MISP's openapi.yaml
    jq                # demo output formatting
    make
    nmap              # real-tool lab (scripts/lab/real-tools.sh): scanners
    masscan           # real-tool lab
    hping3            # real-tool lab: floods
    hydra             # real-tool lab: brute force
    iodine            # real-tool lab: DNS tunnel (iodine/iodined)
    dns2tcp           # real-tool lab: DNS tunnel (dns2tcpc/dns2tcpd)
    openssh-server    # real-tool lab: sshd target
    openssh-client    # real-tool lab: ssh-admin client, ssh-keygen
    vsftpd            # real-tool lab: FTP target
    mosquitto         # real-tool lab: MQTT brokers
    mosquitto-clients # real-tool lab: MQTT sensors and brute force
    tcpdump           # real-tool lab: capture fallback
    inetutils-inetd   # real-tool lab: runs telnetd
    inetutils-telnetd # real-tool lab: telnet target
    inetutils-telnet  # real-tool lab
    dnsmasq-base      # real-tool lab: home resolver and outside DNS
    chrony            # real-tool lab: NTP server and clients
    curl              # real-tool lab: HTTP(S) clients
    tcpreplay         # make bench-memory LIVE=1: feeds a capture into a veth
    debootstrap       # the Debian 13 and 12 roots (scripts/debian-root.sh)
    lintian           # make deb's package checked (tests/tests/package.rs)
    python3-venv      # make honeypot: Cowrie's virtualenv (honeypot/install.sh)
    python3-paramiko  # the honeypot test's SSH bot (tests/data/honeypot/bot.py)
    chromium          # browser tests of the console and the HTML report (headless)
    chromium-driver   # WebDriver for those tests
)

need_root

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

suricata_ok() {
    command -v suricata >/dev/null 2>&1 || return 1
    suricata -V 2>/dev/null | grep -q 'version 7\.'
}

if [ ${#missing[@]} -eq 0 ] && suricata_ok; then
    echo "install-deps: everything present"
    exit 0
fi

if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "install-deps: adding the bookworm-backports apt source"
    cat > /etc/apt/sources.list.d/bookworm-backports.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

export DEBIAN_FRONTEND=noninteractive
# Packages such as openssh-server, vsftpd, mosquitto and chrony would start system services on
# install; a temporary policy-rc.d (exit 101) forbids that. Ours is removed again on exit.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
# suricata must come from backports (bookworm itself ships 6.0).
apt-get install -y -qq -t bookworm-backports suricata
apt-get install -y -qq --no-install-recommends "${PKGS[@]}"

# The Debian package enables and starts a system Suricata on eth0; tests and the demo run
# their own instances, so keep the packaged service from holding the machine.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now suricata >/dev/null 2>&1 || true
fi

suricata -V
echo "install-deps: done"
