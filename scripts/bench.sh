#!/usr/bin/env bash
# bench.sh starts a fresh "streamcart dev" on a temporary data directory,
# drives it with "streamcart bench" for DURATION at RATE orders/s, prints
# the report, and stops it. Everything runs on this machine, on loopback.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rate=${RATE:-200}
duration=${DURATION:-20s}
bin=bin/streamcart
data=$(mktemp -d /tmp/streamcart-bench.XXXXXX)
chmod 755 "$data" # PostgreSQL runs as the postgres user when we are root
log="$data/dev.log"
"$bin" dev --data "$data/data" --addr 127.0.0.1:0 --metrics-addr 127.0.0.1:0 --rate-limit-ip -1 --new-sessions-per-minute -1 --event-streams-per-ip -1 --log-level warn >"$log" 2>&1 &
dev=$!
cleanup() {
	kill -INT "$dev" 2>/dev/null || true
	wait "$dev" 2>/dev/null || true
	rm -rf "$data"
}
trap cleanup EXIT
url=""
for _ in $(seq 1 120); do
	url=$(sed -n 's/^Open \(http:[^ ]*\)$/\1/p' "$log")
	[[ -n "$url" ]] && break
	if ! kill -0 "$dev" 2>/dev/null; then
		cat "$log" >&2
		echo "bench.sh: streamcart dev exited" >&2
		exit 1
	fi
	sleep 0.5
done
if [[ -z "$url" ]]; then
	cat "$log" >&2
	echo "bench.sh: streamcart dev did not start within 60s" >&2
	exit 1
fi
echo "streamcart dev at $url; $rate orders/s for $duration"
"$bin" bench --target "$url" --rate "$rate" --duration "$duration" --settle 30s
