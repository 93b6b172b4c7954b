#!/usr/bin/env python3
"""What eve.json costs with and without suriguard, on Suricata 7.0 and 8.0 (make bench-evefile).

Side by side in one run, `suricata -r` in runmode single over the `pcapgen bench 10000`
capture (44 MB, 191,400 EVE records) with tests/data/bench.rules:

  regular    Suricata's regular eve.json output, no plugin loaded (the baseline)
  two        the layout before eve-file: the regular eve.json output plus a second
             eve-log output of filetype suriguard (model off)
  model-off  one eve-log output, filetype suriguard, writing eve.json (`eve-file`),
             heuristics on, no model
  model-on   the same with the shipped sequence model (models/seq-lstm)

Runs alternate (regular, two, model-off, model-on, regular, ...) ROUNDS times per Suricata;
medians of wall time and CPU time (user + system of Suricata and its threads) are printed
as a Markdown table with the ratio to the baseline. Every run's eve.json must hold the
same number of records as the baseline's, or the benchmark fails.

usage: scripts/bench-evefile.py [--rounds N] [--versions 7,8] [--sources N]
"""

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REL = os.path.join(ROOT, "target", "release")
PROGRAMS = {"7": "suricata", "8": os.path.join(ROOT, "scripts", "suricata8")}


def without_plugins(src, dst):
    """The minimal config with its `plugins:` list removed: Suricata without suriguard."""
    text = open(src).read()
    text = re.sub(r"(?m)^plugins:\n(  - .*\n)+", "", text)
    open(dst, "w").write(text)


def run(program, args):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.run([program] + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.exit(f"{program} {' '.join(args)} failed:\n{p.stdout.decode(errors='replace')}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss


def lines(path):
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--versions", default="7,8")
    ap.add_argument("--sources", type=int, default=10000)
    a = ap.parse_args()

    work = tempfile.mkdtemp(prefix="sg-bench-evefile-")
    try:
        pcap = os.path.join(work, "bench.pcap")
        subprocess.run([os.path.join(REL, "pcapgen"), "bench", pcap, str(a.sources)],
                       check=True, stdout=subprocess.DEVNULL)
        minimal = os.path.join(ROOT, "suricata-conf", "suricata-minimal.yaml")
        bare = os.path.join(work, "no-plugin.yaml")
        without_plugins(minimal, bare)
        # The plugin output without its eve-file line: what the two-output layout ran.
        two = os.path.join(work, "two-outputs.yaml")
        open(two, "w").write(re.sub(r"(?m)^ *eve-file: .*\n", "", open(minimal).read()))
        plugin = os.path.join(REL, "libsuriguard.so")
        model = os.path.join(ROOT, "models", "seq-lstm", "seq-lstm.onnx")
        tomls = {}
        for name, extra in [("model-off", ""), ("model-on", f'[model]\npath = "{model}"\n')]:
            path = os.path.join(work, f"{name}.toml")
            state = os.path.join(work, f"state-{name}")
            os.makedirs(state, exist_ok=True)
            open(path, "w").write(f'state-dir = "{state}"\n[enforce]\nbackend = "none"\n{extra}')
            tomls[name] = path
        common = ["-r", pcap, "-k", "none", "--runmode", "single",
                  "-S", os.path.join(ROOT, "tests", "data", "bench.rules")]

        def args_for(setup, logdir):
            if setup == "regular":
                return ["-c", bare, "-l", logdir] + common + [
                    "--set", "outputs.0.eve-log.enabled=yes",
                    "--set", "outputs.1.eve-log.enabled=no"]
            if setup == "two":
                return ["-c", two, "-l", logdir] + common + [
                    "--set", "outputs.0.eve-log.enabled=yes",
                    "--set", f"plugins.0={plugin}",
                    "--set", f"outputs.1.eve-log.suriguard.config={tomls['model-off']}"]
            return ["-c", minimal, "-l", logdir] + common + [
                "--set", f"plugins.0={plugin}",
                "--set", f"outputs.1.eve-log.suriguard.config={tomls[setup]}",
                "--set", f"outputs.1.eve-log.suriguard.stats-file={logdir}/stats.json"]

        setups = ["regular", "two", "model-off", "model-on"]
        results = {}
        for v in a.versions.split(","):
            program = PROGRAMS[v]
            version = subprocess.run([program, "-V"], stdout=subprocess.PIPE,
                                     text=True).stdout.strip()
            # One warm-up run per setup (page cache, the root's first start).
            for s in setups:
                d = os.path.join(work, f"warm-{v}-{s}")
                os.makedirs(d)
                run(program, args_for(s, d))
            for r in range(a.rounds):
                for s in setups:
                    d = os.path.join(work, f"run-{v}-{s}-{r}")
                    os.makedirs(d)
                    wall, cpu, _ = run(program, args_for(s, d))
                    n = lines(os.path.join(d, "eve.json"))
                    results.setdefault((v, s), []).append((wall, cpu, n))
                    print(f"  {version}: {s:9} round {r + 1}: wall {wall:6.2f} s, "
                          f"cpu {cpu:6.2f} s, {n} records", file=sys.stderr)
                    shutil.rmtree(d)
            results[(v, "version")] = version

        print(f"\n`pcapgen bench {a.sources}` ({os.path.getsize(pcap) / 1e6:.0f} MB), "
              f"runmode single, medians of {a.rounds} alternating runs\n")
        print("| Suricata | eve.json written by | records | wall (s) | CPU (s) | wall × | CPU × |")
        print("|---|---|---:|---:|---:|---:|---:|")
        labels = {"regular": "Suricata (regular eve-log, no plugin)",
                  "two": "Suricata, plus suriguard as a second output",
                  "model-off": "suriguard, model off",
                  "model-on": "suriguard, model on"}
        for v in a.versions.split(","):
            base = results[(v, "regular")]
            bw = statistics.median(x[0] for x in base)
            bc = statistics.median(x[1] for x in base)
            records = {x[2] for x in base}
            for s in setups:
                rs = results[(v, s)]
                w = statistics.median(x[0] for x in rs)
                c = statistics.median(x[1] for x in rs)
                n = {x[2] for x in rs}
                if n != records:
                    sys.exit(f"{v} {s}: eve.json records {n} differ from the baseline's {records}")
                print(f"| {results[(v, 'version')].replace('This is Suricata version ', '')} "
                      f"| {labels[s]} | {min(n)} | {w:.2f} | {c:.2f} | {w / bw:.3f} | {c / bc:.3f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
