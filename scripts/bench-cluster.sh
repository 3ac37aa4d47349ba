#!/usr/bin/env bash
# bench-cluster.sh compares a Redis Cluster with a single Redis. It runs
# ROUNDS pairs of rounds, in alternation: a fresh "streamcart dev" on its
# managed single Redis, then one with --redis-cluster (three primaries
# with a replica each, on this machine), each driven by "streamcart bench"
# at RATE orders/s for DURATION. Per round it prints orders/s, HTTP and
# order→final p99, and the CPU per order of the services' process
# (streamcart dev) and of its redis-server children (all six nodes of a
# cluster, the replicas' work included). Everything runs on loopback.
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
rate=${RATE:-100}
duration=${DURATION:-20s}
rounds=${ROUNDS:-2}
bin=bin/streamcart
tmp=$(mktemp -d /tmp/streamcart-bench-cluster.XXXXXX)
chmod 755 "$tmp" # PostgreSQL runs as the postgres user when we are root
go build -o "$bin" ./cmd/streamcart
dev=""
stop() {
	halt "$dev"
	dev=""
}
trap 'stop; rm -rf "$tmp"' EXIT

# redises prints the pids of dev's redis-server children.
redises() { ps --ppid "$dev" -o pid=,comm= | awk '$2 == "redis-server" { print $1 }'; }

printf '%-8s %8s %12s %13s %16s %18s\n' redis orders/s "HTTP p99 ms" "final p99 ms" "dev CPU ms/order" "redis CPU ms/order"
for round in $(seq 1 "$rounds"); do
	for mode in single cluster; do
		data="$tmp/$mode-$round"
		mkdir -p "$data"
		flags=()
		[[ $mode == cluster ]] && flags=(--redis-cluster)
		"$bin" dev "${flags[@]}" --data "$data/data" --metrics-addr 127.0.0.1:0 "${dev_bench_flags[@]}" >"$data/dev.log" 2>&1 &
		dev=$!
		url=$(dev_url "$data/dev.log" "$dev")
		mapfile -t rpids < <(redises)
		before=$(cpu "$dev") rbefore=$(cpu "${rpids[@]}")
		report=$("$bin" bench --target "$url" --rate "$rate" --duration "$duration" --settle 30s --json | tail -1)
		after=$(cpu "$dev") rafter=$(cpu "${rpids[@]}")
		stop
		n=$(field ordersAccepted "$report")
		awk -v m="$mode" -v r="$(field ordersPerSecond "$report")" -v h="$(field httpLatencyMs "$report")" \
			-v f="$(field orderToFinalMs "$report")" -v c="$(awk -v a="$after" -v b="$before" 'BEGIN { print a - b }')" \
			-v rc="$(awk -v a="$rafter" -v b="$rbefore" 'BEGIN { print a - b }')" -v n="$n" \
			'BEGIN { printf "%-8s %8.1f %12.1f %13.1f %16.2f %18.2f\n", m, r, h, f, 1000 * c / n, 1000 * rc / n }'
	done
done
