#!/usr/bin/env bash
# Per manifest source, how many eve flow records the lab's eve.json holds for it:
#   scripts/lab/check-lab.sh [OUT_DIR]        (default target/lab/real-tools)
# A source is counted by src_ip (the flow's initiator); an "attack-target" source (victim of a
# spoofed flood) by dest_ip. Sources with no flow records are flagged; exit 1 if any.
# Set EVE=path to check another eve.json (e.g. from `suricata -r OUT/lab.pcap`).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/target/lab/real-tools}
eve=${EVE:-$out/eve.json}
man=$out/manifest.json
[ -f "$man" ] || { echo "check-lab: no $man" >&2; exit 2; }
[ -f "$eve" ] || { echo "check-lab: no $eve" >&2; exit 2; }

# counts of flow records by src_ip and by dest_ip, once over the eve file
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
jq -c 'select(.event_type == "flow") | [.src_ip, .dest_ip]' "$eve" |
    jq -s 'reduce .[] as $f ({src: {}, dst: {}};
        .src[$f[0]] += 1 | .dst[$f[1]] += 1)' >"$tmp"
# eve writes IPv6 addresses fully expanded (2001:0db8:...): expand the manifest's the same way
jq -r '.captures[0].sources[].ip' "$man" | python3 -c '
import ipaddress, json, sys
print(json.dumps({a: (ipaddress.ip_address(a).exploded if ":" in a else a) for a in sys.stdin.read().split()}))' >"$tmp.ip"
trap 'rm -f "$tmp" "$tmp.ip"' EXIT
jq -r --slurpfile cs "$tmp" --slurpfile ex "$tmp.ip" '
    $cs[0] as $c0 | $ex[0] as $e
    | ($c0 | {src: (.src), dst: (.dst)}) as $c
    | .captures[0].sources[] | (.ip = ($e[.ip] // .ip))
    | (if .label == "attack-target" then {by: "dest", n: ($c.dst[.ip] // 0)}
       else {by: "src", n: ($c.src[.ip] // 0)} end) as $r
    | [(if $r.n == 0 then "NONE" else "ok" end), ($r.n | tostring), $r.by, .ip, .label,
       .scenario, (.run // "-"), ("ran=" + ((.ran // true) | tostring)),
       ((.detectors // []) | join(","))]
    | @tsv' "$man" | {
    printf 'status\tflows\tby\tip\tlabel\tscenario\trun\tran\tdetectors\n'
    cat
} | column -t -s $'\t'
missing=$(jq -r --slurpfile cs "$tmp" --slurpfile ex "$tmp.ip" '$cs[0] as $c | $ex[0] as $e | [.captures[0].sources[] | (.ip = ($e[.ip] // .ip))
    | select((if .label == "attack-target" then ($c.dst[.ip] // 0) else ($c.src[.ip] // 0) end) == 0)
    | .ip] | join(" ")' "$man")
total=$(jq -r '.src | add // 0' "$tmp")
echo "flow records: $total"
if [ -n "$missing" ]; then
    echo "check-lab: sources without flow records: $missing"
    exit 1
fi
echo "check-lab: every source has flow records"
