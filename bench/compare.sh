#!/usr/bin/env bash
# compare.sh measures, on the same files, the CPU seconds per image of
# libvips' vipsthumbnail (ten copies in one invocation) and of picfit's
# server (ten uncached /display requests, CPU read from /proc), then runs
# a bounded load of uncached /display on 127.0.0.1 (req/s, p50/p99, peak
# RSS). Same output format for both; JPEG at q80.
# Usage: bench/compare.sh [load-seconds]
# Installs libvips-tools and wrk from Debian when missing. Linux only.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
corpus=${PICFIT_CORPUS:-../shared/testdata}
for tool in vipsthumbnail:libvips-tools wrk:wrk; do
	command -v "${tool%%:*}" >/dev/null || apt-get install -y -qq "${tool#*:}" >/dev/null
done

work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/picfit" .
hz=$(getconf CLK_TCK)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/src"
cat > "$work/config.json" <<JSON
{"port": $port, "logger": {"level": "error"},
 "storage": {"src": {"type": "fs", "location": "$work/src"}, "dst": {"type": "fs", "location": "$work/dst"}},
 "engine": {"quality": 80}}
JSON
"$work/picfit" -c "$work/config.json" & pid=$!
until curl -sf "http://127.0.0.1:$port/healthcheck" >/dev/null; do sleep 0.1; done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# name | file | vips size | vips input suffix | vips output | picfit query
cases=(
	"kleiber thumbnail 200x200|large-kleiber-6028x3391.jpg|200x200 -m centre||%s.jpg[Q=80]|op=thumbnail&w=200&h=200"
	"blinds resize w=800|medium-blinds-1920x1200.jpg|800x||%s.jpg[Q=80]|op=resize&w=800"
	"alpha png resize w=400|alpha-arc-colors-2140x1200.png|400x||%s.png|op=resize&w=400"
	"giphy gif 37 frames w=100|picfit-fixtures/giphy.gif|100x|[n=-1]|%s.gif|op=resize&w=100"
	"imgproxy gif 125 frames w=100|animated-imgproxy-demo-978x720-125f.gif|100x|[n=-1]|%s.gif|op=resize&w=100"
	"seeding progressive w=800|large-seeding-5312x2988-progressive.jpg|800x||%s.jpg[Q=80]|op=resize&w=800"
	"webp wood w=800 to jpeg|webp-wood-d-4096x4096.webp|800x||%s.jpg[Q=80]|op=resize&w=800&fmt=jpg"
	"webp wood w=400 to jpeg|webp-wood-d-4096x4096.webp|400x||%s.jpg[Q=80]|op=resize&w=400&fmt=jpg"
)
printf '%-32s %12s %12s %7s\n' "case" "vips ms/img" "picfit ms/img" "ratio"
for c in "${cases[@]}"; do
	IFS='|' read -r name file size suffix out query <<<"$c"
	[ -f "$corpus/$file" ] || { echo "skip $name: $corpus/$file missing"; continue; }
	ext=${file##*.}
	rm -rf "$work/v" && mkdir -p "$work/v"
	args=()
	for i in $(seq 10); do
		cp "$corpus/$file" "$work/v/c$i.$ext"
		cp "$corpus/$file" "$work/src/c$i-$RANDOM.$ext"
		args+=("$work/v/c$i.$ext$suffix")
	done
	# vipsthumbnail: user+sys CPU of one run over ten copies.
	t=$( { TIMEFORMAT='%U %S'; time vipsthumbnail "${args[@]}" -s ${size} -o "$work/v/out_$out" >/dev/null 2>&1; } 2>&1 | tail -1)
	vips_ms=$(awk -v t="$t" 'BEGIN {split(t, a, " "); printf "%.1f", (a[1] + a[2]) * 1000 / 10}')
	# picfit: server CPU for ten uncached requests, one after another.
	before=$(cpu_ticks $pid)
	for f in "$work"/src/c*-*."$ext"; do
		curl -sf -o /dev/null "http://127.0.0.1:$port/display?path=$(basename "$f")&$query" || echo "picfit failed on $f" >&2
	done
	after=$(cpu_ticks $pid)
	rm -f "$work"/src/c*-*."$ext"
	picfit_ms=$(awk -v a=$after -v b=$before -v hz=$hz 'BEGIN {printf "%.1f", (a - b) * 1000 / hz / 10}')
	printf '%-32s %12s %12s %6sx\n' "$name" "$vips_ms" "$picfit_ms" "$(awk -v p=$picfit_ms -v v=$vips_ms 'BEGIN {printf "%.2f", p / v}')"
done

echo "peak RSS of picfit over the cases above: $(awk '/VmHWM/ {printf "%d MiB", $2/1024}' /proc/$pid/status)"

# The peak RSS of one request, the 4096x4096 WebP to a 400 wide JPEG, on
# a fresh picfit (vipsthumbnail's for the same, for scale).
webp=webp-wood-d-4096x4096.webp
if [ -f "$corpus/$webp" ]; then
	kill $pid && wait $pid 2>/dev/null || true
	"$work/picfit" -c "$work/config.json" & pid=$!
	until curl -sf "http://127.0.0.1:$port/healthcheck" >/dev/null; do sleep 0.1; done
	idle=$(awk '/VmHWM/ {printf "%d", $2/1024}' /proc/$pid/status)
	cp "$corpus/$webp" "$work/src/wood.webp"
	curl -sf -o /dev/null "http://127.0.0.1:$port/display?path=wood.webp&op=resize&w=400&fmt=jpg" || echo "picfit failed on $webp" >&2
	vips_kb=0
	if [ -x /usr/bin/time ]; then
		/usr/bin/time -f %M -o "$work/rss" vipsthumbnail "$corpus/$webp" -s 400x -o "$work/v/wood_%s.jpg[Q=80]" >/dev/null 2>&1
		vips_kb=$(tail -1 "$work/rss")
	fi
	echo "peak RSS of one $webp to w=400 jpeg request: picfit $(awk '/VmHWM/ {printf "%d MiB", $2/1024}' /proc/$pid/status) (${idle} MiB idle), vipsthumbnail $((vips_kb / 1024)) MiB"
fi

# A bounded load of uncached thumbnails of the large JPEG, 2 connections,
# on a fresh picfit so that its peak RSS is this load's alone.
kill $pid && wait $pid 2>/dev/null || true
"$work/picfit" -c "$work/config.json" & pid=$!
until curl -sf "http://127.0.0.1:$port/healthcheck" >/dev/null; do sleep 0.1; done
cp "$corpus/large-kleiber-6028x3391.jpg" "$work/src/kleiber.jpg"
cat > "$work/unique.lua" <<'LUA'
request = function()
  return wrk.format("GET", "/display?path=kleiber.jpg&op=thumbnail&w=200&h=200&r=" .. math.random(0, 1e9))
end
LUA
echo "== load: uncached 200x200 thumbnails of large-kleiber-6028x3391.jpg, 2 connections, $secs s"
wrk -t2 -c2 -d"${secs}s" --timeout 30s --latency -s "$work/unique.lua" "http://127.0.0.1:$port" | grep -E 'requests in|Requests/sec|^ +(50|99)%|Non-2xx'
echo "peak RSS of picfit during the load: $(awk '/VmHWM/ {printf "%d MiB", $2/1024}' /proc/$pid/status)"
