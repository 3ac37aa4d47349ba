#!/usr/bin/env bash
# bench-overhead.sh measures what metrics and tracing cost (make
# bench-overhead). Each of ROUNDS rounds runs a fresh "streamcart dev
# --metrics=false" without tracing ("off") and a fresh one with its
# metrics on and scraped every 5 s (as deploy/observability/prometheus.yml
# does) and tracing on, exporting with OTLP over HTTP to
# scripts/otlpsink.go (a stand-in collector on loopback that accepts
# everything and keeps nothing) ("on"), each driven by "streamcart bench"
# at RATE orders/s for DURATION: one after the other, in alternation, or,
# with TOGETHER=1, both at once, so that both see the same load from
# whatever else runs on the machine. Per round and mode it prints orders/s,
# HTTP and order→final p99, and the CPU that the services' process
# (streamcart dev, without its Redis and PostgreSQL) and the sink spent
# during the run, per order; at the end, the median of each mode and their
# ratio. Everything runs on this machine, on loopback. ON_ENV adds
# variables to the "on" rounds, e.g.
# ON_ENV="OTEL_TRACES_SAMPLER=parentbased_always_on" to keep every trace
# rather than the default one in ten.
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
rate=${RATE:-200}
duration=${DURATION:-20s}
rounds=${ROUNDS:-2}
together=${TOGETHER:-0}
sink_addr=${SINK_ADDR:-127.0.0.1:14318}
bin=bin/streamcart
tmp=$(mktemp -d /tmp/streamcart-bench-overhead.XXXXXX)
chmod 755 "$tmp" # PostgreSQL runs as the postgres user when we are root
go build -o "$bin" ./cmd/streamcart
go build -o "$tmp/otlpsink" scripts/otlpsink.go

# The processes of each mode's current round, by mode.
declare -A dev=() sink=() scraper=() url=() data=() before=() sink_before=() bench=()

# stop stops the processes of mode $1.
stop() {
	if [[ -n "${scraper[$1]:-}" ]]; then
		kill "${scraper[$1]}" 2>/dev/null || true
		wait "${scraper[$1]}" 2>/dev/null || true
	fi
	halt "${bench[$1]:-}"
	halt "${dev[$1]:-}"
	halt "${sink[$1]:-}"
	dev[$1]="" sink[$1]="" scraper[$1]="" bench[$1]=""
}
trap 'stop off; stop on; rm -rf "$tmp"' EXIT

# scrape fetches every metrics URL that dev printed in $1, every 5 s,
# and writes a line to $2 for each answered.
scrape() {
	local urls
	urls=$(sed -n 's/^  [a-z]*: *\(http:[^ ]*\/metrics[^ ]*\)$/\1/p' "$1")
	while true; do
		for u in $urls; do curl -fsS -o /dev/null "$u" 2>/dev/null && echo "$u"; done >>"$2"
		sleep 5
	done
}

# start starts a fresh system of mode $1 (off or on) for round $2 and
# waits until it serves.
start() {
	local mode=$1 dir="$tmp/$1-$2" env=() flags=(--metrics=false)
	mkdir -p "$dir"
	data[$mode]=$dir
	if [[ $mode == on ]]; then
		flags=(--metrics-addr 127.0.0.1:0)
		"$tmp/otlpsink" "$sink_addr" >"$dir/sink.log" 2>&1 &
		sink[$mode]=$!
		read -r -a env <<<"${ON_ENV:-}"
		env+=(OTEL_EXPORTER_OTLP_ENDPOINT="http://$sink_addr")
	fi
	env "${env[@]}" "$bin" dev --data "$dir/data" "${flags[@]}" "${dev_bench_flags[@]}" >"$dir/dev.log" 2>&1 &
	dev[$mode]=$!
	url[$mode]=$(dev_url "$dir/dev.log" "${dev[$mode]}")
	if [[ $mode == on ]]; then
		scrape "$dir/dev.log" "$dir/scrapes" &
		scraper[$mode]=$!
	fi
}

# drive starts the load on mode $1's system, in the background.
drive() {
	before[$1]=$(cpu "${dev[$1]}")
	sink_before[$1]=0
	if [[ -n "${sink[$1]:-}" ]]; then sink_before[$1]=$(cpu "${sink[$1]}"); fi
	"$bin" bench --target "${url[$1]}" --rate "$rate" --duration "$duration" --settle 30s --json >"${data[$1]}/bench.json" &
	bench[$1]=$!
}

# collect waits for mode $1's load to end and takes the CPU spent.
declare -A after=() sink_after=()
collect() {
	wait "${bench[$1]}"
	bench[$1]=""
	after[$1]=$(cpu "${dev[$1]}")
	sink_after[$1]=-
	if [[ -n "${sink[$1]:-}" ]]; then sink_after[$1]=$(cpu "${sink[$1]}"); fi
}

# finish stops mode $1's system and prints its line.
finish() {
	local mode=$1 sink_cpu=- report accepted
	stop "$mode"
	if [[ ${sink_after[$mode]} != - ]]; then sink_cpu=$(awk -v a="${sink_after[$mode]}" -v b="${sink_before[$mode]}" 'BEGIN { printf "%.2f", a - b }'); fi
	report=$(tail -1 "${data[$mode]}/bench.json")
	accepted=$(field ordersAccepted "$report")
	awk -v m="$mode" -v r="$(field ordersPerSecond "$report")" -v h="$(field httpLatencyMs "$report")" \
		-v f="$(field orderToFinalMs "$report")" -v c="$(awk -v a="${after[$mode]}" -v b="${before[$mode]}" 'BEGIN { print a - b }')" \
		-v n="$accepted" -v s="$sink_cpu" \
		'BEGIN { printf "%-8s %8.1f %12.1f %13.1f %10.2f %14.2f %10s\n", m, r, h, f, c, 1000 * c / n, s }' | tee -a "$tmp/rounds"
	if [[ $mode == on ]]; then
		sed -n 's/^otlpsink: /  sink: /p' "${data[$mode]}/sink.log"
		echo "  metrics: $(wc -l <"${data[$mode]}/scrapes") scrapes of $(sort -u "${data[$mode]}/scrapes" | wc -l) services"
	fi
}

printf '%-8s %8s %12s %13s %10s %14s %10s\n' mode orders/s "HTTP p99 ms" "final p99 ms" "dev CPU s" "CPU ms/order" "sink CPU s"
for round in $(seq 1 "$rounds"); do
	# Which goes first alternates from round to round.
	modes=(off on)
	((round % 2)) || modes=(on off)
	if [[ $together == 1 ]]; then
		for mode in "${modes[@]}"; do start "$mode" "$round"; done
		for mode in "${modes[@]}"; do drive "$mode"; done
		for mode in "${modes[@]}"; do collect "$mode"; done
		for mode in "${modes[@]}"; do finish "$mode"; done
	else
		for mode in "${modes[@]}"; do
			start "$mode" "$round"
			drive "$mode"
			collect "$mode"
			finish "$mode"
		done
	fi
done

# cpu_median prints the median of the CPU per order of the rounds of mode $1.
cpu_median() { awk -v m="$1" '$1 == m { print $6 }' "$tmp/rounds" | median; }
off=$(cpu_median off) on=$(cpu_median on)
awk -v off="$off" -v on="$on" 'BEGIN { printf "median CPU ms/order: off %.2f, on %.2f; on/off %.3f\n", off, on, on / off }'
