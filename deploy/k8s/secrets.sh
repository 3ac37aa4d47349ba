#!/usr/bin/env bash
# secrets.sh makes the Secrets that deploy/k8s refers to, in the namespace
# streamcart of the current kubectl context, from the files of
# "streamcart secrets" (one Secret streamcart-<dir> per directory it makes;
# the secrets themselves are kept in DIR/source for the next run).
#
#   deploy/k8s/secrets.sh local        Redis and PostgreSQL in the cluster
#   deploy/k8s/secrets.sh production REDIS_URL DATABASE_URL
#       the managed servers', without credentials, e.g.
#       rediss://redis.example.internal:6380/0
#       'postgres://streamcart@db.example.internal:5432/streamcart?sslmode=verify-full'
#
# DIR is deploy/k8s/secrets/<overlay> (git-ignored); keep it, or its
# source directory, somewhere safe: it is what the Secrets are made of.
# streamcart is bin/streamcart when it is built, else go run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
overlay=${1:-}
case "$overlay" in
local)
	redis_url=redis://redis:6379/0
	database_url='postgres://streamcart@postgres:5432/streamcart?sslmode=disable'
	dirs=(products orders payments orderhistory identity gateway migrate scaler redis postgres)
	;;
production)
	redis_url=${2:?the managed Redis URL, without credentials}
	database_url=${3:?the managed PostgreSQL URL, with its user and without a password}
	dirs=(products orders payments orderhistory identity gateway migrate scaler)
	;;
*)
	echo "usage: deploy/k8s/secrets.sh local | production REDIS_URL DATABASE_URL" >&2
	exit 2
	;;
esac
streamcart=(go run ./cmd/streamcart)
[[ -x bin/streamcart ]] && streamcart=(bin/streamcart)
dir=deploy/k8s/secrets/$overlay
"${streamcart[@]}" secrets --dir "$dir" --redis-url "$redis_url" --database-url "$database_url"
kubectl get namespace streamcart >/dev/null 2>&1 || kubectl create namespace streamcart
for d in "${dirs[@]}"; do
	kubectl -n streamcart create secret generic "streamcart-$d" --from-file="$dir/$d" \
		--dry-run=client -o yaml | kubectl apply -f -
done
if [[ "$overlay" == production ]]; then
	cat <<EOT
Now create the Redis users on the managed Redis, with the same passwords:
  for u in products payments orders orderhistory identity gateway ops scaler; do
    export STREAMCART_\${u^^}_PASSWORD_FILE=$dir/source/redis-\$u-password; done
  ${streamcart[*]} redis-acl | redis-cli -u rediss://default:ADMIN-PASSWORD@… 
and the PostgreSQL role of $database_url with the password in $dir/source/postgres-password.
EOT
fi
