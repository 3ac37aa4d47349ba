#!/usr/bin/env bash
# deps.sh makes sure the tools streamcart needs to build, run and test are
# installed: go, make, redis-server, the PostgreSQL server binaries and
# Prometheus (prometheus and promtool: the alert rules' checks and the
# test that scrapes a running shop), plus chromium with --browser, and
# with --docker what make compose-test needs: dockerd (docker.io), Compose
# (docker-compose, unless "docker compose" works) and mmdebstrap. It
# installs missing Debian packages with apt-get
# (as root, or through passwordless sudo) and otherwise prints the command to
# run. It prints nothing when everything is present.
set -euo pipefail

browser=0
docker=0
for arg in "$@"; do
	case "$arg" in
	--browser) browser=1 ;;
	--docker) docker=1 ;;
	-h | --help)
		echo "usage: scripts/deps.sh [--browser] [--docker]"
		exit 0
		;;
	*)
		echo "deps.sh: unknown argument: $arg" >&2
		exit 2
		;;
	esac
done

have_redis() {
	if [[ -n "${REDIS_SERVER_BIN:-}" ]]; then
		[[ -x "$REDIS_SERVER_BIN" ]]
		return
	fi
	command -v redis-server >/dev/null 2>&1
}

# Same search order as internal/platform/servers.
have_postgres() {
	if [[ -n "${POSTGRES_BIN_DIR:-}" ]]; then
		[[ -x "$POSTGRES_BIN_DIR/initdb" && -x "$POSTGRES_BIN_DIR/postgres" ]]
		return
	fi
	command -v initdb >/dev/null 2>&1 && return 0
	compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null
}

have_prometheus() {
	command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1
}

have_browser() {
	command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1
}

have_compose() {
	command -v docker-compose >/dev/null 2>&1 && return 0
	command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1
}

missing() {
	local pkgs=()
	have_redis || pkgs+=(redis-server)
	have_postgres || pkgs+=(postgresql)
	have_prometheus || pkgs+=(prometheus)
	command -v make >/dev/null 2>&1 || pkgs+=(make)
	if ((browser)); then
		have_browser || pkgs+=(chromium)
	fi
	if ((docker)); then
		command -v dockerd >/dev/null 2>&1 || pkgs+=(docker.io)
		have_compose || pkgs+=(docker-compose)
		command -v mmdebstrap >/dev/null 2>&1 || pkgs+=(mmdebstrap)
	fi
	echo "${pkgs[*]}"
}

status=0
if ! command -v go >/dev/null 2>&1; then
	echo "deps.sh: go not found on PATH; install the Go toolchain named in go.mod from https://go.dev/dl (Debian's golang package is too old)" >&2
	status=1
fi

read -r -a pkgs <<<"$(missing)"
if ((${#pkgs[@]} > 0)); then
	if [[ "$(id -u)" -eq 0 ]]; then
		sudo=()
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		sudo=(sudo)
	else
		echo "deps.sh: missing ${pkgs[*]}; install with:" >&2
		echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${pkgs[*]}" >&2
		exit 1
	fi
	echo "deps.sh: installing ${pkgs[*]}" >&2
	"${sudo[@]}" apt-get update -qq
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends "${pkgs[@]}" >/dev/null
	read -r -a still <<<"$(missing)"
	if ((${#still[@]} > 0)); then
		echo "deps.sh: still missing after apt-get install: ${still[*]}" >&2
		exit 1
	fi
fi
exit "$status"
