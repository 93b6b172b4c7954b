#!/usr/bin/env bash
# Coverage-guided fuzzing of suriguard's parsers with cargo-fuzz (libFuzzer), on the
# stable toolchain (`-s none`: no sanitizer, so no nightly needed). See docs/RELIABILITY.md.
#
#   scripts/fuzz.sh smoke                   replay fuzz/regressions, then every target
#                                           SMOKE_SECONDS (15) each; fails on any crash
#   scripts/fuzz.sh run [TARGET] [SECONDS]  bounded run of one target or all (default 60 s)
#   scripts/fuzz.sh campaign [TARGET...]    the long run of docs/RELIABILITY.md: each
#                                           target until CAMPAIGN_RUNS (10,000,000)
#                                           executions or its time cap, one at a time
#   scripts/fuzz.sh seed [TARGET]           (re)build missing corpora from seeds only
#   scripts/fuzz.sh build                   build every target
#   scripts/fuzz.sh list                    the targets
#
# Corpora live in fuzz/corpus/<target>/ (not committed): made from the repository's test
# data and ../shared/data when missing, then grown by every run. Crashes land in
# fuzz/artifacts/<target>/; minimised crashing inputs are kept in fuzz/regressions/.
# Logs of run/campaign go to fuzz/logs/ (not committed).
#
# Knobs (environment): SMOKE_SECONDS, FUZZ_TIMEOUT (seconds one input may take, 10; a
# fuzzer sharing a busy core needs more: the limit is wall time), CAMPAIGN_RUNS, CAMPAIGN_SECONDS (default cap per
# target, 3600), CAMPAIGN_CAP_<target> (per-target cap in seconds), SHARED_DATA (default
# ../shared/data beside the checkout, else /work/shared/data), FUZZ_SANITIZER (none;
# `address` builds with AddressSanitizer through RUSTC_BOOTSTRAP=1, see below).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FUZZ="$ROOT/fuzz"
SANITIZER="${FUZZ_SANITIZER:-none}"
SMOKE_SECONDS="${SMOKE_SECONDS:-15}"
TIMEOUT="${FUZZ_TIMEOUT:-10}"
CAMPAIGN_RUNS="${CAMPAIGN_RUNS:-10000000}"
CAMPAIGN_SECONDS="${CAMPAIGN_SECONDS:-3600}"
if [[ -z "${SHARED_DATA:-}" ]]; then
    if [[ -d "$ROOT/../shared/data" ]]; then
        SHARED_DATA="$ROOT/../shared/data"
    else
        SHARED_DATA=/work/shared/data
    fi
fi

TARGETS=(eve_parse pipeline misp_event misp_manifest list_csv list_text stix2 stix_pattern
    stix1 openioc cowrie indicator config_toml device_request allowlist_file eve_lines)

# Largest input libFuzzer makes per target (seeds are capped at 64 KiB).
max_len() {
    case "$1" in
        indicator | stix_pattern) echo 4096 ;;
        eve_parse | config_toml | device_request) echo 16384 ;;
        misp_manifest | list_csv | list_text | allowlist_file) echo 32768 ;;
        *) echo 65536 ;;
    esac
}

die() {
    echo "fuzz.sh: $*" >&2
    exit 1
}

ensure_cargo_fuzz() {
    if ! cargo fuzz --version >/dev/null 2>&1; then
        echo "fuzz.sh: installing cargo-fuzz" >&2
        cargo install cargo-fuzz --locked
    fi
}

build() {
    ensure_cargo_fuzz
    if [[ "$SANITIZER" != none ]]; then
        # Sanitizers are unstable in rustc: RUSTC_BOOTSTRAP=1 lets the stable compiler
        # accept -Zsanitizer (docs/RELIABILITY.md). Same output path: a switch rebuilds.
        export RUSTC_BOOTSTRAP=1
    fi
    (cd "$FUZZ" && cargo fuzz build -s "$SANITIZER")
}

bin_of() {
    echo "$FUZZ/target/x86_64-unknown-linux-gnu/release/$1"
}

known() {
    local t
    for t in "${TARGETS[@]}"; do [[ "$t" == "$1" ]] && return 0; done
    return 1
}

# --- seeds ------------------------------------------------------------------------------
# Writes fuzz/corpus/<target>/ for each target whose corpus is missing. Each seed is at
# most 64 KiB (large documents are cut down record by record, never truncated mid-way);
# each corpus at most SEED_CAP files.
seed() {
    local want=("$@")
    [[ ${#want[@]} -eq 0 ]] && want=("${TARGETS[@]}")
    local missing=()
    local t
    for t in "${want[@]}"; do
        [[ -d "$FUZZ/corpus/$t" ]] || missing+=("$t")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    command -v python3 >/dev/null || die "python3 is needed to seed the corpora"
    [[ -d "$SHARED_DATA" ]] || echo "fuzz.sh: no $SHARED_DATA: seeding from the repository only" >&2
    python3 - "$ROOT" "$SHARED_DATA" "${missing[@]}" <<'PY'
import glob, hashlib, json, os, re, sys

root, shared, targets = sys.argv[1], sys.argv[2], sys.argv[3:]
CAP = 64 * 1024
SEED_CAP = 300
seeds = {t: [] for t in targets}

def add(t, data):
    if t not in seeds:
        return
    if isinstance(data, str):
        data = data.encode()
    if 0 < len(data) <= CAP and len(seeds[t]) < SEED_CAP:
        seeds[t].append(data)

def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None

def files(pattern):
    return sorted(glob.glob(os.path.join(shared, pattern), recursive=True))

def chunks(lines, n):
    for i in range(0, len(lines), n):
        yield b"\n".join(lines[i:i + n]) + b"\n"

def shrink_json(doc, lists=("Attribute", "Object", "objects", "response")):
    """Cuts the longest list in a JSON document in half until it fits in CAP."""
    text = json.dumps(doc, indent=1)
    for _ in range(40):
        if len(text.encode()) <= CAP:
            return text
        best = None
        def walk(v):
            nonlocal best
            if isinstance(v, dict):
                for k, x in v.items():
                    if isinstance(x, list) and len(x) > 1 and (best is None or len(x) > len(best)):
                        best = x
                    walk(x)
            elif isinstance(v, list):
                for x in v:
                    walk(x)
        walk(doc)
        if best is None:
            return None
        del best[len(best) // 2:]
        text = json.dumps(doc, indent=1)
    return None

def json_doc(t, path):
    raw = read(path)
    if raw is None:
        return
    if len(raw) <= CAP:
        add(t, raw)
        return
    try:
        small = shrink_json(json.loads(raw))
    except ValueError:
        return
    if small:
        add(t, small)

# EVE records written in the repository's own tests (raw strings holding event_type).
eve = []
for path in sorted(glob.glob(os.path.join(root, "crates/**/*.rs"), recursive=True)) + \
        sorted(glob.glob(os.path.join(root, "tests/**/*.rs"), recursive=True)):
    src = read(path).decode("utf-8", "replace")
    for m in re.finditer(r'r#"(\s*\{.*?"event_type".*?\}\s*)"#', src):
        rec = m.group(1)
        if "\n" not in rec and rec not in eve:
            eve.append(rec)
for rec in eve:
    add("eve_parse", rec)
eve_b = [r.encode() for r in eve]
for blk in chunks(eve_b, 8):
    add("pipeline", blk)
    add("eve_lines", blk)
add("pipeline", b"\n".join(eve_b[:200]) + b"\n")

# MISP events and attribute searches.
for p in files("misp/pymisp/*.json") + files("misp/misp-core/event.json") + \
        files("misp/feeds/infoblox/*-*-*-*-*.json") + \
        files("stix/stix1-openioc/misp-stix/test_*_collection_[12].json") + \
        sorted(glob.glob(os.path.join(root, "tests/data/intel/misp-*.json"))):
    json_doc("misp_event", p)
manifest = read(os.path.join(shared, "misp/feeds/infoblox/manifest.json"))
if manifest:
    json_doc("misp_manifest", os.path.join(shared, "misp/feeds/infoblox/manifest.json"))
    try:
        m = json.loads(manifest)
        keys = list(m)
        for i in range(0, len(keys), 5):
            add("misp_manifest", json.dumps({k: m[k] for k in keys[i:i + 5]}))
    except ValueError:
        pass
add("misp_manifest", '{"5c1c0000-0000-4000-8000-000000000000": {"info": "x", "timestamp": "1"}}')

# Values the MISP feed holds, by type: text lists, CSV lists, indicator inputs.
values = []
for p in files("misp/feeds/infoblox/*-*-*-*-*.json")[:12]:
    try:
        ev = json.loads(read(p))["Event"]
    except (ValueError, KeyError, TypeError):
        continue
    for a in ev.get("Attribute", [])[:60]:
        values.append((a.get("type", ""), a.get("value", "")))
for hint, v in values[:150]:
    add("indicator", f"{hint}\n{v}")
for v in ["203.0.113.7", "10.1.2.3/8", "2001:db8::/48", "[2001:db8::1]:443", "xn--bcher-kva.example",
          "Bücher.example.", "hxxps://user:pw@evil.example:8443/a/b?c=d#frag", "a" * 70 + ".example",
          "::ffff:192.0.2.1", "0.0.0.0/0", "d41d8cd98f00b204e9800998ecf8427e"]:
    add("indicator", v)
lines = [v.encode() for _, v in values]
for blk in chunks(lines, 40):
    add("list_text", b"# feed\n" + blk)
for i, blk in enumerate(chunks([f'{n},"{v}",{h}'.encode() for n, (h, v) in enumerate(values)], 40)):
    add("list_csv", b"id,value,type\n" + blk)
add("list_csv", b'# comment\n"a,b",2,"x""y"\n"multi\nline",1.2.3.4,z\n')
add("list_csv", b"first;second;203.0.113.9\n;;10.0.0.0/16\n")
zeek = read(os.path.join(shared, "flows/iot23/CTU-IoT-Malware-Capture-34-1_conn.log.labeled"))
if zeek:
    zl = zeek.split(b"\n")
    for blk in list(chunks(zl, 60))[:30]:
        add("list_csv", blk)
        add("list_text", blk)
add("list_text", b"evil.example\n203.0.113.7\nhttp://x.example/a\n; comment\n// c\n\xff\xfe bad\n")

# STIX 2, its patterns; STIX 1; OpenIOC.
stix2 = files("stix/stix21/*.json") + files("misp/pymisp/stix2.json") + \
    files("stix/stix1-openioc/misp-stix/*_stix21.json") + \
    sorted(glob.glob(os.path.join(root, "tests/data/intel/stix2*.json")))
for p in stix2:
    json_doc("stix2", p)
    try:
        doc = json.loads(read(p))
    except ValueError:
        continue
    for o in doc.get("objects", []) if isinstance(doc, dict) else []:
        if isinstance(o, dict) and isinstance(o.get("pattern"), str):
            add("stix_pattern", o["pattern"])
for p in ["[ipv4-addr:value = '198.51.100.1/32' OR domain-name:value = 'x.example'] WITHIN 5 SECONDS",
          "([network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '203.0.113.1'])",
          "[url:value = 'http://x.example/\\'q'] FOLLOWEDBY [file:hashes.'SHA-256' = 'aa']",
          "[domain-name:value = 'a.example' AND domain-name:resolves_to_refs[*].value = '192.0.2.1'] REPEATS 2 TIMES START t'2016-01-01T00:00:00Z' STOP t'2017-01-01T00:00:00Z'"]:
    add("stix_pattern", p)
for p in files("stix/**/*.stix.xml") + files("stix/**/*stix12.xml") + files("misp/pymisp/stix1.xml-utf8"):
    add("stix1", read(p))
for p in files("stix/**/*.ioc.xml") + files("stix/**/*.ioc"):
    add("openioc", read(p))

# Cowrie: the log in blocks of lines.
cow = read(os.path.join(shared, "cowrie/cowrie.json.2018-05-06"))
if cow:
    for blk in list(chunks(cow.split(b"\n"), 25))[:60]:
        add("cowrie", blk)

# Configuration: the shipped files, whole and one section at a time.
for p in sorted(glob.glob(os.path.join(root, "suricata-conf/*.toml"))):
    text = read(p)
    add("config_toml", text)
    for part in re.split(rb"\n(?=\[)", text):
        add("config_toml", part + b"\n")
for snippet in ['state-dir = "/var/lib/suriguard"\n[network]\nhome-networks = ["192.168.1.0/24", "fd00::/8"]\nallowlist = ["192.168.1.1"]\nown-addresses = ["192.168.1.2"]\n',
                '[console]\ndevice-max-skew = 300\ndevice-rate-limit = 60\nsession-hours = 12.5\n',
                '[decisions]\n[detect]\n[model]\n[enforce]\n[alerts]\n[misp]\n[mitigate]\n[notify]\n']:
    add("config_toml", snippet)

# Device alert requests: headers then body; SIGN asks the target to sign it.
for body in ['{"severity":1,"signature":"door forced","src_ip":"203.0.113.5","block":true}',
             '{"severity":2,"signature":"camera login failed","category":"auth","src_ip":"2001:db8::5","src_port":5555,"dest_ip":"192.168.1.10","dest_port":80,"proto":"TCP","details":"3 tries"}',
             '{"severity":4,"signature":"x"}', '{"severity":1,"signature":"x","extra":1}']:
    add("device_request", f"cam-1\n1700000000\n0123456789abcdef0123\nSIGN\n{body}")
    add("device_request", f"cam-1\n1700000100\nnonce_nonce-nonce-00\n{'0' * 64}\n{body}")
add("device_request", "other\n-1\nshort\nSIGN\n{}")

# Allowlist files.
add("allowlist_file", "# allowlist\n192.168.1.10 # by admin at 2024-01-01\n10.0.0.0/8\n2001:db8::/32\n10.0.0.0/8\nnot-an-address\n\n::ffff:192.0.2.1/128\n")
add("allowlist_file", "203.0.113.7/33\n1.2.3.4/0\n  fe80::1%eth0  \n#only comment\n")

written = 0
for t, datas in seeds.items():
    d = os.path.join(root, "fuzz", "corpus", t)
    os.makedirs(d, exist_ok=True)
    for data in datas:
        with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
            f.write(data)
    written += len(datas)
    print(f"fuzz.sh: seeded {t}: {len(datas)} inputs", file=sys.stderr)
PY
}

# --- running ----------------------------------------------------------------------------
# Replays every committed regression input through its target (each must not crash).
replay() {
    local dir t files
    for dir in "$FUZZ"/regressions/*/; do
        [[ -d "$dir" ]] || continue
        t="$(basename "$dir")"
        known "$t" || die "fuzz/regressions/$t: no such target"
        mapfile -t files < <(find "$dir" -type f ! -name '*.md' | sort)
        [[ ${#files[@]} -eq 0 ]] && continue
        echo "fuzz.sh: replaying ${#files[@]} regression input(s) of $t"
        "$(bin_of "$t")" -rss_limit_mb=2048 -timeout=10 "${files[@]}" >"$FUZZ/logs/replay-$t.log" 2>&1 ||
            {
                tail -40 "$FUZZ/logs/replay-$t.log"
                die "regression input of $t fails again"
            }
    done
}

# run_one TARGET SECONDS [RUNS]: one fuzzing process, one core.
run_one() {
    local t="$1" secs="$2" runs="${3:--1}"
    known "$t" || die "no such target: $t"
    seed "$t"
    mkdir -p "$FUZZ/artifacts/$t" "$FUZZ/logs"
    local log="$FUZZ/logs/$t.log"
    local start end
    start=$(date +%s)
    # The binary is run directly, as `cargo fuzz run -s none TARGET CORPUS -- FLAGS`
    # does after its build. One process in one thread: libFuzzer's default. (-jobs=1
    # -workers=1 would fork one child and write its log to ./fuzz-0.log instead.)
    if ! "$(bin_of "$t")" "$FUZZ/corpus/$t" \
        -artifact_prefix="$FUZZ/artifacts/$t/" \
        -max_len="$(max_len "$t")" -rss_limit_mb=2048 -timeout="$TIMEOUT" \
        -max_total_time="$secs" -runs="$runs" \
        -print_final_stats=1 >"$log" 2>&1; then
        tail -60 "$log" >&2
        echo "fuzz.sh: $t FAILED (log: $log, artifacts: fuzz/artifacts/$t/)" >&2
        return 1
    fi
    end=$(date +%s)
    summary "$t" "$log" $((end - start))
}

# One line per target: executions, exec/s, seconds, cov, ft, corpus files.
summary() {
    local t="$1" log="$2" secs="$3"
    local runs rate cov ft corpus
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo '?')
    ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo '?')
    corpus=$(find "$FUZZ/corpus/$t" -type f | wc -l)
    printf 'fuzz.sh: %-15s runs=%s exec/s=%s time=%ss cov=%s ft=%s corpus=%s\n' \
        "$t" "$runs" "$rate" "$secs" "$cov" "$ft" "$corpus" | tee -a "$FUZZ/logs/summary.txt"
}

cmd="${1:-smoke}"
shift || true
cd "$ROOT"
mkdir -p "$FUZZ/logs"
case "$cmd" in
    list) printf '%s\n' "${TARGETS[@]}" ;;
    build) build ;;
    seed) seed "$@" ;;
    smoke)
        build
        seed
        replay
        fail=0
        for t in "${TARGETS[@]}"; do
            run_one "$t" "$SMOKE_SECONDS" || fail=1
        done
        [[ $fail -eq 0 ]] || die "smoke run found crashes"
        echo "fuzz.sh: smoke run passed (${#TARGETS[@]} targets, ${SMOKE_SECONDS} s each)"
        ;;
    run)
        t="${1:-all}"
        secs="${2:-60}"
        build
        fail=0
        if [[ "$t" == all ]]; then
            for t in "${TARGETS[@]}"; do run_one "$t" "$secs" || fail=1; done
        else
            run_one "$t" "$secs" || fail=1
        fi
        [[ $fail -eq 0 ]] || die "crashes found"
        ;;
    campaign)
        build
        want=("$@")
        [[ ${#want[@]} -eq 0 ]] && want=("${TARGETS[@]}")
        fail=0
        for t in "${want[@]}"; do
            cap_var="CAMPAIGN_CAP_$t"
            run_one "$t" "${!cap_var:-$CAMPAIGN_SECONDS}" "$CAMPAIGN_RUNS" || fail=1
        done
        [[ $fail -eq 0 ]] || die "crashes found"
        ;;
    *) die "usage: scripts/fuzz.sh smoke | run [TARGET] [SECONDS] | campaign [TARGET...] | seed [TARGET] | build | list" ;;
esac
