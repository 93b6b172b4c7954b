#!/usr/bin/env python3
"""Peak resident memory suriguard adds to Suricata (make bench-memory).

Side by side in one run, `suricata -r` in runmode single (offline: Suricata reads as fast
as it can, so the detection queue fills up as far as it ever will) over `pcapgen bench N`
captures (N external sources, 11 flows and about 49 packets each) with
tests/data/bench.rules, for N = 1,000, 10,000 and 100,000:

  regular    Suricata's regular eve.json output, no plugin loaded (the baseline)
  none       no eve output at all and no plugin (the baseline the reliability issue
             first measured against; offline it also shows how much Suricata's own
             state moves with its speed: its flow manager works on wall-clock time)
  model-off  suriguard as the eve-log output (writing eve.json), default settings
  model-on   the same with the shipped sequence model (models/seq-lstm)

Peak RSS is the kernel's (wait4's ru_maxrss of the Suricata process). Prints a Markdown
table: peak RSS per setup, what suriguard adds over the baseline, the peak of the plugin's
own heap (its allocator's count: Suricata's allocations excluded, so it does not move with
what Suricata itself holds in a run), and the plugin's own counters (sources evicted at
the source cap, records dropped because a queue was full).

usage: scripts/bench-memory.py [--sources 1000,10000,100000] [--rounds 1] [--suricata PROGRAM]
                               [--setups regular,none,model-off,model-on] [--set KEY=VALUE ...]

--set passes a Suricata setting to the suriguard setups only, e.g.
--set outputs.1.eve-log.suriguard.queue-bytes=16777216

--live [--pps 50000]: live capture instead. Two network namespaces this script creates
(and deletes) joined by a veth pair; Suricata captures with af-packet (runmode workers,
one thread) on one end while tcpreplay (Debian's tcpreplay) sends the same capture into
the other at PPS packets/s. Suricata is stopped (SIGTERM: it logs the flows still open)
two seconds after the replay ends. Also reported: packets the kernel dropped before
Suricata read them (from suricata.log), so a run that lost packets is visible.
"""

import argparse
import json
import signal
import time
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REL = os.path.join(ROOT, "target", "release")
CACHE = os.path.join(ROOT, "target", "bench")


def peak_rss_mb(args):
    """Peak RSS (MiB) and wall seconds of one run."""
    start = time.monotonic()
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    if status != 0:
        sys.exit(f"{' '.join(args)} failed:\n{out.decode(errors='replace')[-3000:]}")
    return ru.ru_maxrss / 1024.0, time.monotonic() - start


NS_TX, NS_IDS = "sgmem-tx", "sgmem-ids"


def sh(*args):
    subprocess.run(list(args), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def live_lab_down():
    for ns in (NS_TX, NS_IDS):
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)


def live_lab_up():
    live_lab_down()
    sh("ip", "netns", "add", NS_TX)
    sh("ip", "netns", "add", NS_IDS)
    sh("ip", "link", "add", "sgm0", "netns", NS_TX, "type", "veth", "peer", "name", "sgm1",
       "netns", NS_IDS)
    for ns, dev in ((NS_TX, "sgm0"), (NS_IDS, "sgm1")):
        # No IPv6 of their own: router solicitations and MLD reports would be sources too.
        sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
        sh("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=1")
        sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        # Room for the capture's largest frames; no addresses: nothing answers.
        sh("ip", "netns", "exec", ns, "ip", "link", "set", dev, "mtu", "9000", "up")


def live_peak_rss_mb(args, logdir, pcap, pps):
    """Suricata capturing in NS_IDS while tcpreplay sends `pcap`; (peak RSS, kernel drops)."""
    log = os.path.join(logdir, "suricata.log")
    p = subprocess.Popen(["ip", "netns", "exec", NS_IDS] + args + ["--af-packet=sgm1",
                         "--runmode", "workers"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while not (os.path.exists(log) and "Engine started" in open(log, errors="replace").read()):
        if p.poll() is not None or time.time() > deadline:
            p.kill()
            sys.exit(f"suricata did not start:\n{p.stdout.read().decode(errors='replace')[-3000:]}")
        time.sleep(0.2)
    subprocess.run(["ip", "netns", "exec", NS_TX, "tcpreplay", "-q", "-i", "sgm0",
                    f"--pps={pps}", pcap], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    time.sleep(2)
    p.send_signal(signal.SIGTERM)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    if status != 0:
        sys.exit(f"suricata failed:\n{out.decode(errors='replace')[-3000:]}")
    text = open(log, errors="replace").read()
    drops = sum(int(m) for m in re.findall(r"Kernel: Packets \d+, dropped (\d+)", text))
    return ru.ru_maxrss / 1024.0, drops


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sources", default="1000,10000,100000")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--suricata", default="suricata")
    ap.add_argument("--setups", default="regular,model-off,model-on",
                    help="which setups to run (regular is the baseline and always runs)")
    ap.add_argument("--live", action="store_true",
                    help="capture live with af-packet from a veth that tcpreplay feeds")
    ap.add_argument("--pps", type=int, default=50000, help="--live: packets per second")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a Suricata --set for the suriguard setups (repeatable)")
    a = ap.parse_args()
    extra_sets = [x for kv in a.set for x in ("--set", kv)]
    setups = ["regular"] + [s for s in a.setups.split(",") if s in ("none", "model-off", "model-on")]
    os.makedirs(CACHE, exist_ok=True)
    work = tempfile.mkdtemp(prefix="sg-bench-memory-")
    try:
        minimal = os.path.join(ROOT, "suricata-conf", "suricata-minimal.yaml")
        bare = os.path.join(work, "no-plugin.yaml")
        text = open(minimal).read()
        open(bare, "w").write(re.sub(r"(?m)^plugins:\n(  - .*\n)+", "", text))
        plugin = os.path.join(REL, "libsuriguard.so")
        model = os.path.join(ROOT, "models", "seq-lstm", "seq-lstm.onnx")
        version = subprocess.run([a.suricata, "-V"], stdout=subprocess.PIPE,
                                 text=True).stdout.strip().replace("This is Suricata version ", "")
        rows = []
        for n in [int(x) for x in a.sources.split(",")]:
            pcap = os.path.join(CACHE, f"memory-{n}.pcap")
            if not os.path.exists(pcap):
                subprocess.run([os.path.join(REL, "pcapgen"), "bench", pcap + ".tmp", str(n)],
                               check=True, stdout=subprocess.DEVNULL)
                os.rename(pcap + ".tmp", pcap)
            common = ["-k", "none", "-S", os.path.join(ROOT, "tests", "data", "bench.rules")]
            if not a.live:
                common += ["-r", pcap, "--runmode", "single"]
            res = {}
            for r in range(a.rounds):
                for setup in setups:
                    d = os.path.join(work, f"{n}-{setup}-{r}")
                    os.makedirs(d)
                    if setup in ("regular", "none"):
                        args = [a.suricata, "-c", bare, "-l", d] + common + [
                            "--set", "outputs.0.eve-log.enabled="
                            + ("yes" if setup == "regular" else "no"),
                            "--set", "outputs.1.eve-log.enabled=no"]
                    else:
                        toml = os.path.join(d, "suriguard.toml")
                        extra = f'[model]\npath = "{model}"\n' if setup == "model-on" else ""
                        open(toml, "w").write(
                            f'state-dir = "{d}"\n[enforce]\nbackend = "none"\n{extra}')
                        args = [a.suricata, "-c", minimal, "-l", d] + common + [
                            "--set", f"plugins.0={plugin}",
                            "--set", f"outputs.1.eve-log.suriguard.config={toml}",
                            "--set", f"outputs.1.eve-log.suriguard.stats-file={d}/stats.json"] + extra_sets
                    if a.live:
                        live_lab_up()
                        try:
                            rss, drops = live_peak_rss_mb(args, d, pcap, a.pps)
                            secs = None
                        finally:
                            live_lab_down()
                    else:
                        (rss, secs), drops = peak_rss_mb(args), 0
                    stats = {}
                    if setup not in ("regular", "none"):
                        stats = json.load(open(os.path.join(d, "stats.json")))
                    stats["kernel_drops"] = drops
                    res.setdefault(setup, []).append((rss, stats, secs))
                    heap = (stats.get("heap") or {}).get("peak_bytes")
                    print(f"  {n} sources, {setup}: peak RSS {rss:.1f} MB"
                          + ("" if a.live else f" in {secs:.1f} s")
                          + (f", suriguard's heap peak {heap / 1048576:.1f} MB" if heap else "")
                          + (f", kernel drops {drops}" if a.live else ""), file=sys.stderr)
                    shutil.rmtree(d)
            base = statistics.median(x[0] for x in res["regular"])
            none = statistics.median(x[0] for x in res["none"]) if "none" in res else None
            for setup in setups:
                rss = statistics.median(x[0] for x in res[setup])
                st = res[setup][-1][1]
                det = st.get("ingest", {}).get("detect") or {}
                evicted = det.get("sources_evicted", "")
                dropped = "" if setup in ("regular", "none") else (
                    st.get("write", {}).get("dropped_queue_full", 0)
                    + (st.get("eve_file") or {}).get("dropped_queue_full", 0))
                added = "" if setup == "regular" else f"{rss - base:+.1f}"
                added_none = (f"{rss - none:+.1f}" if none is not None and setup != "none"
                              else "")
                kdrops = f" {st.get('kernel_drops', 0)} |" if a.live else ""
                records = (st.get("ingest") or {}).get("records", "")
                heap = "" if setup in ("regular", "none") else "{:.1f}".format(statistics.median(
                    (x[1].get("heap") or {}).get("peak_bytes", 0) for x in res[setup]) / 1048576)
                secs = "" if a.live else f" {statistics.median(x[2] for x in res[setup]):.1f} |"
                rows.append(f"| {n:,} | {setup} | {rss:.1f} | {added} | {added_none} | {heap} | {records} | {evicted} | {dropped} |{kdrops}{secs}")
        how = (f"af-packet live (runmode workers, one veth queue: one thread), tcpreplay at {a.pps:,} packets/s"
               if a.live else "`suricata -r` runmode single")
        print(f"\nSuricata {version}, {how}, `pcapgen bench N`, "
              f"median of {a.rounds} run(s) per cell\n")
        extra = " kernel drops |" if a.live else " wall s |"
        print("| sources | setup | peak RSS (MB) | added over regular eve.json (MB) | added over no output (MB) | suriguard's own heap, peak (MB) | records read by suriguard | sources evicted | records dropped (queue full) |" + extra)
        print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            print(r)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
