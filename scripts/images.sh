#!/usr/bin/env bash
# images.sh makes the images that deploy/compose runs, on this machine and
# without a registry if need be, and writes their names to
# deploy/compose/.env, which Compose reads:
#
#   STREAMCART_IMAGE           streamcart:latest, built with the Dockerfile
#                              from bin/streamcart-linux, a static binary
#                              built here (no Go image, no module download
#                              inside a container)
#   STREAMCART_REDIS_IMAGE     the official images when they are here or a
#   STREAMCART_POSTGRES_IMAGE  pull works within 60 s; otherwise one Debian
#                              bookworm image with redis-server and
#                              PostgreSQL, made with mmdebstrap from this
#                              machine's apt sources and kept by Docker: it
#                              is made again only when deploy/compose/debian
#                              or the function debian_image changes
#
# STREAMCART_OFFLINE=1 skips the pulls. It needs a Docker daemon (make
# compose-test starts one) and, for the Debian image, mmdebstrap
# (scripts/deps.sh --docker).
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/docker.sh
source scripts/docker.sh

redis_official=redis:7.2-bookworm
postgres_official=postgres:15-bookworm

docker_daemon need

# The streamcart image, from a binary built here.
start=$SECONDS
# -buildvcs=false: as in the Dockerfile, whose context has no .git, so that
# both ways give the same binary, and the same image.
CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags=-s -o bin/streamcart-linux ./cmd/streamcart
if timeout 10 "$DOCKER" buildx version >/dev/null 2>&1; then
	build=("$DOCKER" buildx build --load)
else
	build=("$DOCKER" build) # Debian's docker.io: BuildKit without buildx
fi
DOCKER_BUILDKIT=1 timeout 300 "${build[@]}" -q --build-arg BINARY=prebuilt -t streamcart:latest . >/dev/null
size=$("$DOCKER" image inspect streamcart:latest --format '{{.Size}}')
echo "images.sh: streamcart:latest, $((size / 1000000)) MB ($((SECONDS - start)) s)" >&2

have() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

# pulled reports whether image is here, pulling it if allowed.
pulled() {
	have "$1" && return 0
	[[ "${STREAMCART_OFFLINE:-0}" == 1 ]] && return 1
	echo "images.sh: pulling $1 (60 s at most)" >&2
	timeout 60 "$DOCKER" pull -q "$1" >/dev/null 2>&1
}

# debian_image prints the name of the Debian-based server image, making it
# when Docker does not have it yet.
debian_image() {
	local key
	key=$({
		declare -f debian_image
		cat deploy/compose/debian/*
	} | sha256sum | cut -c1-12)
	local image=streamcart/servers:bookworm-$key
	if have "$image"; then
		echo "$image"
		return
	fi
	command -v mmdebstrap >/dev/null || {
		echo "images.sh: mmdebstrap is not installed (scripts/deps.sh --docker installs it)" >&2
		return 1
	}
	local sources=/etc/apt/sources.list.d/debian.sources
	[[ -f "$sources" ]] || sources=/etc/apt/sources.list
	echo "images.sh: making $image with mmdebstrap from $sources (about 3 minutes)" >&2
	local start=$SECONDS
	# The packages' own cluster is not wanted: the entrypoint makes one in
	# the volume. /data is Redis's directory, as in the official image.
	if ! timeout 900 mmdebstrap --quiet --variant=apt --include=redis-server,postgresql \
		--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		--customize-hook='rm -rf "$1"/var/lib/postgresql/* "$1"/etc/postgresql/*' \
		--customize-hook='for f in "$1"/usr/lib/postgresql/*/bin/*; do ln -s "${f#"$1"}" "$1/usr/local/bin/"; done' \
		--customize-hook='upload deploy/compose/debian/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh' \
		--customize-hook='chmod 755 "$1"/usr/local/bin/docker-entrypoint.sh' \
		--customize-hook='chroot "$1" install -d -o redis -g redis -m 0750 /data' \
		bookworm - "$sources" |
		timeout 300 "$DOCKER" import -c 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' -c 'CMD ["postgres"]' - "$image" >/dev/null; then
		echo "images.sh: making $image failed" >&2
		return 1
	fi
	echo "images.sh: made $image in $((SECONDS - start)) s" >&2
	echo "$image"
}

if pulled "$redis_official" && pulled "$postgres_official"; then
	redis_image=$redis_official postgres_image=$postgres_official
else
	redis_image=$(debian_image)
	postgres_image=$redis_image
fi
cat >deploy/compose/.env <<EOF
# Written by scripts/images.sh: the images this machine has for compose.yaml.
STREAMCART_IMAGE=streamcart:latest
STREAMCART_REDIS_IMAGE=$redis_image
STREAMCART_POSTGRES_IMAGE=$postgres_image
EOF
echo "images.sh: redis $redis_image, postgres $postgres_image (in deploy/compose/.env)" >&2
