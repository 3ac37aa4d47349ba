# docker.sh is sourced by the scripts that build and run the containers
# (images.sh, compose-test.sh). It picks the Docker CLI and Compose to use
# and finds, or starts, a Docker daemon. Every call is bounded in time.
#
#   DOCKER       a docker CLI that can build with BuildKit: /usr/bin/docker
#                (Debian's docker.io) when it is there, else docker
#   COMPOSE      "docker compose" (v2) when it works, else docker-compose
#   docker_daemon need|start
#                need: fail, saying why, unless a daemon answers;
#                start: start dockerd (data in $STREAMCART_DOCKER_ROOT,
#                /var/lib/streamcart-docker by default, kept between runs
#                as an image cache) unless a daemon answers; docker_stop
#                stops the one it started, by its PID.

DOCKER=${DOCKER:-}
if [[ -z "$DOCKER" ]]; then
	if [[ -x /usr/bin/docker ]]; then DOCKER=/usr/bin/docker; else DOCKER=docker; fi
fi
started_dockerd=""
dockerd_log=""

# docker_answers reports whether the daemon of DOCKER_HOST (or the
# default one) answers within 10 s.
docker_answers() {
	timeout 10 "$DOCKER" info >/dev/null 2>&1
}

docker_daemon() {
	local mode=$1
	if docker_answers; then
		return 0
	fi
	if [[ -z "${DOCKER_HOST:-}" ]] && [[ -S /run/streamcart-docker/docker.sock ]]; then
		export DOCKER_HOST=unix:///run/streamcart-docker/docker.sock
		docker_answers && return 0
		unset DOCKER_HOST
	fi
	if [[ "$mode" != start ]]; then
		echo "docker.sh: no Docker daemon answers (${DOCKER_HOST:-the default socket}): start dockerd, or run make compose-test, which starts one" >&2
		return 1
	fi
	if ! command -v dockerd >/dev/null 2>&1; then
		echo "docker.sh: dockerd is not installed (scripts/deps.sh --docker installs docker.io)" >&2
		return 1
	fi
	if [[ "$(id -u)" -ne 0 ]]; then
		echo "docker.sh: no Docker daemon answers, and starting one needs root" >&2
		return 1
	fi
	local root=${STREAMCART_DOCKER_ROOT:-/var/lib/streamcart-docker}
	local run=/run/streamcart-docker
	mkdir -p "$root" "$run"
	dockerd_log="$run/dockerd.log"
	# setsid: Ctrl-C on the script reaches the script, which stops dockerd
	# itself after tearing the containers down.
	setsid dockerd --host "unix://$run/docker.sock" --data-root "$root" \
		--exec-root "$run/exec" --pidfile "$run/dockerd.pid" >"$dockerd_log" 2>&1 </dev/null &
	started_dockerd=$!
	export DOCKER_HOST="unix://$run/docker.sock"
	local deadline=$((SECONDS + 60))
	until docker_answers; do
		if ! kill -0 "$started_dockerd" 2>/dev/null; then
			echo "docker.sh: dockerd exited at start; its log ($dockerd_log):" >&2
			tail -n 30 "$dockerd_log" >&2
			started_dockerd=""
			return 1
		fi
		if ((SECONDS > deadline)); then
			echo "docker.sh: dockerd did not answer within 60 s; its log ($dockerd_log):" >&2
			tail -n 30 "$dockerd_log" >&2
			docker_stop
			return 1
		fi
		sleep 1
	done
	echo "docker.sh: started dockerd (pid $started_dockerd, data in $root)" >&2
}

# docker_stop stops the dockerd that docker_daemon started, if any, within
# 30 s (then SIGKILL).
docker_stop() {
	[[ -n "$started_dockerd" ]] || return 0
	kill -TERM "$started_dockerd" 2>/dev/null || true
	local deadline=$((SECONDS + 30))
	while kill -0 "$started_dockerd" 2>/dev/null; do
		if ((SECONDS > deadline)); then
			kill -KILL "$started_dockerd" 2>/dev/null || true
			break
		fi
		sleep 0.5
	done
	wait "$started_dockerd" 2>/dev/null || true
	started_dockerd=""
}

# compose_cli sets COMPOSE to the Compose command, once a daemon answers.
compose_cli() {
	if timeout 10 "$DOCKER" compose version >/dev/null 2>&1; then
		COMPOSE=("$DOCKER" compose)
	elif command -v docker-compose >/dev/null 2>&1; then
		COMPOSE=(docker-compose)
	else
		echo "docker.sh: neither docker compose nor docker-compose is installed (scripts/deps.sh --docker installs docker-compose)" >&2
		return 1
	fi
}
