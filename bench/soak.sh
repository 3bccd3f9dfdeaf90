#!/usr/bin/env bash
# soak.sh runs picfit under moderate load on 127.0.0.1 for a while and
# samples its RSS every 10 s, to show memory stays flat after warm-up.
# Usage: bench/soak.sh [minutes] [connections]
# Each connection sends a request every 20 ms: a mix of cached
# thumbnails, uncached thumbnails of a 2 MP photo, a PNG with alpha and
# an animated GIF. Needs wrk. Prints the RSS curve per minute.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-10}
conns=${2:-4}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }

work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/picfit" .
mkdir -p "$work/src"
cp testdata/*.jpg testdata/*.png testdata/*.gif "$work/src/"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/config.json" <<JSON
{"port": $port, "logger": {"level": "error"},
 "storage": {"src": {"type": "fs", "location": "$work/src"}, "dst": {"type": "fs", "location": "$work/dst"}},
 "kvstore": {"type": "cache", "cache": {"max_entries": 5000}}}
JSON
"$work/picfit" -c "$work/config.json" & pid=$!
until curl -sf "http://127.0.0.1:$port/healthcheck" >/dev/null; do sleep 0.1; done

cat > "$work/soak.lua" <<'LUA'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) counts = {} n = 0 end
function delay() return 20 end
function request()
  n = n + 1
  local k = n % 10
  if k < 6 then
    return wrk.format("GET", "/display?path=medium-blinds-1920x1200.jpg&op=thumbnail&w=200&h=200")
  elseif k < 8 then
    return wrk.format("GET", "/display?path=medium-blinds-1920x1200.jpg&op=resize&w=" .. (100 + math.random(0, 700)) .. "&r=" .. math.random(0, 1e9))
  elseif k < 9 then
    return wrk.format("GET", "/display?path=alpha-arc-colors-2140x1200.png&op=resize&w=" .. (100 + math.random(0, 300)) .. "&r=" .. math.random(0, 1e9))
  end
  return wrk.format("GET", "/display?path=giphy.gif&op=resize&w=" .. (50 + math.random(0, 100)) .. "&r=" .. math.random(0, 1e9))
end
function response(status) counts[status] = (counts[status] or 0) + 1 end
function done()
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("counts")) do io.write(string.format("status %d: %d\n", k, v)) end
  end
end
LUA

( while kill -0 $pid 2>/dev/null; do
	echo "$SECONDS $(awk '/VmRSS/ {print int($2/1024)}' /proc/$pid/status)"
	sleep 10
  done ) > "$work/rss.txt" &
sampler=$!
echo "== soak: $minutes min, $conns connections, one request each per 20 ms"
wrk -t2 -c"$conns" -d"$((minutes * 60))s" --timeout 30s -s "$work/soak.lua" "http://127.0.0.1:$port" | grep -E 'requests in|Requests/sec|status|Socket errors'
kill $sampler 2>/dev/null || true
echo "RSS (MiB) per minute: min / max of the 10 s samples"
awk '{m = int($1 / 60); if (!(m in lo) || $2 < lo[m]) lo[m] = $2; if ($2 > hi[m]) hi[m] = $2} END {for (i = 0; i in lo; i++) printf "minute %2d: %4d / %4d\n", i + 1, lo[i], hi[i]}' "$work/rss.txt"
echo "at the end: $(ls /proc/$pid/task | wc -l) OS threads, $(ls /proc/$pid/fd | wc -l) open fds"
