#!/usr/bin/env bash
# Records the benchmark's EVE file: real Suricata over the `pcapgen bench` capture
# (10,000 sources; about 151,000 records of flow, http, dns and alert).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/target/bench
mkdir -p "$out/logs"
printf 'state-dir = "%s"\n[enforce]\nbackend = "none"\n' "$out" > "$out/suriguard.toml"
"$root/target/release/pcapgen" bench "$out/bench.pcap" 10000
rm -f "$out/logs/eve.json"
suricata -c "$root/suricata-conf/suricata-minimal.yaml" \
    --set "plugins.0=$root/target/release/libsuriguard.so" \
    --set flow.memcap=1gb \
    --set "outputs.1.eve-log.suriguard.config=$out/suriguard.toml" \
    -S "$root/tests/data/bench.rules" -l "$out/logs" -r "$out/bench.pcap" -k none >/dev/null
mv "$out/logs/eve.json" "$out/eve.json"
echo "bench-data: $(wc -l < "$out/eve.json") records in $out/eve.json"
