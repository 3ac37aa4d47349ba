#!/usr/bin/env bash
# bench-stream.sh runs the internal/stream benchmarks next to their raw
# go-redis baselines, COUNT times each in alternation (so that both see the
# same machine), and prints the medians and the stream/raw throughput
# ratios, the median CPU time a consumed entry costs, and the median
# latencies of a consumer at 2,000 events/s (BenchmarkLatency, LATENCY_N
# events a round). The last line is "stream/raw consume ratio: <float>".
#
# With PARTITIONS=1 it runs BenchmarkConsumePartitioned instead: every
# combination of 1, 2 and 4 partitions and consumer replicas, COUNT times
# in alternation, and prints each one's median entries/s and its ratio to
# one partition and one replica (docs/scaling.md, "Partitions").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
count=${COUNT:-5}
consume_n=${CONSUME_N:-100000}
publish_n=${PUBLISH_N:-20000}
latency_n=${LATENCY_N:-10000}
# median(list) is the median of the space-separated numbers of list.
median='
	function median(list,    a, n, i, j, t) {
		n = split(list, a, " ")
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}'
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test -c -o "$out.test" ./internal/stream
trap 'rm -f "$out" "$out.test"' EXIT
# bench runs the benchmarks that match $1 once, $2 iterations each, and
# adds their result lines to $out.
bench() {
	"$out.test" -test.run '^$' -test.bench "$1" -test.benchtime "${2}x" -test.count 1 2>/dev/null |
		grep -E '^Benchmark' | tee -a "$out"
}
if [[ -n "${PARTITIONS:-}" ]]; then
	# The handler that does nothing gets more entries, so that starting
	# the consumers (a group and a reader per partition and replica) is a
	# small part of its time.
	for i in $(seq "$count"); do
		bench '^BenchmarkConsumePartitioned$/^noop$' "${NOOP_N:-100000}"
		bench '^BenchmarkConsumePartitioned$/^db$' "${DB_N:-20000}"
	done
	awk "$median"'
		{ name = $1; sub(/^BenchmarkConsumePartitioned\//, "", name); sub(/-[0-9]+$/, "", name)
		  for (i = 2; i < NF; i++) if ($(i + 1) == "entries/s") rate[name] = rate[name] " " $i }
		END {
			printf "\n%-32s %12s %8s\n", "handler/partitions/replicas", "entries/s", "ratio"
			for (w = 1; w <= 2; w++) {
				work = w == 1 ? "noop" : "db"
				base = median(rate[work "/partitions=1/replicas=1"])
				for (p = 1; p <= 4; p *= 2) for (r = 1; r <= 4; r *= 2) {
					name = work "/partitions=" p "/replicas=" r
					m = median(rate[name])
					printf "%-32s %12.0f %8.2f\n", name, m, m / base
				}
			}
		}' "$out"
	exit 0
fi
for i in $(seq "$count"); do
	bench '^Benchmark(Consume|ConsumeRaw)$' "$consume_n"
	bench '^Benchmark(Publish|PublishRaw)$' "$publish_n"
	bench '^BenchmarkLatency$' "$latency_n"
done
awk "$median"'
	{ name = $1; sub(/-[0-9]+$/, "", name); ns[name] = ns[name] " " $3 }
	$6 == "p50-ms" { p50 = p50 " " $5; p99 = p99 " " $7 }
	$6 == "cpu-µs/entry" { cpu[name] = cpu[name] " " $5 }
	END {
		for (b in ns) m[b] = median(ns[b])
		printf "\nmedians (ns/entry): Publish %.0f, PublishRaw %.0f, Consume %.0f, ConsumeRaw %.0f\n",
			m["BenchmarkPublish"], m["BenchmarkPublishRaw"], m["BenchmarkConsume"], m["BenchmarkConsumeRaw"]
		printf "CPU (this process and Redis), medians (µs/entry): Consume %.2f, ConsumeRaw %.2f\n",
			median(cpu["BenchmarkConsume"]), median(cpu["BenchmarkConsumeRaw"])
		printf "latency at 2,000 events/s, medians (ms): p50 %.2f, p99 %.2f\n", median(p50), median(p99)
		printf "stream/raw publish ratio: %.2f\n", m["BenchmarkPublishRaw"] / m["BenchmarkPublish"]
		printf "stream/raw consume CPU ratio: %.2f\n", median(cpu["BenchmarkConsumeRaw"]) / median(cpu["BenchmarkConsume"])
		printf "stream/raw consume ratio: %.2f\n", m["BenchmarkConsumeRaw"] / m["BenchmarkConsume"]
	}' "$out"
