#!/usr/bin/env bash
# bench-overhead.sh measures what metrics and tracing cost (make
# bench-overhead). It runs ROUNDS pairs of rounds, in alternation: a fresh
# "streamcart dev --metrics=false" without tracing, then one with its
# metrics on and scraped every 5 s (as deploy/observability/prometheus.yml
# does) and tracing on, exporting with OTLP over HTTP to
# scripts/otlpsink.go (a stand-in collector on loopback that accepts
# everything and keeps nothing), each driven by "streamcart bench" at RATE
# orders/s for DURATION. Per round it prints orders/s, HTTP and
# order→final p99, and the CPU that the services' process (streamcart dev,
# without its Redis and PostgreSQL) and the sink spent during the run, per
# order; at the end, the median of each mode and their ratio. Everything
# runs on this machine, on loopback. ON_ENV adds variables to the rounds
# with metrics and tracing, e.g. ON_ENV="OTEL_TRACES_SAMPLER=parentbased_always_on"
# to keep every trace rather than the default one in ten.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rate=${RATE:-200}
duration=${DURATION:-20s}
rounds=${ROUNDS:-2}
sink_addr=${SINK_ADDR:-127.0.0.1:14318}
bin=bin/streamcart
tmp=$(mktemp -d /tmp/streamcart-bench-overhead.XXXXXX)
chmod 755 "$tmp" # PostgreSQL runs as the postgres user when we are root
go build -o "$bin" ./cmd/streamcart
go build -o "$tmp/otlpsink" scripts/otlpsink.go
tick=$(getconf CLK_TCK)
dev="" sink="" scraper=""
# halt stops process $1 with SIGINT (a process that received it before it
# was listening for it, which a background job of a script ignores, gets
# SIGKILL after 30 s) and waits for it.
halt() {
	[[ -n "$1" ]] || return 0
	kill -INT "$1" 2>/dev/null || true
	for _ in $(seq 1 300); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
stop() {
	[[ -n "$scraper" ]] && { kill "$scraper" 2>/dev/null || true; wait "$scraper" 2>/dev/null || true; }
	halt "$dev"
	halt "$sink"
	dev="" sink="" scraper=""
}
trap 'stop; rm -rf "$tmp"' EXIT

# cpu prints the user+system CPU seconds of process $1 so far.
cpu() { awk -v t="$tick" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"; }
# field prints the number after "$1": in JSON $2.
field() { sed -n "s/.*\"$1\":{[^}]*\"p99\":\([0-9.]*\).*/\1/p; s/.*\"$1\":\([0-9.]*\)[,}].*/\1/p" <<<"$2" | head -1; }

# scrape fetches every metrics URL that dev printed in $1, every 5 s.
scrape() {
	local urls
	urls=$(sed -n 's/^  [a-z]*: *\(http:[^ ]*\/metrics[^ ]*\)$/\1/p' "$1")
	while true; do
		for u in $urls; do curl -fsS -o /dev/null "$u" && echo "$u"; done >>"$2"
		sleep 5
	done
}

printf '%-8s %8s %12s %13s %10s %14s %10s\n' mode orders/s "HTTP p99 ms" "final p99 ms" "dev CPU s" "CPU ms/order" "sink CPU s"
for round in $(seq 1 "$rounds"); do
	for mode in off on; do
		data="$tmp/$mode-$round"
		mkdir -p "$data"
		env=()
		flags=(--metrics=false)
		if [[ $mode == on ]]; then
			flags=(--metrics-addr 127.0.0.1:0)
			"$tmp/otlpsink" "$sink_addr" >"$data/sink.log" 2>&1 &
			sink=$!
			read -r -a env <<<"${ON_ENV:-}"
			env+=(OTEL_EXPORTER_OTLP_ENDPOINT="http://$sink_addr")
		fi
		env "${env[@]}" "$bin" dev --data "$data/data" --addr 127.0.0.1:0 "${flags[@]}" --rate-limit-ip -1 \
			--new-sessions-per-minute -1 --event-streams-per-ip -1 --log-level warn >"$data/dev.log" 2>&1 &
		dev=$!
		url=""
		for _ in $(seq 1 120); do
			url=$(sed -n 's/^Open \(http:[^ ]*\)$/\1/p' "$data/dev.log" 2>/dev/null || true)
			[[ -n "$url" ]] && break
			kill -0 "$dev" 2>/dev/null || { cat "$data/dev.log" >&2; exit 1; }
			sleep 0.5
		done
		[[ -n "$url" ]] || { cat "$data/dev.log" >&2; echo "streamcart dev did not start" >&2; exit 1; }
		if [[ $mode == on ]]; then
			scrape "$data/dev.log" "$data/scrapes" &
			scraper=$!
		fi
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
			'BEGIN { printf "%-8s %8.1f %12.1f %13.1f %10.2f %14.2f %10s\n", m, r, h, f, c, 1000 * c / n, s }' | tee -a "$tmp/rounds"
		if [[ $mode == on ]]; then
			sed -n 's/^otlpsink: /  sink: /p' "$data/sink.log"
			echo "  metrics: $(wc -l <"$data/scrapes") scrapes of $(sort -u "$data/scrapes" | wc -l) services"
		fi
	done
done

# median prints the median of the CPU per order of the rounds of mode $1.
median() {
	awk -v m="$1" '$1 == m { print $6 }' "$tmp/rounds" | sort -n |
		awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
off=$(median off) on=$(median on)
awk -v off="$off" -v on="$on" 'BEGIN { printf "median CPU ms/order: off %.2f, on %.2f; on/off %.3f\n", off, on, on / off }'
