#!/usr/bin/env bash
# bench-cost.sh measures what an order costs (make bench-cost; issue 14).
# Each run starts a fresh "streamcart dev" on loopback in a temporary
# data directory, logging every request at info as JSON, drives it with
# "streamcart bench" at RATE orders/s for DURATION, and prints, per
# accepted order, what the run made the system do:
#   - Redis commands (total_commands_processed; commands inside Lua
#     scripts count) and the TOP commands by calls (INFO commandstats,
#     after CONFIG RESETSTAT), and round trips (total_reads_processed);
#   - HTTP requests served, by service and route (the access log);
#   - PostgreSQL commits (pg_stat_database's xact_commit: every
#     transaction, read-only ones included);
#   - CPU milliseconds (/proc) of the services (the streamcart dev
#     process), of Redis and of PostgreSQL (each server with its child
#     processes: PostgreSQL's backends, Redis's forks), and of the load
#     tool;
# and the load tool's orders/s, HTTP and order→final p99 and errors. The
# counts cover the whole run, from just before the load starts to a
# second after the last order is final: the background work of that
# window (consumers' polls, the price copy's refresh) counts too.
#
# RATE (default 300), DURATION (20s) and TOP (16) as above; ROUNDS (1)
# runs of each build. BASE=<git revision> also builds that commit (from
# git archive, in the temporary directory) and runs it in alternation
# with this build (which goes first alternates), with the same load tool
# (this build's): at the end the median of each figure per build, and
# their ratio. Everything runs on this machine, on loopback; the script
# stops only the processes it started, by pid.
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
rate=${RATE:-300}
duration=${DURATION:-20s}
rounds=${ROUNDS:-1}
top=${TOP:-16}
base=${BASE:-}
bin=bin/streamcart
tmp=$(mktemp -d /tmp/streamcart-bench-cost.XXXXXX)
chmod 755 "$tmp" # PostgreSQL runs as the postgres user when we are root
go build -o "$bin" ./cmd/streamcart
declare -A build=([this]=$bin)
modes=(this)
if [[ -n "$base" ]]; then
	rev=$(git rev-parse --short "$base^{commit}")
	mkdir "$tmp/base-src"
	git archive "$rev" | tar -x -C "$tmp/base-src"
	(cd "$tmp/base-src" && go build -o "$tmp/streamcart-base" ./cmd/streamcart)
	build[base]=$tmp/streamcart-base
	modes=(base this)
fi

dev="" bench=""
trap 'halt "$bench"; halt "$dev"; rm -rf "$tmp"' EXIT

# child prints the pid of dev's child process named $1.
child() { ps --ppid "$dev" -o pid=,comm= | awk -v n="$1" '$2 == n { print $1; exit }'; }
# rcli runs redis-cli $@ on dev's Redis as its admin.
rcli() { REDISCLI_AUTH=$(cat "$redis_pw") redis-cli -h 127.0.0.1 -p "$redis_port" "$@" | tr -d '\r'; }
# info prints section $1 of INFO.
info() { rcli INFO "$1"; }
# counter prints the difference of counter "$1:" of INFO stats between
# the snapshots.
counter() { echo $(($(sed -n "s/^$1:\([0-9]*\)$/\1/p" <<<"${at[after stats]}") - $(sed -n "s/^$1:\([0-9]*\)$/\1/p" <<<"${at[before stats]}"))); }
# commits prints the transactions committed in dev's database so far.
commits() { psql "$pg_url" -XAtqc 'SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()'; }
# snapshot records the counters at the moment in $1.
declare -A at=()
snapshot() {
	at[$1 stats]=$(info stats)
	at[$1 commands]=$(info commandstats)
	at[$1 commits]=$(commits)
	at[$1 dev]=$(cpu "$dev")
	at[$1 redis]=$(server_cpu "$redis_pid")
	at[$1 postgres]=$(server_cpu "$pg_pid")
	at[$1 time]=$(date +%s.%N)
	at[$1 load]=$(cut -d' ' -f1 /proc/loadavg)
}
# per prints $1 (a difference of counters) times $3 (default 1) per
# order, with $2 decimals (default 2).
per() { awk -v v="$1" -v n="$orders" -v d="${2:-2}" -v x="${3:-1}" 'BEGIN { printf "%.*f", d, v * x / n }'; }
# delta prints "after" minus "before" of counter $1.
delta() { awk -v a="${at[after $1]}" -v b="${at[before $1]}" 'BEGIN { print a - b }'; }
# record keeps figure $2 = $3 of build $1, for the medians.
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$tmp/figures"; }

# requests prints how many requests the access log $1 shows, by service
# and route, most first: path segments that hold a digit and are 8 or more
# characters long (ids) read {id}.
requests() {
	sed -n 's/.*"msg":"http request".*"service":"\([^"]*\)".*"method":"\([^"]*\)","path":"\([^"]*\)".*/\1 \2 \3/p; s/.*"service":"\([^"]*\)".*"msg":"http request".*"method":"\([^"]*\)","path":"\([^"]*\)".*/\1 \2 \3/p' "$1" |
		awk '{ n = split($3, s, "/"); p = ""; for (i = 2; i <= n; i++) p = p "/" (length(s[i]) >= 8 && s[i] ~ /[0-9]/ ? "{id}" : s[i]); c[$1 " " $2 " " p]++ }
			END { for (k in c) print c[k], k }' | sort -k1,1nr -k2
}

# run runs build $1 once, round $2, and prints its figures.
run() {
	local mode=$1 dir="$tmp/$1-$2" status=0 report log_from b0 b1
	mkdir -p "$dir"
	"${build[$mode]}" dev --data "$dir/data" --addr 127.0.0.1:0 --metrics-addr 127.0.0.1:0 --rate-limit-ip -1 \
		--new-sessions-per-minute -1 --event-streams-per-ip -1 --log-level info --log-format json \
		>"$dir/dev.out" 2>"$dir/dev.log" &
	dev=$!
	url=$(dev_url "$dir/dev.out" "$dev")
	redis_port=$(sed -n 's/^  Redis: .*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$dir/dev.out")
	redis_pw="$dir/data/redis/admin-password"
	pg_url=$(sed -n 's/^  PostgreSQL: *\(postgres[^ ]*\)$/\1/p' "$dir/dev.out")
	redis_pid=$(child redis-server) pg_pid=$(child postgres)
	[[ -n "$redis_port" && -n "$pg_url" && -n "$redis_pid" && -n "$pg_pid" ]] || {
		cat "$dir/dev.out" >&2
		echo "bench-cost.sh: no managed Redis and PostgreSQL found" >&2
		exit 1
	}

	rcli CONFIG RESETSTAT >/dev/null
	snapshot before
	log_from=$(($(stat -c %s "$dir/dev.log") + 1))
	b0=$(self_children_cpu)
	"$bin" bench --target "$url" --rate "$rate" --duration "$duration" --settle 30s --json >"$dir/bench.out" 2>"$dir/bench.err" &
	bench=$!
	wait "$bench" || status=$?
	bench=""
	b1=$(self_children_cpu)
	sleep 1 # PostgreSQL's backends report their statistics at most once a second
	snapshot after
	tail -c "+$log_from" "$dir/dev.log" >"$dir/run.log"
	halt "$dev"
	dev=""

	report=$(tail -1 "$dir/bench.out")
	orders=$(field ordersAccepted "$report")
	if [[ -z "$orders" || "$orders" == 0 ]]; then
		cat "$dir/bench.out" "$dir/bench.err" >&2
		echo "bench-cost.sh: no order was accepted" >&2
		exit 1
	fi
	local commands reads http commits dev_ms redis_ms pg_ms tool_ms errors
	commands=$(per "$(counter total_commands_processed)" 1)
	reads=$(per "$(counter total_reads_processed)" 1)
	commits=$(per "$(delta commits)")
	dev_ms=$(per "$(delta dev)" 2 1000) redis_ms=$(per "$(delta redis)" 2 1000) pg_ms=$(per "$(delta postgres)" 2 1000)
	tool_ms=$(per "$(awk -v a="$b1" -v b="$b0" 'BEGIN { print a - b }')" 2 1000)
	requests "$dir/run.log" >"$dir/requests"
	http=$(per "$(awk '{ n += $1 } END { print n + 0 }' "$dir/requests")")

	echo
	echo "$mode (${build[$mode]}), round $2: $rate orders/s asked for $duration; load average ${at[before load]} before, ${at[after load]} after; window $(awk -v a="${at[after time]}" -v b="${at[before time]}" 'BEGIN { printf "%.1f", a - b }') s"
	errors=$(field errorCount "$report")
	((errors == 0)) || errors="$errors $(sed -n 's/.*"errors":\({[^}]*}\).*/\1/p' <<<"$report")"
	printf '  orders: %s accepted, %s final, %.1f/s; errors %s; HTTP p99 %s ms, order→final p99 %s ms\n' \
		"$orders" "$(field ordersFinal "$report")" "$(field ordersPerSecond "$report")" "$errors" \
		"$(field httpLatencyMs "$report")" "$(field orderToFinalMs "$report")"
	((status == 0)) || echo "  streamcart bench FAILED (exit status $status): $(tail -1 "$dir/bench.err")"
	echo "  Redis: $commands commands per order in $reads round trips; the top $top by calls, per order:"
	diff_commandstats "${at[before commands]}" "${at[after commands]}" | head -"$top" |
		awk -v n="$orders" '{ printf "    %7.2f  %s\n", $1 / n, $2 }'
	echo "  HTTP: $http requests served per order:"
	awk -v n="$orders" '{ printf "    %7.2f  %s %s %s\n", $1 / n, $2, $3, $4 }' "$dir/requests"
	echo "  PostgreSQL: $commits commits per order"
	awk -v s="$dev_ms" -v r="$redis_ms" -v p="$pg_ms" -v t="$tool_ms" \
		'BEGIN { printf "  CPU ms per order: services %.2f, Redis %.2f, PostgreSQL %.2f (together %.2f); load tool %.2f\n", s, r, p, s + r + p, t }'

	record "$mode" orders/s "$(field ordersPerSecond "$report")"
	record "$mode" "Redis commands" "$commands"
	record "$mode" "Redis round trips" "$reads"
	record "$mode" "HTTP requests" "$http"
	record "$mode" "PostgreSQL commits" "$commits"
	record "$mode" "CPU ms: services" "$dev_ms"
	record "$mode" "CPU ms: Redis" "$redis_ms"
	record "$mode" "CPU ms: PostgreSQL" "$pg_ms"
	record "$mode" "CPU ms: the three" "$(awk -v s="$dev_ms" -v r="$redis_ms" -v p="$pg_ms" 'BEGIN { print s + r + p }')"
	record "$mode" "CPU ms: load tool" "$tool_ms"
	record "$mode" "HTTP p99 ms" "$(field httpLatencyMs "$report")"
	record "$mode" "order→final p99 ms" "$(field orderToFinalMs "$report")"
	record "$mode" errors "$(field errorCount "$report")"
}

# diff_commandstats prints the calls of each command between INFO
# commandstats $1 and $2, most first.
diff_commandstats() {
	awk -F'[:=,]' '
		FNR == NR && /^cmdstat_/ { before[$1] = $3; next }
		/^cmdstat_/ { sub(/^cmdstat_/, "", $1); d = $3 - before["cmdstat_" $1]; if (d > 0) print d, $1 }
	' <(echo "$1") <(echo "$2") | sort -k1,1nr
}

echo "bench-cost: RATE=$rate DURATION=$duration ROUNDS=$rounds${base:+ BASE=$base ($rev)}; load average now $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$rounds"); do
	order=("${modes[@]}")
	((round % 2)) || order=(this base)
	for mode in "${order[@]}"; do run "$mode" "$round"; done
done

if [[ -n "$base" ]]; then
	echo
	printf '%-22s %10s %10s %10s\n' "median per order" base this this/base
	# Each figure once, in the order they were recorded.
	awk -F'\t' '!seen[$2]++ { print $2 }' "$tmp/figures" | while read -r name; do
		b=$(awk -F'\t' -v f="$name" '$1 == "base" && $2 == f { print $3 }' "$tmp/figures" | median)
		t=$(awk -F'\t' -v f="$name" '$1 == "this" && $2 == f { print $3 }' "$tmp/figures" | median)
		awk -v n="$name" -v b="$b" -v t="$t" 'BEGIN { r = "-"; if (b > 0) r = sprintf("%.3f", t / b); printf "%-22s %10.2f %10.2f %10s\n", n, b, t, r }'
	done
fi
