#!/usr/bin/env bash
# make lint: the dependency rules of docs/ARCHITECTURE.md, checked on the real graph.
#   - libsuriguard.so links no SQLite, SMTP, HTTP-client or XML code;
#   - rulesync links neither tract nor the detection engine;
#   - no library crate depends on a program.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0

deps() { cargo tree --locked -p "$1" -e normal --prefix none --format '{p}' | awk '{print $1}' | sort -u; }

forbid() { # crate, regex of forbidden packages, why
    local found
    found=$(deps "$1" | grep -E "$2" || true)
    if [ -n "$found" ]; then
        echo "check-deps: $1 must not depend on $(echo "$found" | tr '\n' ' ')($3)" >&2
        status=1
    else
        echo "check-deps: $1: none of $2"
    fi
}

forbid suriguard-plugin '^(rusqlite|libsqlite3-sys|lettre|reqwest|hyper|axum|tokio|argon2|quick-xml|suriguard-report|suriguard-intel)$' \
    "the .so runs inside Suricata: no SQLite, SMTP, HTTP client or server, async runtime or XML"
forbid rulesync '^(tract-.*|suriguard-detect|suriguard-guard)$' \
    "rulesync compiles intelligence; it never runs the engine"
for lib in crates/*/; do
    name=$(sed -n 's/^name = "\(.*\)"/\1/p' "$lib/Cargo.toml" | head -1)
    forbid "$name" '^(suriguard-plugin|suriguardctl|rulesync|suriguard-e2e)$' "libraries never depend on programs"
done
exit "$status"
