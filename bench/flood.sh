#!/usr/bin/env bash
# flood.sh floods picfit on 127.0.0.1 with uncached requests for a large
# photo (every request a new size) and checks that it stays healthy:
# every answer is 200 or 429, /healthcheck keeps answering fast, and
# memory stays bounded. Bounded in time; loopback only.
# Usage: bench/flood.sh [seconds] [connections] [image]
# FLOOD_SOURCE=url reads the image with url= from a local origin (python3's
# http.server on 127.0.0.1, allow_private_networks on) instead of path=.
# Needs wrk and curl. Exits non-zero when a check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
conns=${2:-200}
image=${3:-large-kleiber-6028x3391.jpg}
corpus=${PICFIT_CORPUS:-../shared/testdata}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }

work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/picfit" .
mkdir -p "$work/src"
cp "$corpus/$image" "$work/src/" 2>/dev/null || cp "testdata/$image" "$work/src/"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
source="path=$image"
allow=false
if [ "${FLOOD_SOURCE:-path}" = url ]; then
	oport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	python3 -m http.server -b 127.0.0.1 -d "$work/src" "$oport" >/dev/null 2>&1 & origin=$!
	trap '[ -n "$pid" ] && kill $pid 2>/dev/null; kill $origin 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
	until curl -sf -o /dev/null "http://127.0.0.1:$oport/$image"; do sleep 0.1; done
	source="url=http://127.0.0.1:$oport/$image"
	allow=true
fi
cat > "$work/config.json" <<JSON
{"port": $port, "logger": {"level": "error"},
 "storage": {"src": {"type": "fs", "location": "$work/src"}, "dst": {"type": "fs", "location": "$work/dst"}},
 "kvstore": {"type": "cache"}, "options": {"allow_private_networks": $allow}}
JSON
GOMEMLIMIT=${GOMEMLIMIT:-} "$work/picfit" -c "$work/config.json" & pid=$!
until curl -sf "http://127.0.0.1:$port/healthcheck" >/dev/null; do sleep 0.1; done

cat > "$work/flood.lua" <<LUA
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) counts = {} n = 0 end
function request()
  n = n + 1
  return wrk.format("GET", "/display?$source&op=thumbnail&h=200&w=" .. (100 + (n * 37 + math.random(0, 99999)) % 500) .. "&n=" .. n .. "-" .. math.random(0, 1e9))
end
function response(status) counts[status] = (counts[status] or 0) + 1 end
function done()
  local total = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("counts")) do total[k] = (total[k] or 0) + v end
  end
  for k, v in pairs(total) do io.write(string.format("status %d: %d\n", k, v)) end
end
LUA

# Probe /healthcheck every 100 ms during the flood.
( end=$((SECONDS + secs)); while [ $SECONDS -lt $end ]; do
	curl -s -o /dev/null -w '%{time_total}\n' --max-time 5 "http://127.0.0.1:$port/healthcheck" || echo 5
	sleep 0.1
  done ) > "$work/health.txt" &
probe=$!
echo "== flood: $conns connections, $secs s, uncached thumbnails of $image"
# wrk runs at nice 10: a load generator has no place on a real server,
# and here it would take CPU from picfit and from the probe at equal rank.
nice -n 10 wrk -t2 -c"$conns" -d"${secs}s" --timeout 30s --latency -s "$work/flood.lua" "http://127.0.0.1:$port" | tee "$work/wrk.txt" | grep -E 'requests in|Requests/sec|^ +(50|99)%|status|Socket errors'
wait $probe
rss=$(awk '/VmHWM/ {printf "%d", $2/1024}' /proc/$pid/status)
max_health=$(sort -g "$work/health.txt" | tail -1)
probes=$(wc -l < "$work/health.txt")
slow=$(awk '$1 > 0.1' "$work/health.txt" | wc -l)
echo "healthcheck: $probes probes, max ${max_health}s, $slow over 100 ms"
echo "peak RSS: ${rss} MiB"
bad=$(grep '^status' "$work/wrk.txt" | grep -vE '^status (200|429):' || true)
[ -z "$bad" ] || { echo "FAIL: answers other than 200/429: $bad"; exit 1; }
[ "$slow" -eq 0 ] || { echo "FAIL: /healthcheck over 100 ms $slow times"; exit 1; }
echo "ok"
