#!/usr/bin/env python3
"""Labels (JSON lines, as `suriguardctl model export --labels` reads them) for real
captures, from what is known about them rather than from any detector:

    labels.py benign EVE_JSON            every source address in the file is benign
    labels.py manifest MANIFEST_JSON     the real-tool lab: each listed source's class
                                         from its scenario (the tool that made it)

For the lab, flows to a spoofed flood's victim from unlisted (spoofed) addresses are
labelled `flood` flow by flow (every FLOOD_EVERY-th, so 40,000 one-packet sources do not
drown the rest); other unlisted addresses and the lab's benign clients are `benign`.
Scenarios outside the model's five classes (exfiltration) are left unlabelled: their
flows still enter their source's sequence, they only do not become samples.
"""

import json
import os
import sys

# Scenario name -> model class. A scenario not listed here and labelled "attack" in the
# manifest is an error: a new lab scenario must be classed deliberately.
SCENARIO_CLASS = {
    "nmap-syn": "scan",
    "nmap-connect": "scan",
    "nmap-udp": "scan",
    "nmap-version": "scan",
    "nmap-aggressive": "scan",
    "nmap-slow": "scan",
    "masscan": "scan",
    "nmap6-syn": "scan",
    "outbound-slow-scan": "scan",
    "syn-flood": "flood",
    "hydra-ssh": "brute-force",
    "hydra-ssh-2200": "brute-force",
    "hydra-telnet": "brute-force",
    "hydra-ftp": "brute-force",
    "hydra-http-basic": "brute-force",
    "mqtt-brute": "brute-force",
    "hydra-ssh6": "brute-force",
    "beacon-http": "c2",
    "beacon-https-jitter": "c2",
    "dns-beacon": "c2",
    "iodine": "c2",
    "dns2tcp": "c2",
    "exfiltration": None,
}
FLOOD_EVERY = 10


def flows(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if r.get("event_type") == "flow" and "src_ip" in r:
                yield r


def emit(**kw):
    print(json.dumps(kw, separators=(",", ":")))


def benign(eve):
    seen = set()
    for r in flows(eve):
        if r["src_ip"] not in seen:
            seen.add(r["src_ip"])
            emit(src=r["src_ip"], **{"class": "benign"})


def manifest(path):
    m = json.load(open(path))
    base = os.path.dirname(os.path.abspath(path))
    for cap in m["captures"]:
        listed, victims = {}, set()
        for s in cap["sources"]:
            if s["label"] == "attack-target":
                victims.add(s["ip"])
                continue
            if s["label"] == "benign":
                listed[s["ip"]] = "benign"
                continue
            if s["scenario"] not in SCENARIO_CLASS:
                sys.exit(f"labels.py: scenario {s['scenario']!r} has no class")
            listed[s["ip"]] = SCENARIO_CLASS[s["scenario"]]
        for ip, cls in listed.items():
            if cls:
                emit(src=ip, **{"class": cls})
        unlisted = cap.get("unlisted", "benign")
        seen, k = set(), 0
        for r in flows(os.path.join(base, cap["eve"])):
            src = r["src_ip"]
            if src in listed:
                continue
            if r.get("dest_ip") in victims:
                k += 1
                if k % FLOOD_EVERY == 0 and "src_port" in r and "dest_port" in r:
                    emit(src=src, sport=r["src_port"], dst=r["dest_ip"], dport=r["dest_port"],
                         proto=r.get("proto", "TCP"), **{"class": "flood"})
            elif src not in seen and unlisted == "benign":
                seen.add(src)
                emit(src=src, **{"class": "benign"})


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("benign", "manifest"):
        sys.exit(__doc__)
    {"benign": benign, "manifest": manifest}[sys.argv[1]](sys.argv[2])
