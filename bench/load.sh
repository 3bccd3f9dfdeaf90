#!/usr/bin/env bash
# load.sh measures picfit under load on 127.0.0.1: a cached thumbnail
# (served from the destination after the first request) and uncached
# thumbnails (every request a new size, so every one is processed).
# Usage: bench/load.sh [seconds] [connections] [image]
# Needs wrk (apt-get install wrk). Prints req/s, latency p50/p99 and the
# server's peak RSS (VmHWM) for each run.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-8}
image=${3:-schwarzy.jpg}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }

work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/picfit" .
mkdir -p "$work/src"
cp testdata/* "$work/src/" 2>/dev/null || true
corpus=${PICFIT_CORPUS:-../shared/testdata}
[ -f "$work/src/$image" ] || cp "$corpus/$image" "$work/src/"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/config.json" <<JSON
{"port": $port, "logger": {"level": "error"},
 "storage": {"src": {"type": "fs", "location": "$work/src"}, "dst": {"type": "fs", "location": "$work/dst"}},
 "kvstore": {"type": "cache"}, "options": {"max_queue": 1000}}
JSON

run() { # name, then wrk arguments
	local name=$1; shift
	"$work/picfit" -c "$work/config.json" & pid=$!
	until curl -sf "http://127.0.0.1:$port/healthcheck" >/dev/null; do sleep 0.1; done
	echo "== $name ($secs s, $conns connections)"
	wrk -t2 -c"$conns" -d"${secs}s" --latency "$@" | grep -E 'Requests/sec|^ +(50|99)%|Non-2xx|Socket errors|requests in'
	echo "peak RSS: $(awk '/VmHWM/ {print $2/1024 " MiB"}' /proc/$pid/status)"
	kill $pid; wait $pid 2>/dev/null || true
}

url="http://127.0.0.1:$port/display?path=$image&op=thumbnail&w=200&h=200"
run "cached thumbnail 200x200 of $image" "$url"
cat > "$work/unique.lua" <<LUA
counter = 0
request = function()
  counter = counter + 1
  local w = 100 + (counter * 7 + math.random(0, 1000000) * 13) % 100000
  return wrk.format("GET", "/display?path=$image&op=thumbnail&h=200&w=" .. (w % 400 + 50) .. "&x=" .. w)
end
LUA
run "uncached thumbnails of $image" -s "$work/unique.lua" "http://127.0.0.1:$port"
