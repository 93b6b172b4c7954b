#!/usr/bin/env bash
# make test: every test of the workspace (unit, end-to-end with real Suricata, hostile
# host), then one closing line with the totals across all test binaries.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
log=$(mktemp)
status=0
# The Debian roots (cached; a minute or three each to make, mostly downloads): Suricata
# 8.0.8 in Debian 13 for the tests that run on both versions (scripts/suricata8), and
# both roots for the package test. Made in the background while the workspace and the package build.
roots_log=$(mktemp)
trap 'rm -f "$log" "$roots_log"' EXIT
(scripts/debian-root.sh trixie && scripts/debian-root.sh bookworm) >"$roots_log" 2>&1 &
roots=$!
cargo build --release --workspace --locked
# The Debian package (make deb) for the package test.
scripts/deb.sh >/dev/null
if ! wait "$roots"; then
    cat "$roots_log"
    echo "the Debian roots could not be made"
    exit 1
fi
# The real-tool lab's capture (cached by the script's hash; about four minutes to make),
# before the tests so its traffic does not compete with their timing.
scripts/lab/real-tools.sh "$root/target/lab/real-tools"
cargo test --release --workspace --locked --no-fail-fast 2>&1 | tee "$log" || status=$?
# Every fuzz target, briefly (docs/RELIABILITY.md): the crash inputs kept in
# fuzz/regressions replayed, then 3 s each. Installs cargo-fuzz if missing.
if ! SMOKE_SECONDS="${SMOKE_SECONDS:-3}" scripts/fuzz.sh smoke; then
    echo "fuzz smoke run failed"
    status=1
fi
read -r passed failed < <(awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } } END { print p+0, f+0 }' "$log")
echo
echo "tests: ${passed} passed, ${failed} failed"
exit "$status"
