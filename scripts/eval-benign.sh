#!/usr/bin/env bash
# Decisions made on real benign IoT traffic with the default settings: every capture
# folder of ../shared/data/traffic/iot-sentinel/ (31 smart-home devices during setup and
# first use, all benign) through real Suricata with the plugin (`suriguardctl analyze
# --pcap`, one run per device). Every decision here is a false decision.
#
#   scripts/eval-benign.sh [BIN_DIR] [OUT_DIR]
#
# BIN_DIR holds suriguardctl and libsuriguard.so (default target/release); OUT_DIR gets
# one analyze report per device and summary.json (default target/eval-benign).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/target/release}
out=${2:-$root/target/eval-benign}
data=$root/../shared/data/traffic/iot-sentinel
mkdir -p "$out/devices"
for dev in "$data"/*/; do
    name=$(basename "$dev")
    "$bin/suriguardctl" analyze --pcap "$dev" --plugin "$bin/libsuriguard.so" \
        --suricata-config "$root/suricata-conf/suricata-minimal.yaml" \
        --out "$out/devices/$name.json" -o json >/dev/null
done
jq -s '{
    devices: length,
    records: (map(.records) | add),
    decisions_replay: (map(.decisions | length) | add),
    decisions_live: (map(.plugin.decisions | length) | add),
    targets: ([.[].decisions[] | .target] | unique),
    by_reason: ([.[].decisions[] | .reason] | group_by(.) | map({(.[0]): length}) | add // {}),
    devices_with_decisions: [ .[] | select((.decisions | length) > 0) | .input ]
}' "$out"/devices/*.json > "$out/summary.json"
cat "$out/summary.json"
