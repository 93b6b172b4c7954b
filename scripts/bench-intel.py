#!/usr/bin/env python3
"""rulesync benchmarks (make bench-intel), printed as Markdown for docs/PERFORMANCE.md.

1. A million mixed indicators (40 % domains, 30 % IPv4, 10 % IPv6, 10 % URLs, 10 %
   SHA-256; deterministic) as one text feed -> `rulesync run`: wall time, peak RSS and
   rulesync's own phase timings, for a first run and for a second run over the same
   feed (the steady state of an hourly timer).
2. Suricata start-up with 100,000 IPv4 indicators, side by side in one run: rulesync's
   dataset rule against one rule per indicator (what MISP's NIDS export and the replaced
   script generate). Each variant is run alternately, `suricata -r` over a small
   capture, wall time and peak RSS of the Suricata process.

Usage: scripts/bench-intel.py [--indicators N] [--ips N] [--rounds N] [--work DIR]
"""

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, "target", "release")


def public_v4(r):
    # Outside every range rulesync's warninglists refuse (private, reserved, CGNAT,
    # documentation, benchmarking, multicast).
    while True:
        a = r.randrange(1, 224)
        if a not in (10, 100, 127, 169, 172, 192, 198, 203):
            return "%d.%d.%d.%d" % (a, r.randrange(256), r.randrange(256), r.randrange(1, 255))


def name(r):
    return "".join(r.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(r.randrange(6, 14)))


def mixed_feed(path, n):
    r = random.Random(20261121)
    tlds = ["top", "xyz", "ru", "cn", "info", "biz", "online", "site", "club", "io"]
    with open(path, "w") as out:
        for i in range(n):
            k = i % 10
            if k < 4:
                out.write("%s.%s\n" % (name(r), r.choice(tlds)))
            elif k < 7:
                out.write(public_v4(r) + "\n")
            elif k == 7:
                out.write("2a0%x:%x:%x::%x\n" % (r.randrange(1, 16), r.randrange(65536), r.randrange(65536), r.randrange(1, 65536)))
            elif k == 8:
                out.write("http://%s.%s/%s/%s.php\n" % (name(r), r.choice(tlds), name(r), name(r)))
            else:
                out.write(hashlib.sha256(b"%d" % i).hexdigest() + "\n")


def measured(cmd, **kw):
    """Runs cmd; returns (seconds, peak RSS in MB, stdout)."""
    t0 = time.monotonic()
    with tempfile.TemporaryFile() as errf:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errf, **kw)
        out = p.stdout.read()
        # wait4 gives this child's own rusage (RUSAGE_CHILDREN is a running maximum).
        _, status, ru = os.wait4(p.pid, 0)
        errf.seek(0)
        err = errf.read()
    p.returncode = os.waitstatus_to_exitcode(status)
    dt = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit("failed (%d): %s\n%s%s" % (p.returncode, " ".join(cmd), out.decode(), err.decode()[-3000:]))
    return dt, ru.ru_maxrss / 1024.0, out.decode()


def rulesync_config(work, tag, feed, version="7"):
    cfg = os.path.join(work, "rulesync-%s.toml" % tag)
    with open(cfg, "w") as f:
        f.write(
            'output-dir = "%s/out-%s"\nstate-dir = "%s/state-%s"\n'
            '[suricata]\nvalidate = false\nversion = "%s"\n'
            '[[source]]\nname = "bench"\ntype = "text"\npath = "%s"\n' % (work, tag, work, tag, version, feed)
        )
    return cfg


def bench_million(work, n):
    """The same feed for Suricata 7 (plain datasets) and 8 (datajson: each value with its
    provenance), side by side."""
    feed = os.path.join(work, "mixed.txt")
    mixed_feed(feed, n)
    rows = []
    for version in ("7", "8"):
        cfg = rulesync_config(work, "mixed-%s" % version, feed, version)
        for run in ("first run", "second run, same feed"):
            dt, rss, out = measured([os.path.join(RELEASE, "rulesync"), "-c", cfg, "run", "-o", "json"])
            rep = json.loads(out)
            phases = ", ".join("%s %.2f" % (k, v / 1000.0) for k, v in rep["timings_ms"])
            size = sum(
                os.path.getsize(os.path.join(work, "out-mixed-%s" % version, f))
                for f in os.listdir(os.path.join(work, "out-mixed-%s" % version))
                if f.endswith(".lst")
            )
            rows.append((version, run, dt, rss, size / 1e6, rep["indicators"], rep["applied"], phases))
    print("### %d mixed indicators -> rulesync run\n" % n)
    print("| Suricata | run | wall s | peak RSS MB | dataset files MB | indicators | applied | phases (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %s | %.2f | %.0f | %.0f | %d | %s | %s |" % r)
    print()


SURICATA_YAML = """%%YAML 1.1
---
vars:
  address-groups:
    HOME_NET: "[192.168.0.0/16]"
    EXTERNAL_NET: "!$HOME_NET"
  port-groups:
    HTTP_PORTS: "80"
default-log-dir: %(work)s
outputs:
  - eve-log:
      enabled: yes
      filetype: regular
      filename: eve.json
      types:
        - alert
logging:
  default-log-level: notice
  outputs:
    - console:
        enabled: yes
classification-file: /etc/suricata/classification.config
reference-config-file: /etc/suricata/reference.config
"""


def bench_startup(work, n_ips, rounds):
    r = random.Random(7)
    ips = sorted({public_v4(r) for _ in range(n_ips * 2)})[:n_ips]
    r.shuffle(ips)
    feed = os.path.join(work, "ips.txt")
    with open(feed, "w") as f:
        # MISP ip-dst: the traffic-to direction only, as the export's rules.
        f.write("".join(ip + "\n" for ip in ips))
    cfg = rulesync_config(work, "ips", feed)
    with open(cfg, "a") as f:
        f.write('indicator-type = "ip-dst"\n')
    measured([os.path.join(RELEASE, "rulesync"), "-c", cfg, "run"])
    dataset_rules = os.path.join(work, "out-ips", "suriguard.rules")
    per_rule = os.path.join(work, "per-indicator.rules")
    with open(per_rule, "w") as f:
        for i, ip in enumerate(ips):
            f.write(
                'alert ip $HOME_NET any -> %s any (msg:"MISP e%d Outgoing To IP: %s"; '
                "classtype:trojan-activity; sid:%d; rev:1;)\n" % (ip, i // 1000, ip, 5_000_000 + i)
            )
    yaml = os.path.join(work, "suricata.yaml")
    with open(yaml, "w") as f:
        f.write(SURICATA_YAML % {"work": work})
    pcap = os.path.join(work, "contacts.pcap")
    subprocess.run(
        [os.path.join(RELEASE, "pcapgen"), "intel", pcap, "bad.example.top=%s" % ips[0], "ok.example.org=93.184.216.34"],
        check=True,
        stderr=subprocess.DEVNULL,
    )
    results = {"datasets": [], "per-indicator": []}
    for _ in range(rounds):
        for variant, rules in (("datasets", dataset_rules), ("per-indicator", per_rule)):
            logs = os.path.join(work, "logs-" + variant)
            shutil.rmtree(logs, ignore_errors=True)
            os.makedirs(logs)
            dt, rss, _ = measured(["suricata", "-c", yaml, "-S", rules, "-r", pcap, "-l", logs, "-k", "none"])
            with open(os.path.join(logs, "eve.json")) as e:
                alerts = sum(1 for line in e if '"event_type":"alert"' in line)
            if alerts == 0:
                sys.exit("%s: no alert for the listed address: not a fair comparison" % variant)
            results[variant].append((dt, rss))
    print("### Suricata start-up with %d IPv4 indicators (`suricata -r`, small capture, %d rounds alternating)\n" % (n_ips, rounds))
    print("| rules | rules loaded | wall s (median) | peak RSS MB (median) |")
    print("|---|---|---|---|")
    med = {}
    for variant, rules in (("datasets", dataset_rules), ("per-indicator", per_rule)):
        n_rules = sum(1 for line in open(rules) if line.strip() and not line.startswith("#"))
        t = statistics.median(x[0] for x in results[variant])
        m = statistics.median(x[1] for x in results[variant])
        med[variant] = (t, m)
        print("| %s | %d | %.2f | %.0f |" % (variant, n_rules, t, m))
    print()
    print(
        "Ratio: start-up time %.1f x, memory %.1f x.\n"
        % (med["per-indicator"][0] / med["datasets"][0], med["per-indicator"][1] / med["datasets"][1])
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--indicators", type=int, default=1_000_000)
    ap.add_argument("--ips", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--work", default=os.path.join(ROOT, "target", "bench-intel"))
    a = ap.parse_args()
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    print("suricata: %s" % subprocess.run(["suricata", "-V"], capture_output=True, text=True).stdout.strip())
    print("cpu: %s\n" % next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"))
    bench_million(a.work, a.indicators)
    bench_startup(a.work, a.ips, a.rounds)


if __name__ == "__main__":
    main()
