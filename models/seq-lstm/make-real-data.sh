#!/usr/bin/env bash
# Real traffic for the sequence model, next to make-data.sh's synthetic lab: every
# device of ../shared/data/traffic/iot-sentinel (real smart-home devices, all benign),
# one export per device so that training can hold whole devices out; and the real-tool
# lab of scripts/lab/real-tools.sh (attacks by nmap, masscan, hping3, hydra, iodine,
# dns2tcp...; labels from its manifest by labels.py). Features are computed by
# `suriguardctl model export`, the plugin's own code.
#
#   models/seq-lstm/make-real-data.sh [OUT_DIR]     (default /tmp/suriguard-model-data)
#
# Writes OUT/iot-<device>/ per device and OUT/tools/. Needs the release build and
# Suricata; makes the real-tool lab's capture if it is not cached (about four minutes).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-/tmp/suriguard-model-data}
bin=$root/target/release
shared=${SHARED:-$root/../shared}
mkdir -p "$out"
for dir in "$shared"/data/traffic/iot-sentinel/*/; do
    device=$(basename "$dir")
    logs=$out/eve-iot-$device
    mkdir -p "$logs"
    rm -f "$logs/eve.json"
    suricata -c "$root/suricata-conf/suricata-minimal.yaml" \
        --set "plugins.0=$bin/libsuriguard.so" --set outputs.0.eve-log.enabled=yes --set outputs.1.eve-log.enabled=no \
        -k none -r "$dir" -l "$logs" >/dev/null
    python3 "$here/labels.py" benign "$logs/eve.json" > "$logs/labels.jsonl"
    "$bin/suriguardctl" model export --eve "$logs/eve.json" --labels "$logs/labels.jsonl" \
        --out "$out/iot-$device" --sequence-length 8 -q
done
lab=$root/target/lab/real-tools
"$root/scripts/lab/real-tools.sh" "$lab"
python3 "$here/labels.py" manifest "$lab/manifest.json" > "$out/tools.labels.jsonl"
"$bin/suriguardctl" model export --eve "$lab/eve.json" --labels "$out/tools.labels.jsonl" \
    --out "$out/tools" --sequence-length 8 -q
echo "real data in $out"
