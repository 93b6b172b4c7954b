#!/bin/sh
# Sends one alert to suriguard's console as an IoT device would, signed for
# POST /api/v1/device-alerts (docs/CONSOLE.md): HMAC-SHA256 with the key SHA-256(secret)
# over "v1\n" TIMESTAMP "\n" NONCE "\n" BODY. Needs only openssl and curl.
#
#   SURIGUARD_DEVICE=cam-1 SURIGUARD_SECRET=<from `suriguardctl devices token add cam-1`> \
#     scripts/device-alert.sh http://127.0.0.1:8787 \
#     '{"severity":1,"signature":"telnet login with factory password","src_ip":"203.0.113.9","block":true}'
#
# CURL_OPTS is passed to curl (e.g. "--cacert console.crt" for a console on TLS).
set -eu
url=$1
body=$2
: "${SURIGUARD_DEVICE:?set SURIGUARD_DEVICE}" "${SURIGUARD_SECRET:?set SURIGUARD_SECRET}"
ts=$(date +%s)
nonce=$(openssl rand -hex 16)
key=$(printf '%s' "$SURIGUARD_SECRET" | openssl dgst -sha256 -r | cut -c1-64)
sig=$(printf 'v1\n%s\n%s\n%s' "$ts" "$nonce" "$body" |
    openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" -r | cut -c1-64)
# shellcheck disable=SC2086
exec curl -sS ${CURL_OPTS:-} -X POST "$url/api/v1/device-alerts" \
    -H 'Content-Type: application/json' \
    -H "X-Suriguard-Device: $SURIGUARD_DEVICE" \
    -H "X-Suriguard-Timestamp: $ts" \
    -H "X-Suriguard-Nonce: $nonce" \
    -H "X-Suriguard-Signature: $sig" \
    --data-binary "$body" -w '\n%{http_code}\n'
