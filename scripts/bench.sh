#!/usr/bin/env bash
# bench.sh starts a fresh "streamcart dev" on a temporary data directory,
# drives it with "streamcart bench" for DURATION at RATE orders/s, prints
# the report, and stops it. Everything runs on this machine, on loopback.
# BIN (default bin/streamcart) runs another build, for a comparison.
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
rate=${RATE:-200}
duration=${DURATION:-20s}
bin=${BIN:-bin/streamcart}
data=$(mktemp -d /tmp/streamcart-bench.XXXXXX)
chmod 755 "$data" # PostgreSQL runs as the postgres user when we are root
"$bin" dev --data "$data/data" --metrics-addr 127.0.0.1:0 "${dev_bench_flags[@]}" >"$data/dev.log" 2>&1 &
dev=$!
cleanup() {
	kill -INT "$dev" 2>/dev/null || true
	wait "$dev" 2>/dev/null || true
	rm -rf "$data"
}
trap cleanup EXIT
url=$(dev_url "$data/dev.log" "$dev")
echo "streamcart dev at $url; $rate orders/s for $duration"
"$bin" bench --target "$url" --rate "$rate" --duration "$duration" --settle 30s
