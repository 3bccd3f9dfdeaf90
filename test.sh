#!/usr/bin/env bash
# test.sh runs every test picfit has: vet, the whole go test suite against
# real backends, and static (CGO_ENABLED=0) builds for Linux, macOS and
# Windows. It starts the backends the tests need on free loopback ports
# (Redis: standalone, a 3-node cluster, a primary with a replica; an
# S3-compatible server) and stops them at the end. It installs what is
# missing with apt-get (redis-server, webp).
set -euo pipefail
cd "$(dirname "$0")"

echo "== go vet"
go vet ./...

echo "== tools"
# dwebp, webpinfo and webpmux check our WebP files against libwebp's own reader.
if ! command -v dwebp >/dev/null || ! command -v webpinfo >/dev/null || ! command -v webpmux >/dev/null; then
	echo "installing webp"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq webp >/dev/null
fi

echo "== backends"
. .ci/redis.sh
. .ci/s3.sh
trap 'stop_s3; stop_redis' EXIT
start_redis
start_s3
export PICFIT_REQUIRE_BACKENDS=1 # a backend test that cannot run fails instead of skipping

echo "== go test"
go test -count=1 ./...

echo "== static builds"
for target in linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64; do
	GOOS=${target%/*} GOARCH=${target#*/} CGO_ENABLED=0 go build -o /dev/null . && echo "built $target"
done
