#!/usr/bin/env bash
# Serves Sightline on a local PostgreSQL and S3 server, to try the backends
# a department runs beyond one machine:
#   scripts/run-pg.sh [DATA] [LISTEN]     (make run-pg DATA=… LISTEN=…)
# Beside the data folder, DATA-backends/ holds the PostgreSQL cluster
# (Debian's postgresql, initdb'd on first use, listening on a Unix socket
# only) and the folder versitygw serves as S3 on 127.0.0.1:$S3_PORT (7070),
# bucket "sightline". Both stop when the server does.
set -euo pipefail
data=${1:-./sightline-data-pg}
listen=${2:-127.0.0.1:8080}
port=${S3_PORT:-7070}
root=$(realpath -m "$data")-backends
mkdir -p "$root/sock" "$root/s3"

bin=$(dirname "$(readlink -f "$(command -v pg_ctl 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/pg_ctl | sort -V | tail -1)")")
vgw=$(command -v versitygw || echo "$(go env GOPATH)/bin/versitygw")
# initdb and pg_ctl refuse root: run them as postgres then.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "$(id -u)" = 0 ]; then chown postgres: "$root" "$root/sock"; fi
if [ ! -f "$root/pg/PG_VERSION" ]; then
	as_pg "$bin/initdb" -D "$root/pg" -U postgres -A trust -E UTF8 --no-locale >/dev/null
fi
as_pg "$bin/pg_ctl" -D "$root/pg" -o "-k $root/sock -c listen_addresses=''" -l "$root/pg.log" -w start >/dev/null
AWS_ACCESS_KEY_ID=sightline AWS_SECRET_ACCESS_KEY=sightline-local-secret
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
"$vgw" --access "$AWS_ACCESS_KEY_ID" --secret "$AWS_SECRET_ACCESS_KEY" --port "127.0.0.1:$port" --keep-alive --quiet posix "$root/s3" >"$root/s3.log" 2>&1 &
vgw_pid=$!
stop() { kill $vgw_pid 2>/dev/null || true; as_pg "$bin/pg_ctl" -D "$root/pg" -m fast -w stop >/dev/null || true; }
trap stop EXIT
trap 'exit 130' INT TERM
# The bucket, made through the S3 API once the server answers (curl signs
# the request).
for _ in $(seq 100); do
	code=$(curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
		-H "x-amz-content-sha256: $(printf '' | sha256sum | cut -d' ' -f1)" -X PUT "http://127.0.0.1:$port/sightline" || true)
	case $code in 200|409) break ;; esac
	if ! kill -0 $vgw_pid 2>/dev/null; then
		echo "versitygw did not start (is port $port taken? set S3_PORT):" >&2
		cat "$root/s3.log" >&2
		exit 1
	fi
	sleep 0.1
done
if ! as_pg "$bin/psql" -h "$root/sock" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'sightline'" | grep -q 1; then
	as_pg "$bin/createdb" -h "$root/sock" -U postgres sightline
fi
database="postgres://postgres@/sightline?host=$root/sock&sslmode=disable"
blobs="s3://sightline?endpoint=http://127.0.0.1:$port&region=us-east-1"
echo "sightline: records in PostgreSQL ($database), blobs in S3 ($blobs)"
go run ./cmd/sightline serve --data "$data" --listen "$listen" --database "$database" --blobs "$blobs"
