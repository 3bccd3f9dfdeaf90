#!/usr/bin/env bash
# budget.sh holds the memory budget's estimate against what a request
# really costs: for each case, a fresh picfit on 127.0.0.1 serves one
# request, and the script prints the estimate (picfit's debug log line
# "memory estimate") beside the process's peak RSS less its RSS when idle.
# Usage: bench/budget.sh   (corpus from PICFIT_CORPUS, default ../shared/testdata)
# Needs curl and python3. Loopback only; each request bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${PICFIT_CORPUS:-../shared/testdata}
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/picfit" .
mkdir -p "$work/src"
cp testdata/*.jpg testdata/*.png testdata/*.gif testdata/*.webp testdata/*.bmp "$work/src/"
for f in large-kleiber-6028x3391.jpg large-dragonfly-4224x3168-progressive.jpg webp-wood-d-4096x4096.webp \
	animated-imgproxy-demo-978x720-125f.gif; do
	[ -f "$corpus/$f" ] && cp "$corpus/$f" "$work/src/"
done
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss() { awk -v k="$1" '$1 == k":" {printf "%d", $2 / 1024}' "/proc/$pid/status"; }

printf '%-72s %6s %9s %9s %6s\n' request status estimate "peak-idle" ratio
while read -r q; do
	[ -z "$q" ] && continue
	src=${q#path=}
	src=${src%%&*}
	[ -f "$work/src/$src" ] || continue
	port=$(freeport)
	cat >"$work/config.json" <<JSON
{"port": $port, "logger": {"level": "debug"}, "storage": {"src": {"type": "fs", "location": "$work/src"}},
 "options": {"max_memory": "4GiB"}}
JSON
	"$work/picfit" -c "$work/config.json" 2>"$work/log" &
	pid=$!
	until curl -sf -o /dev/null "http://127.0.0.1:$port/healthcheck"; do sleep 0.05; done
	idle=$(rss VmRSS)
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 "http://127.0.0.1:$port/display?$q")
	peak=$(rss VmHWM)
	est=$(sed -n 's/.*msg="memory estimate".* bytes=\([0-9]*\).*/\1/p' "$work/log" | head -1)
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	pid=
	used=$((peak - idle))
	printf '%-72s %6s %7d M %7d M %6s\n' "$q" "$code" $((${est:-0} >> 20)) "$used" \
		"$(awk -v e="${est:-0}" -v u="$used" 'BEGIN {if (u > 0) printf "%.2f", e / 1048576 / u; else print "-"}')"
done <<'CASES'
path=large-kleiber-6028x3391.jpg&op=thumbnail&w=200&h=200
path=large-kleiber-6028x3391.jpg&op=resize&w=1600
path=large-kleiber-6028x3391.jpg&op=rotate&deg=90
path=large-kleiber-6028x3391.jpg&op=flip&pos=h&fmt=png
path=large-kleiber-6028x3391.jpg&op=resize&w=1200&fmt=webp
path=large-dragonfly-4224x3168-progressive.jpg&op=resize&w=800
path=large-dragonfly-4224x3168-progressive.jpg&op=rotate&deg=180
path=medium-blinds-1920x1200.jpg&op=resize&w=800&op=effect&filter=blur&fmt=png
path=cmyk-blinds-1920x1200.jpg&op=resize&w=600
path=alpha-arc-colors-2140x1200.png&op=resize&w=400
path=alpha-arc-colors-2140x1200.png&op=rotate&deg=90
path=alpha-arc-colors-2140x1200.png&op=flip&pos=v&fmt=webp
path=webp-wood-d-4096x4096.webp&op=resize&w=400&fmt=jpg
path=webp-seeding-1920x1080.webp&op=rotate&deg=90
path=animated-imgproxy-demo-978x720-125f.gif&op=resize&w=300
path=animated-imgproxy-demo-978x720-125f.gif&op=flip&pos=h
path=giphy.gif&op=resize&w=200&fmt=webp
path=bmp-blinds-200x125.bmp&op=resize&w=2000&fmt=bmp
path=schwarzy.jpg&op=resize&w=3300&h=3000&fmt=bmp
CASES
