#!/bin/sh
# The entrypoint of the Debian-based server image (scripts/images.sh), which
# runs either Redis or PostgreSQL. Any command but postgres runs as given.
# For postgres it does what deploy/compose uses of the official postgres
# image's entrypoint: the first start creates the cluster in $PGDATA with
# the superuser $POSTGRES_USER, whose password is in $POSTGRES_PASSWORD_FILE
# (password authentication over TCP), and the database $POSTGRES_DB; every
# start then runs postgres as the postgres user, listening on every address.
set -eu
if [ "${1:-}" != postgres ]; then
	exec "$@"
fi
export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
if [ "$(id -u)" = 0 ]; then
	mkdir -p "$PGDATA" /run/postgresql
	chown -R postgres:postgres "$PGDATA" /run/postgresql
	chmod 700 "$PGDATA"
	cd "$PGDATA"
	exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
	user="${POSTGRES_USER:-postgres}"
	db="${POSTGRES_DB:-$user}"
	: "${POSTGRES_PASSWORD_FILE:?POSTGRES_PASSWORD_FILE must name the file with the password}"
	initdb -D "$PGDATA" -U "$user" --pwfile="$POSTGRES_PASSWORD_FILE" \
		--auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
	echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
	if [ "$db" != postgres ]; then
		echo "CREATE DATABASE \"$db\" OWNER \"$user\"" | postgres --single -D "$PGDATA" postgres >/dev/null
	fi
	echo "docker-entrypoint.sh: created the cluster, user $user and database $db"
fi
shift
exec postgres -c listen_addresses='*' "$@"
