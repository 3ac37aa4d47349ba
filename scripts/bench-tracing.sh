#!/usr/bin/env bash
# bench-tracing.sh measures what tracing costs. It runs ROUNDS pairs of
# rounds, in alternation: a fresh "streamcart dev" without tracing, then one
# exporting every span with OTLP over HTTP to scripts/otlpsink.go (a
# stand-in collector on loopback that accepts everything and keeps
# nothing), each driven by "streamcart bench" at RATE orders/s for
# DURATION. Per round it prints orders/s, HTTP and order→final p99, and the
# CPU that the services' process (streamcart dev, without its Redis and
# PostgreSQL) and the sink spent during the run, per order. Everything
# runs on this machine, on loopback. ON_ENV adds variables to the rounds
# with tracing, e.g. ON_ENV="OTEL_TRACES_SAMPLER=parentbased_traceidratio
# OTEL_TRACES_SAMPLER_ARG=0.1" to keep one trace in ten.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/devurl.sh
source scripts/devurl.sh
rate=${RATE:-200}
duration=${DURATION:-20s}
rounds=${ROUNDS:-2}
sink_addr=${SINK_ADDR:-127.0.0.1:14318}
bin=bin/streamcart
tmp=$(mktemp -d /tmp/streamcart-bench-tracing.XXXXXX)
chmod 755 "$tmp" # PostgreSQL runs as the postgres user when we are root
go build -o "$bin" ./cmd/streamcart
go build -o "$tmp/otlpsink" scripts/otlpsink.go
tick=$(getconf CLK_TCK)
dev="" sink=""
stop() {
	[[ -n "$dev" ]] && { kill -INT "$dev" 2>/dev/null || true; wait "$dev" 2>/dev/null || true; }
	[[ -n "$sink" ]] && { kill -INT "$sink" 2>/dev/null || true; wait "$sink" 2>/dev/null || true; }
	dev="" sink=""
}
trap 'stop; rm -rf "$tmp"' EXIT

# cpu prints the user+system CPU seconds of process $1 so far.
cpu() { awk -v t="$tick" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"; }
# field prints the number after "$1": in JSON $2.
field() { sed -n "s/.*\"$1\":{[^}]*\"p99\":\([0-9.]*\).*/\1/p; s/.*\"$1\":\([0-9.]*\)[,}].*/\1/p" <<<"$2" | head -1; }

printf '%-8s %8s %12s %13s %10s %14s %10s\n' tracing orders/s "HTTP p99 ms" "final p99 ms" "dev CPU s" "CPU ms/order" "sink CPU s"
for round in $(seq 1 "$rounds"); do
	for mode in off on; do
		data="$tmp/$mode-$round"
		mkdir -p "$data"
		env=()
		if [[ $mode == on ]]; then
			"$tmp/otlpsink" "$sink_addr" >"$data/sink.log" 2>&1 &
			sink=$!
			read -r -a env <<<"${ON_ENV:-}"
			env+=(OTEL_EXPORTER_OTLP_ENDPOINT="http://$sink_addr")
		fi
		env "${env[@]}" "$bin" dev --data "$data/data" --addr 127.0.0.1:0 --rate-limit-ip -1 \
			--new-sessions-per-minute -1 --event-streams-per-ip -1 --log-level warn >"$data/dev.log" 2>&1 &
		dev=$!
		url=$(dev_url "$data/dev.log" "$dev")
		before=$(cpu "$dev")
		sink_before=0
		[[ -n "$sink" ]] && sink_before=$(cpu "$sink")
		report=$("$bin" bench --target "$url" --rate "$rate" --duration "$duration" --settle 30s --json | tail -1)
		after=$(cpu "$dev")
		sink_cpu=-
		[[ -n "$sink" ]] && sink_cpu=$(awk -v a="$(cpu "$sink")" -v b="$sink_before" 'BEGIN { printf "%.2f", a - b }')
		stop
		accepted=$(field ordersAccepted "$report")
		awk -v m="$mode" -v r="$(field ordersPerSecond "$report")" -v h="$(field httpLatencyMs "$report")" \
			-v f="$(field orderToFinalMs "$report")" -v c="$(awk -v a="$after" -v b="$before" 'BEGIN { print a - b }')" \
			-v n="$accepted" -v s="$sink_cpu" \
			'BEGIN { printf "%-8s %8.1f %12.1f %13.1f %10.2f %14.2f %10s\n", m, r, h, f, c, 1000 * c / n, s }'
		[[ $mode == on ]] && sed -n 's/^otlpsink: /  sink: /p' "$data/sink.log" || true
	done
done
