#!/usr/bin/env bash
# The data recipe of suriguard's sequence model: labelled lab captures through real
# Suricata, IoT-23 through the Zeek mapping, all turned into feature sequences by
# `suriguardctl model export` (the plugin's own feature code).
#
#   models/seq-lstm/make-data.sh [OUT_DIR]      (default /tmp/suriguard-model-data)
#
# Needs the release build (make build) and Suricata. Writes, per lab seed 1..6:
# lab-N.pcap (+ .labels.jsonl), eve-N/eve.json, lab-N/ (flow-seq-v1, T=8) and
# lab-N-seed/ (seed-v1, for the replaced model's numbers); and iot23/, iot23-seed/.
# Seeds 1-4 train, 5 validates, 6 is the held-out test network.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-/tmp/suriguard-model-data}
bin=$root/target/release
shared=${SHARED:-$root/../shared}
mkdir -p "$out"
for seed in 1 2 3 4 5 6; do
    "$bin/pcapgen" lab "$out/lab-$seed.pcap" "$seed" 20
    mkdir -p "$out/eve-$seed"
    rm -f "$out/eve-$seed/eve.json"
    suricata -c "$root/suricata-conf/suricata-minimal.yaml" \
        --set "plugins.0=$bin/libsuriguard.so" --set outputs.0.eve-log.enabled=yes --set outputs.1.eve-log.enabled=no \
        -k none -r "$out/lab-$seed.pcap" -l "$out/eve-$seed" >/dev/null
    "$bin/suriguardctl" model export --eve "$out/eve-$seed/eve.json" \
        --labels "$out/lab-$seed.labels.jsonl" --out "$out/lab-$seed" --sequence-length 8
    "$bin/suriguardctl" model export --eve "$out/eve-$seed/eve.json" \
        --labels "$out/lab-$seed.labels.jsonl" --out "$out/lab-$seed-seed" --extractor seed-v1
done
iot23=$shared/data/flows/iot23/CTU-IoT-Malware-Capture-34-1_conn.log.labeled
"$bin/suriguardctl" model export --zeek "$iot23" --out "$out/iot23" --sequence-length 8
"$bin/suriguardctl" model export --zeek "$iot23" --out "$out/iot23-seed" --extractor seed-v1
rm -f "$out"/lab-*.pcap
echo "data in $out"
