# lib.sh is sourced first by the bench scripts (bench.sh, bench-cluster.sh,
# bench-overhead.sh): it sets bash's strict mode and moves to the
# repository's root, and holds how they start the "streamcart dev" they
# drive, measure its CPU and read the report of "streamcart bench --json".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# dev_bench_flags are the flags of every "streamcart dev" a bench script
# drives: a free loopback port, no limits on sessions and connections per
# address (the bench is one address making many shoppers), quiet logs.
dev_bench_flags=(--addr 127.0.0.1:0 --rate-limit-ip -1 --new-sessions-per-minute -1
	--event-streams-per-ip -1 --log-level warn)

# dev_url LOG PID waits until the "streamcart dev" of pid PID, logging to
# LOG, prints its URL, and prints it; it fails with the log if dev exits
# or takes over 2 minutes.
dev_url() {
	local log=$1 pid=$2 url=""
	for _ in $(seq 1 240); do
		url=$(sed -n 's/^Open \(http:[^ ]*\)$/\1/p' "$log")
		[[ -n "$url" ]] && { echo "$url"; return 0; }
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.5
	done
	cat "$log" >&2
	echo "streamcart dev did not start" >&2
	return 1
}

clk_tck=$(getconf CLK_TCK)

# cpu PID... prints the user+system CPU seconds so far of the processes
# PID..., added up.
cpu() {
	local sum=0 p
	for p in "$@"; do
		sum=$(awk -v s="$sum" -v t="$clk_tck" '{ printf "%.2f", s + ($14 + $15) / t }' "/proc/$p/stat")
	done
	echo "$sum"
}

# field NAME JSON prints the number NAME of the bench report JSON, or its
# p99 when NAME is a latency summary.
field() { sed -n "s/.*\"$1\":{[^}]*\"p99\":\([0-9.]*\).*/\1/p; s/.*\"$1\":\([0-9.]*\)[,}].*/\1/p" <<<"$2" | head -1; }
