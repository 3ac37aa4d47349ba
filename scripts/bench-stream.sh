#!/usr/bin/env bash
# bench-stream.sh runs the internal/stream benchmarks next to their raw
# go-redis baselines, COUNT times each in alternation (so that both see the
# same machine), and prints the medians and the stream/raw throughput
# ratios, the median CPU time a consumed entry costs, and the median
# latencies of a consumer at 2,000 events/s (BenchmarkLatency, LATENCY_N
# events a round). The last line is
# "stream/raw consume ratio: <float>".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
count=${COUNT:-5}
consume_n=${CONSUME_N:-100000}
publish_n=${PUBLISH_N:-20000}
latency_n=${LATENCY_N:-10000}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test -c -o "$out.test" ./internal/stream
trap 'rm -f "$out" "$out.test"' EXIT
for i in $(seq "$count"); do
	"$out.test" -test.run '^$' -test.bench '^Benchmark(Consume|ConsumeRaw)$' \
		-test.benchtime "${consume_n}x" -test.count 1 2>/dev/null | grep -E '^Benchmark' | tee -a "$out"
	"$out.test" -test.run '^$' -test.bench '^Benchmark(Publish|PublishRaw)$' \
		-test.benchtime "${publish_n}x" -test.count 1 2>/dev/null | grep -E '^Benchmark' | tee -a "$out"
	"$out.test" -test.run '^$' -test.bench '^BenchmarkLatency$' \
		-test.benchtime "${latency_n}x" -test.count 1 2>/dev/null | grep -E '^Benchmark' | tee -a "$out"
done
awk '
	{ name = $1; sub(/-[0-9]+$/, "", name); ns[name] = ns[name] " " $3 }
	$6 == "p50-ms" { p50 = p50 " " $5; p99 = p99 " " $7 }
	$6 == "cpu-µs/entry" { cpu[name] = cpu[name] " " $5 }
	function median(list,    a, n, i, j, t) {
		n = split(list, a, " ")
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
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
