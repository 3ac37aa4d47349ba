# lib.sh is sourced first by the bench scripts (bench.sh, bench-cluster.sh,
# bench-overhead.sh, bench-cost.sh): it sets bash's strict mode and moves
# to the repository's root, and holds how they start the "streamcart dev"
# they drive, stop what they started, measure CPU time and read the report
# of "streamcart bench --json". Everything it touches is a process of the
# script's own, by pid.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# dev_bench_flags are the flags of every "streamcart dev" a bench script
# drives: a free loopback port, no limits on sessions and connections per
# address (the bench is one address making many shoppers), quiet logs.
dev_bench_flags=(--addr 127.0.0.1:0 --rate-limit-ip -1 --new-sessions-per-minute -1
	--event-streams-per-ip -1 --log-level warn)

# tick is the kernel's clock ticks per second, the unit of /proc/*/stat's
# CPU times.
tick=$(getconf CLK_TCK)

# dev_url LOG PID waits until the "streamcart dev" of pid PID, printing
# to LOG, prints its URL, and prints it; it fails with the log if dev
# exits or takes over 2 minutes.
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

# halt stops process $1 with SIGINT (a process that received it before it
# was listening for it, which a background job of a script ignores, gets
# SIGKILL after 30 s) and waits for it. An empty $1 is nothing to stop.
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

# cpu prints the user+system CPU seconds so far of the processes $@ (all
# their threads).
cpu() {
	local sum=0
	for p in "$@"; do
		sum=$(awk -v s="$sum" -v t="$tick" '{ printf "%.2f", s + ($14 + $15) / t }' "/proc/$p/stat")
	done
	echo "$sum"
}

# server_cpu prints the user+system CPU seconds so far of process $1, a
# server, with its children: those of it and its live children (such as
# PostgreSQL's backends, each in a process group of its own, or Redis's
# rewrite of its append-only file), and of the children it has waited
# for. The fields are counted from the last ")", after the command's
# name; a process that ends while they are read is left out.
server_cpu() {
	{ cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v g="$1" -v t="$tick" '
		{ pid = $1; sub(/^.*\) /, ""); split($0, f, " ") }
		pid == g { sum += f[12] + f[13] + f[14] + f[15] }
		f[2] == g { sum += f[12] + f[13] }
		END { printf "%.2f", sum / t }'
}

# self_children_cpu prints the user+system CPU seconds of this script's
# children that it has waited for, so far: around a wait for one child, the
# CPU time of that child.
self_children_cpu() { awk -v t="$tick" '{ sub(/^.*\) /, ""); split($0, f, " "); printf "%.2f", (f[14] + f[15]) / t }' "/proc/$$/stat"; }

# field prints the number after "$1": in JSON $2, or the p99 of the
# object there.
field() { sed -n "s/.*\"$1\":{[^}]*\"p99\":\([0-9.]*\).*/\1/p; s/.*\"$1\":\([0-9.]*\)[,}].*/\1/p" <<<"$2" | head -1; }

# median prints the median of the numbers on stdin, one a line.
median() {
	sort -g | awk '{ v[NR] = $1 } END { if (NR) print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
