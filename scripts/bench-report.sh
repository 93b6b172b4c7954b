#!/usr/bin/env bash
# make bench-report: suriguardctl's intake on a 1,000,000-line eve.json holding 100,000
# alert records (the rest flow records), three fresh runs, then a run with nothing new.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/target/bench-report"
mkdir -p "$out"
python3 - "$out/eve.json" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(100000):
        f.write(json.dumps({"timestamp": "2024-03-01T10:%02d:%02d.%06d+0000" % (i // 60000 % 60, i // 1000 % 60, i % 1000000),
                            "flow_id": i, "event_type": "alert", "src_ip": "198.51.%d.%d" % (i // 250 % 250, i % 250),
                            "src_port": 40000, "dest_ip": "192.168.1.20", "dest_port": 23, "proto": "TCP",
                            "alert": {"action": "allowed", "gid": 1, "signature_id": 9100001 + i % 50, "rev": 1,
                                      "signature": "SG bench %d" % (i % 50), "category": "", "severity": 1 + i % 3}},
                           separators=(",", ":")) + "\n")
        for j in range(9):
            f.write('{"timestamp":"2024-03-01T10:00:00.000000+0000","flow_id":%d,"event_type":"flow","src_ip":"10.0.0.1","dest_ip":"10.0.0.2","proto":"TCP"}\n' % (i * 10 + j))
PY
printf 'state-dir = "%s"\n[enforce]\nbackend = "none"\n[alerts]\neve = "%s/eve.json"\n' "$out" "$out" > "$out/suriguard.toml"
ctl="$root/target/release/suriguardctl"
for run in 1 2 3; do
    rm -f "$out"/suriguard.db*
    /usr/bin/time -f "fresh store: %e s, max RSS %M KB" "$ctl" alerts ingest --config "$out/suriguard.toml" >/dev/null
done
/usr/bin/time -f "nothing new: %e s" "$ctl" alerts ingest --config "$out/suriguard.toml" >/dev/null
/usr/bin/time -f "alerts list (severity 1, JSON): %e s" "$ctl" alerts list --config "$out/suriguard.toml" --severity 1 --limit 100000 -o json >/dev/null
