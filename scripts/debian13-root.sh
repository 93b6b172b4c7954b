#!/usr/bin/env bash
# The Debian 13 root with Suricata 8 (scripts/debian-root.sh trixie [ROOT]).
exec "$(dirname "$0")/debian-root.sh" trixie "$@"
