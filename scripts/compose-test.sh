#!/usr/bin/env bash
# compose-test.sh (make compose-test) runs deploy/compose for real and
# breaks it: it installs what is missing (scripts/deps.sh --docker), finds
# or starts a Docker daemon, makes the images offline (scripts/images.sh),
# starts the stack on a free port, drives the published gateway with
# "streamcart bench" (RATE orders/s for DURATION), freezes one payments
# container KILL_AFTER seconds in and docker-kills it (so that it dies
# holding entries), and checks that no order is lost or stuck: the bench's
# verdict, every order final with its one payment in PostgreSQL, every
# stream's groups drained, no dead letter. It prints the figures, and
# tears everything down (and stops the dockerd it started) whatever
# happens. Any failure, a daemon that cannot start included, fails it.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/docker.sh
source scripts/docker.sh

rate=${RATE:-50}
duration=${DURATION:-30s}
kill_after=${KILL_AFTER:-10}
project=streamcart-test
files=(--env-file deploy/compose/.env -f deploy/compose/compose.yaml -f deploy/compose/compose.test.yaml)
bin=bin/streamcart-linux
work=$(mktemp -d /tmp/streamcart-compose-test.XXXXXX)
started=$SECONDS
up=""
bench=""

say() { echo "compose-test: $*" >&2; }
fail() {
	say "FAIL: $*"
	exit 1
}
ms_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }

bash scripts/deps.sh --docker || fail "missing packages (see above)"
docker_daemon start || fail "no Docker daemon (see above)"
compose_cli || fail "no Compose"
compose() { timeout "${COMPOSE_TIMEOUT:-300}" "${COMPOSE[@]}" -p "$project" "${files[@]}" "$@"; }

cleanup() {
	local status=$?
	trap - EXIT
	if [[ -n "$bench" ]] && kill -0 "$bench" 2>/dev/null; then
		kill "$bench" 2>/dev/null || true
		wait "$bench" 2>/dev/null || true
	fi
	if [[ -n "$up" ]]; then
		if ((status != 0)); then
			say "logs of the stack (last 30 lines each):"
			COMPOSE_TIMEOUT=60 compose logs --no-color --tail 30 >&2 || true
		fi
		COMPOSE_TIMEOUT=120 compose down -v --timeout 30 >/dev/null 2>&1 || say "compose down failed"
	fi
	docker_stop
	rm -rf "$work"
	if ((status == 0)); then say "PASS in $((SECONDS - started)) s"; fi
	exit "$status"
}
trap cleanup EXIT INT TERM

bash scripts/images.sh || fail "could not make the images"
image_size=$("$DOCKER" image inspect streamcart:latest --format '{{.Size}}')
# The issue's ceiling for the one image: 30 MB.
((image_size < 30000000)) || fail "the image streamcart:latest is $image_size bytes, over 30 MB"
# A free port for the gateway: the stack must not take 8080 from a running shop.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export STREAMCART_PORT=$port
target=http://127.0.0.1:$port

# A stack left by an interrupted run goes first.
COMPOSE_TIMEOUT=120 compose down -v --timeout 10 >/dev/null 2>&1 || true
up_started=$SECONDS
up=1
compose up -d --no-build >"$work/up.log" 2>&1 || {
	cat "$work/up.log" >&2
	fail "docker compose up failed"
}
deadline=$((SECONDS + 120))
until "$bin" probe "$target/readyz" >/dev/null 2>&1; do
	((SECONDS < deadline)) || fail "the gateway at $target was not ready within 120 s of compose up"
	sleep 1
done
ready_s=$((SECONDS - up_started))
say "stack ready in $ready_s s; gateway published at $target"

redis_id=$(compose ps -q redis)
postgres_id=$(compose ps -q postgres)
rcli() {
	timeout 20 "$DOCKER" exec "$redis_id" sh -c \
		'REDISCLI_AUTH=$(cat /run/secrets/streamcart/admin-password) redis-cli "$@"' redis-cli "$@"
}
sql() { timeout 20 "$DOCKER" exec "$postgres_id" psql -U streamcart -d streamcart -tAqc "$1"; }

# pending_of prints how many ORDERS_STREAM entries the payments consumers
# whose name starts with prefix (a container's host name) hold.
pending_of() {
	rcli XINFO CONSUMERS ORDERS_STREAM payments |
		awk -v p="$1" 'prev == "name" { n = $0 } prev == "pending" && index(n, p) == 1 { s += $0 } { prev = $0 } END { print s + 0 }'
}

"$bin" bench --target "$target" --rate "$rate" --duration "$duration" --settle 60s --json \
	>"$work/bench.out" 2>"$work/bench.err" &
bench=$!

sleep "$kill_after"
mapfile -t replicas < <(compose ps -q payments)
((${#replicas[@]} == 2)) || fail "want 2 payments containers, have ${#replicas[@]}"
victim=${replicas[0]}
victim_host=$("$DOCKER" inspect --format '{{.Config.Hostname}}' "$victim")
# Frozen first, so that Redis delivers it entries it will never
# acknowledge: it dies holding them, as a crashed process would.
timeout 20 "$DOCKER" pause "$victim" >/dev/null
paused_at=$EPOCHREALTIME
sleep 2
held=$(pending_of "$victim_host")
timeout 20 "$DOCKER" kill "$victim" >/dev/null
killed_at=$EPOCHREALTIME
say "killed payments container ${victim:0:12} (consumer ${victim_host}-…) holding $held entries"
takeover_ms=""
deadline=$((SECONDS + 60))
while ((SECONDS < deadline)); do
	if [[ "$(pending_of "$victim_host")" == 0 ]]; then
		takeover_ms=$(ms_since "$killed_at")
		frozen_ms=$(ms_since "$paused_at")
		break
	fi
	sleep 0.2
done
[[ -n "$takeover_ms" ]] || fail "the killed consumer still holds entries 60 s after the kill"
say "its entries were taken over $takeover_ms ms after the kill ($frozen_ms ms after it froze)"
# What each container uses under the load, for sizing (docs/deploy.md).
timeout 60 "$DOCKER" stats --no-stream --format '{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}' >"$work/stats" || true

bench_status=0
timeout 240 tail --pid="$bench" -f /dev/null || fail "the bench did not end within 240 s"
wait "$bench" || bench_status=$?
grep -v '^{' "$work/bench.out" >&2
cat "$work/bench.err" >&2
report=$(grep '^{' "$work/bench.out" | tail -n 1)
field() { sed -n "s/.*\"$1\":\([0-9-]*\).*/\1/p" <<<"$report"; }
accepted=$(field ordersAccepted)
final=$(field ordersFinal)
not_final=$(field notFinal)
unverifiable=$(field unverifiable)
((bench_status == 0)) || fail "streamcart bench failed (exit $bench_status): accepted $accepted, final $final, not final $not_final"

# PostgreSQL agrees: every order final, each with the one payment of its outcome.
deadline=$((SECONDS + 60))
while :; do
	orders=$(sql "SELECT count(*) FROM orders.orders")
	open=$(sql "SELECT count(*) FROM orders.orders WHERE status NOT IN (4, -4)")
	unmatched=$(sql "SELECT count(*) FROM orders.orders o LEFT JOIN payments.payments p USING (order_id) WHERE p.order_id IS NULL OR p.status <> o.status")
	[[ "$open" == 0 && "$unmatched" == 0 ]] && break
	((SECONDS < deadline)) || fail "$open of $orders orders are not final, $unmatched without their payment, 60 s after the bench"
	sleep 1
done
payments=$(sql "SELECT count(*) FROM payments.payments")
((orders >= accepted)) || fail "PostgreSQL has $orders orders, the bench had $accepted accepted"
((payments == orders)) || fail "$payments payments for $orders orders"

# Every group of every stream drained; nothing dead-lettered.
deadline=$((SECONDS + 60))
while :; do
	backlog=0
	for s in ORDERS_STREAM PAYMENTS_STREAM TRANSACTION_STREAM PRODUCTS_STREAM; do
		n=$(rcli XINFO GROUPS "$s" | awk 'prev == "pending" || prev == "lag" { s += $0 } { prev = $0 } END { print s + 0 }')
		backlog=$((backlog + n))
	done
	((backlog == 0)) && break
	((SECONDS < deadline)) || fail "the streams' groups still have $backlog entries pending or unread 60 s after the bench"
	sleep 1
done
for s in ORDERS_STREAM PAYMENTS_STREAM TRANSACTION_STREAM PRODUCTS_STREAM; do
	dlq=$(rcli XLEN "{$s}:dlq")
	[[ "$dlq" == 0 ]] || fail "$dlq dead letters in {$s}:dlq"
done
victim_state=$("$DOCKER" inspect --format '{{.State.Status}} (exit {{.State.ExitCode}}, restarts {{.RestartCount}})' "$victim")
survivor_health=$("$DOCKER" inspect --format '{{.State.Health.Status}}' "${replicas[1]}")

say "figures:"
cat >&2 <<EOF
  image streamcart:latest       $((image_size / 1000000)) MB ($image_size bytes)
  stack ready after up          $ready_s s
  orders accepted / final       $accepted / $final (not final $not_final, unverifiable $unverifiable)
  in PostgreSQL                 $orders orders, all final; $payments payments, one per order
  killed payments replica       held $held entries; taken over $takeover_ms ms after the kill, $frozen_ms ms after it froze
  killed replica now            $victim_state; the other is $survivor_health
  streams                       every group drained, no dead letters
  total so far                  $((SECONDS - started)) s
  under load (docker stats, CPU and memory of each container):
$(sed 's/^/    /' "$work/stats")
EOF
