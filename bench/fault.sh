#!/usr/bin/env bash
# fault.sh breaks picfit's backends on purpose under load (issue 9) and
# checks that it keeps answering and loses or half-writes nothing. It
# starts on 127.0.0.1 a Redis server (the kv store, .ci/redis.sh),
# versitygw (the S3 destination, .ci/s3.sh), a small Python origin for
# url= sources, and picfit (fs sources, S3 results, Redis kv,
# fetch_timeout 2s, shutdown_timeout 20s), then runs five bounded wrk
# phases of one mixed load (40% cached /display, 25% uncached /display,
# 15% uncached url= through the origin, 10% /get, 10% /healthcheck):
#   1 baseline  no fault
#   2 redis     SIGKILL Redis at 1 s, start it again on its port at 11 s
#   3 s3        SIGSTOP versitygw at 6 s, SIGCONT at 14 s
#   4 origin    the origin answers after 3 s (over fetch_timeout) from 3 s to 11 s
#   5 sigterm   SIGTERM picfit at 6 s, wait for its exit, start it again
# and a last one without wrk:
#   6 drain     SIGSTOP versitygw; 24 /display?force=1 answered from memory
#               queue their stores; SIGTERM picfit; SIGCONT
# Checks, and exits non-zero when one fails:
#   - phases 1, 2 and 5 answer no 5xx (README: with Redis down requests
#     are served uncached); phases 3 and 4 only 502, 503 or 504 (README: a
#     backend down or failing is a 502, a timeout a 504). Every request of
#     the mix is valid: any 4xx but 429 fails too, and /healthcheck must
#     answer 200 throughout. Connection errors while picfit restarts are
#     socket errors, counted apart;
#   - SIGTERM: picfit exits 0 within shutdown_timeout (plus 5 s, then it
#     is killed); in phase 5 (S3 up) it logs no result it could not store;
#     in phase 6 every result it answered is stored or logged by key;
#   - Redis holds entries again after its restart;
#   - every object in the bucket decodes as the image its name says, and
#     every kv entry names an existing object (TestFaultCheck);
#   - no goroutine or fd leak: after the load, picfit comes back (within
#     10 s) to its pre-load figures, give or take 3 goroutines and 2 fds,
#     once the pooled idle connections to S3, Redis and the origin (2
#     goroutines each for HTTP) are set apart; those pools stay within
#     their caps (S3 32, origin 8, Redis 20 on 2 CPUs).
# Prints requests, answers by status per phase and route, socket errors,
# latency, peak RSS (VmHWM) of each picfit process, goroutines and fds.
# Usage: bench/fault.sh [connections]   (default 8; about 2.5 minutes)
# FAULT_KEEP=1 keeps the work folder (logs, wrk output). Needs wrk,
# redis-server, python3, curl, jq; builds versitygw as test.sh does.
set -euo pipefail
cd "$(dirname "$0")/.."
conns=${1:-8}
for tool in wrk redis-server redis-cli python3 curl jq; do
	command -v "$tool" >/dev/null || { echo "$tool is missing (apt-get install -y $tool)" >&2; exit 1; }
done
. .ci/redis.sh
. .ci/s3.sh

work=$(mktemp -d "${TMPDIR:-/tmp}/picfit-fault.XXXXXX")
picfit_pid= origin_pid= wrk_pid=
watchers=()
cleanup() {
	set +e
	[ -n "${S3_PID:-}" ] && kill -CONT "$S3_PID" 2>/dev/null
	for p in "$wrk_pid" "$origin_pid" "${watchers[@]}"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null
	done
	[ -n "$picfit_pid" ] && kill -KILL "$picfit_pid" 2>/dev/null
	stop_s3 >/dev/null 2>&1
	stop_redis
	wait 2>/dev/null
	if [ "${FAULT_KEEP:-}" = 1 ]; then echo "work folder kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
failures=()
fail() { echo "FAIL: $*"; failures+=("$*"); }

echo "== backends"
redis_port=$(redis_free_ports 1)
redis_start "$redis_port"
redis_pid=${picfit_redis_pids[-1]}
export PICFIT_TEST_REDIS_ADDR=127.0.0.1:$redis_port
echo "redis on $PICFIT_TEST_REDIS_ADDR (pid $redis_pid)"
start_s3
s3_port=${PICFIT_TEST_S3_ENDPOINT##*:}

# The origin serves the source images after the delay (seconds) read
# from origin-delay at each request.
mkdir -p "$work/src"
cp testdata/*.jpg testdata/*.png testdata/*.gif "$work/src/"
echo 0 >"$work/origin-delay"
cat >"$work/origin.py" <<'PY'
import functools, http.server, os, sys, time
root, delay_file, port_file = sys.argv[1:4]

class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        try:
            delay = float(open(delay_file).read().strip() or 0)
        except (OSError, ValueError):
            delay = 0
        if delay > 0:
            time.sleep(delay)
        super().do_GET()

    def log_message(self, *args):
        pass

class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        pass  # picfit gave up on a slow answer: a broken pipe

srv = Server(("127.0.0.1", 0), functools.partial(Handler, directory=root))
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
PY
python3 "$work/origin.py" "$work/src" "$work/origin-delay" "$work/origin-port" &
origin_pid=$!
for _ in $(seq 100); do [ -s "$work/origin-port" ] && break; sleep 0.1; done
origin_port=$(cat "$work/origin-port")
echo "origin on 127.0.0.1:$origin_port (pid $origin_pid)"

echo "== picfit"
go build -o "$work/picfit" .
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
prefix=picfit-fault:
location=results
cat >"$work/config.json" <<JSON
{"port": $port, "shutdown_timeout": "20s",
 "logger": {"level": "warning", "format": "json"},
 "kvstore": {"type": "redis", "prefix": "$prefix", "redis": {"host": "127.0.0.1", "port": $redis_port}},
 "storage": {"src": {"type": "fs", "location": "$work/src"},
             "dst": {"type": "s3", "endpoint": "$PICFIT_TEST_S3_ENDPOINT", "region": "us-east-1",
                     "bucket_name": "$PICFIT_TEST_S3_BUCKET", "location": "$location",
                     "access_key_id": "$PICFIT_TEST_S3_ACCESS_KEY", "secret_access_key": "$PICFIT_TEST_S3_SECRET_KEY"}},
 "shard": {"width": 1, "depth": 2},
 "options": {"allow_private_networks": true, "fetch_timeout": "2s", "enable_health": true}}
JSON

picfits=() # every picfit started, in order; picfit-N.log is the stderr of the Nth
start_picfit() {
	local n=$((${#picfits[@]} + 1)) pid
	"$work/picfit" -c "$work/config.json" 2>"$work/picfit-$n.log" &
	pid=$!
	picfit_pid=$pid
	picfits+=("$pid")
	# VmHWM (KiB) every 200 ms while it runs.
	(while [ -r "/proc/$pid/status" ] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; do
		awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || true
		sleep 0.2
	done) >"$work/hwm-$n" &
	watchers+=($!)
	for _ in $(seq 100); do
		if curl -sf -o /dev/null "http://127.0.0.1:$port/healthcheck"; then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	echo "picfit did not start:" >&2
	cat "$work/picfit-$n.log" >&2
	return 1
}
peak_rss() { sort -n "$work/hwm-$1" | tail -1 | awk '{printf "%.0f", $1 / 1024}'; }

# stop_picfit: SIGTERM picfit and wait for it (shutdown_timeout 20 s, plus
# 5 s before a SIGKILL); checks it exits 0 in time. Its log lines from
# the SIGTERM on are left in shutdown-N.log, and unstored holds how many
# of them name a result it could not store.
stop_picfit() {
	local pid=$picfit_pid n=${#picfits[@]} off t0 rc=0 took exited=
	off=$(stat -c %s "$work/picfit-$n.log")
	t0=$(date +%s.%N)
	kill -TERM "$pid"
	for _ in $(seq 250); do
		if grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null || [ ! -e "/proc/$pid" ]; then
			exited=1
			break
		fi
		sleep 0.1
	done
	if [ -z "$exited" ]; then
		fail "picfit #$n still running 25 s after SIGTERM (shutdown_timeout 20s): killed"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" || rc=$?
	took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}')
	picfit_pid=
	tail -c +$((off + 1)) "$work/picfit-$n.log" >"$work/shutdown-$n.log"
	unstored=$(jq -Rr 'fromjson? | select(.key and (.msg | test("not stored|store failed"))) | .key' "$work/shutdown-$n.log" | sort -u | wc -l)
	echo "  picfit #$n (pid $pid): SIGTERM, exit $rc after ${took} s, $unstored results logged as not stored, peak RSS $(peak_rss "$n") MiB"
	shutdowns+=("picfit #$n: SIGTERM, exit $rc after $took s, $unstored results logged as not stored")
	[ "$rc" = 0 ] || fail "picfit #$n exited $rc after SIGTERM"
}
shutdowns=()

# probe prints, in order: goroutines (from /sys/health), goroutines
# besides those of pooled HTTP client connections (2 each), open fds, fds
# besides sockets to the backends and clients, and the connections to
# S3, the origin, Redis and from clients.
cat >"$work/probe.py" <<'PY'
import json, os, sys, urllib.request
pid, port, s3, origin, redis = sys.argv[1], *map(int, sys.argv[2:6])
with urllib.request.urlopen(f"http://127.0.0.1:{port}/sys/health", timeout=5) as r:
    goroutines = json.load(r)["goroutine_num"]
socks = {}
for name in ("tcp", "tcp6"):
    try:
        lines = open(f"/proc/{pid}/net/{name}").read().splitlines()[1:]
    except OSError:
        continue
    for line in lines:
        f = line.split()
        socks[f[9]] = (int(f[1].rsplit(":", 1)[1], 16), int(f[2].rsplit(":", 1)[1], 16), f[3])
c = dict(fds=0, s3=0, origin=0, redis=0, inbound=0)
for fd in os.listdir(f"/proc/{pid}/fd"):
    c["fds"] += 1
    try:
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        continue
    s = socks.get(target[8:-1]) if target.startswith("socket:[") else None
    if s is None or s[2] == "0A":  # not TCP, or the listener
        continue
    for k, p in (("s3", s3), ("origin", origin), ("redis", redis)):
        if s[1] == p:
            c[k] += 1
            break
    else:
        if s[0] == port:
            c["inbound"] += 1
core = goroutines - 2 * (c["s3"] + c["origin"])
rest = c["fds"] - c["s3"] - c["origin"] - c["redis"] - c["inbound"]
print(goroutines, core, c["fds"], rest, c["s3"], c["origin"], c["redis"], c["inbound"])
PY
probe() { python3 "$work/probe.py" "$picfit_pid" "$port" "$s3_port" "$origin_port" "$redis_port"; }
fmt_probe() {
	local g core fds rest s3c oc rc inb
	read -r g core fds rest s3c oc rc inb <<<"$1"
	echo "$g goroutines ($core besides pooled connections), $fds fds ($rest besides sockets); connections: S3 $s3c, origin $oc, Redis $rc, clients $inb"
}

# settle LABEL BASELINE: waits (10 s at most) until picfit's figures are
# back near BASELINE (a probe line), then checks them.
settle() {
	local label=$1 base=$2 now i g core fds rest s3c oc rc inb bg bcore bfds brest _
	read -r bg bcore bfds brest _ <<<"$base"
	for i in $(seq 20); do
		now=$(probe)
		read -r g core fds rest s3c oc rc inb <<<"$now"
		if [ "$core" -le $((bcore + 3)) ] && [ "$rest" -le $((brest + 2)) ] && [ "$inb" -le 1 ]; then
			break
		fi
		sleep 0.5
	done
	echo "  $label, $(((i - 1) * 5 / 10)).$(((i - 1) * 5 % 10)) s after the load: $(fmt_probe "$now")"
	figures+=("$label: $(fmt_probe "$now")")
	[ "$core" -le $((bcore + 3)) ] || fail "$label: $core goroutines besides pooled connections, $bcore before the load"
	[ "$rest" -le $((brest + 2)) ] || fail "$label: $rest fds besides sockets, $brest before the load"
	[ "$inb" -le 1 ] || fail "$label: $inb client connections still open"
	[ "$s3c" -le 32 ] || fail "$label: $s3c connections to S3, over the pool's 32"
	[ "$oc" -le 8 ] || fail "$label: $oc connections to the origin, over the pool's 8"
	[ "$rc" -le 20 ] || fail "$label: $rc connections to Redis, over the pool's 20"
}
figures=()

start_picfit
echo "picfit on 127.0.0.1:$port (pid $picfit_pid), results in s3://$PICFIT_TEST_S3_BUCKET/$location, kv prefix $prefix"

# The load: the cached URLs are made once here; the others are new
# sizes at every request (a few repeat by chance).
cat >"$work/cached.txt" <<EOF
/display?path=schwarzy.jpg&op=thumbnail&w=200&h=200
/display?path=avatar.png&op=resize&w=100
/display/thumbnail/100x100/medium-blinds-1920x1200.jpg
/display?path=giphy.gif&op=resize&w=80
/display?url=http://127.0.0.1:$origin_port/schwarzy.jpg&op=resize&w=150
/get?path=schwarzy.jpg&op=fit&w=300&h=300
EOF
cat >"$work/mix.lua" <<'LUA'
-- Arguments: the origin's port, the file of cached paths.
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end
function init(args)
  origin = "http://127.0.0.1:" .. args[1]
  cached = {}
  for line in io.lines(args[2]) do table.insert(cached, line) end
  math.randomseed(os.time() * 100 + id)
  counts, noretry, n = {}, {}, 0
end
function request()
  n = n + 1
  local r, cat, p = math.random(100)
  if r <= 40 then
    cat, p = "cached", cached[math.random(#cached)]
  elseif r <= 65 then
    cat = "uncached"
    local k = math.random(100)
    if k <= 85 then
      p = string.format("/display?path=schwarzy.jpg&op=thumbnail&w=%d&h=%d", math.random(40, 439), math.random(40, 439))
    elseif k <= 95 then
      p = string.format("/display?path=avatar.png&op=resize&w=%d&fmt=jpg", math.random(20, 400))
    elseif k <= 98 then
      p = string.format("/display?path=medium-blinds-1920x1200.jpg&op=resize&w=%d", math.random(100, 800))
    else
      p = string.format("/display?path=giphy.gif&op=resize&w=%d", math.random(20, 60))
    end
  elseif r <= 80 then
    cat = "url"
    local img = math.random(2) == 1 and "schwarzy.jpg" or "avatar.png"
    p = string.format("/display?url=%s/%s&op=thumbnail&w=%d&h=%d", origin, img, math.random(40, 439), math.random(40, 439))
  elseif r <= 90 then
    cat = "get"
    p = string.format("/get?path=avatar.png&op=thumbnail&w=%d&h=%d", math.random(20, 319), math.random(20, 319))
  else
    cat, p = "health", "/healthcheck"
  end
  return wrk.format("GET", p, {["X-Request-ID"] = cat .. "-" .. id .. "-" .. n})
end
function response(status, headers, body)
  local rid = headers["X-Request-Id"] or headers["X-Request-ID"] or ""
  local k = (string.match(rid, "^(%a+)%-") or "unknown") .. " " .. status
  counts[k] = (counts[k] or 0) + 1
  if status >= 500 and not headers["Retry-After"] then noretry[k] = (noretry[k] or 0) + 1 end
end
function done(summary, latency, requests)
  local total, nr = {}, {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("counts")) do total[k] = (total[k] or 0) + v end
    for k, v in pairs(t:get("noretry")) do nr[k] = (nr[k] or 0) + v end
  end
  for k, v in pairs(total) do io.write(string.format("status %s %d\n", k, v)) end
  for k, v in pairs(nr) do io.write(string.format("noretry %s %d\n", k, v)) end
  local e = summary.errors
  io.write(string.format("requests %d\nduration_us %d\nerrors %d %d %d %d\n", summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout))
  io.write(string.format("latency_ms %.1f %.1f %.1f\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
LUA

while read -r p; do
	curl -sf -o /dev/null "http://127.0.0.1:$port$p" || fail "warm-up: $p did not answer 200"
done <"$work/cached.txt"
sleep 1 # the background stores of the warm-up
base=$(probe)
echo "  picfit #1 before the load: $(fmt_probe "$base")"
figures+=("picfit #1 before the load: $(fmt_probe "$base")")

phase_t0=0
at() { awk -v a="$phase_t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%4.1f s", b - a}'; }

fault_none() { :; }
fault_redis() {
	sleep 1
	kill -KILL "$redis_pid"
	wait "$redis_pid" 2>/dev/null || true
	echo "  $(at): Redis killed (SIGKILL)"
	sleep 10
	redis_start "$redis_port"
	redis_pid=${picfit_redis_pids[-1]}
	echo "  $(at): Redis started again on port $redis_port (pid $redis_pid), empty"
}
fault_s3() {
	sleep 6
	kill -STOP "$S3_PID"
	echo "  $(at): versitygw paused (SIGSTOP)"
	sleep 8
	kill -CONT "$S3_PID"
	echo "  $(at): versitygw resumed (SIGCONT)"
}
fault_origin() {
	sleep 3
	echo 3 >"$work/origin-delay"
	echo "  $(at): origin answers after 3 s"
	sleep 8
	echo 0 >"$work/origin-delay"
	echo "  $(at): origin fast again"
}
fault_sigterm() {
	sleep 6
	echo "  $(at): SIGTERM to picfit #${#picfits[@]}"
	stop_picfit
	[ "$unstored" = 0 ] || fail "picfit #${#picfits[@]} did not store $unstored results at SIGTERM, S3 being up"
	start_picfit
	echo "  $(at): picfit #${#picfits[@]} started (pid $picfit_pid) on port $port"
}

table=()
# run_phase NAME SECONDS FAULT ALLOWED_5XX DESCRIPTION: one bounded wrk
# run with FAULT acting meanwhile; ALLOWED_5XX is a regexp of the
# statuses >= 500 allowed (never matched: none).
run_phase() {
	local name=$1 secs=$2 fault=$3 allowed=$4 desc=$5 out="$work/wrk-$1.txt" summary
	echo "== phase $name ($secs s, $conns connections): $desc"
	phase_t0=$(date +%s.%N)
	wrk -t2 -c"$conns" -d"${secs}s" --timeout 30s -s "$work/mix.lua" "http://127.0.0.1:$port" -- "$origin_port" "$work/cached.txt" >"$out" 2>&1 &
	wrk_pid=$!
	$fault
	wait "$wrk_pid" || { cat "$out"; wrk_pid=; fail "phase $name: wrk failed"; return; }
	wrk_pid=
	summary=$(sort -k1,1 -k2,2 -k3,3n "$out" | awk -v name="$name" -v allowed="$allowed" '
		$1 == "status" {
			total += $4; by[$3] += $4; route[$2] = route[$2] sprintf(" %s×%d", $3, $4)
			if ($3 >= 500 && $3 !~ allowed) bad = bad sprintf(" %s %s×%d", $2, $3, $4)
			if ($3 >= 400 && $3 < 500 && $3 != 429) bad = bad sprintf(" %s %s×%d", $2, $3, $4)
			if ($2 == "health" && $3 != 200) bad = bad sprintf(" health %s×%d", $3, $4)
		}
		$1 == "noretry" { noretry += $4 }
		$1 == "requests" { req = $2 }
		$1 == "duration_us" { dur = $2 / 1e6 }
		$1 == "errors" { sock = sprintf("connect %d, read %d, write %d, timeout %d", $2, $3, $4, $5) }
		$1 == "latency_ms" { lat = sprintf("%s / %s / %s", $2, $3, $4) }
		END {
			for (c in by) codes = codes sprintf(" %s×%d", c, by[c])
			printf "  %d requests (%.0f/s), answers:%s\n", req, req / dur, codes
			for (r in route) printf "    %-9s%s\n", r, route[r]
			printf "  socket errors: %s\n", sock
			printf "  latency p50 / p99 / max: %s ms\n", lat
			if (noretry) printf "  5xx without Retry-After: %d\n", noretry
			if (bad) printf "BAD%s\n", bad
			printf "ROW| %s | %d | %s | %s | %s ms |\n", name, req, substr(codes, 2), sock, lat
		}')
	grep -v -e '^ROW|' -e '^BAD' <<<"$summary"
	table+=("$(grep '^ROW|' <<<"$summary" | cut -c4-)")
	if grep -q '^BAD' <<<"$summary"; then
		fail "phase $name: unexpected answers:$(grep '^BAD' <<<"$summary" | cut -c4-)"
	fi
}

echo "== load"
run_phase baseline 15 fault_none '^$' "no fault"
run_phase redis 16 fault_redis '^$' "Redis killed at 1 s, back at 11 s"
entries=$(redis-cli -p "$redis_port" --scan --pattern "$prefix*" | wc -l)
echo "  Redis holds $entries keys below $prefix after its restart"
[ "$entries" -gt 0 ] || fail "nothing written to Redis after its restart"
run_phase s3 20 fault_s3 '^50[234]$' "versitygw paused from 6 s to 14 s"
run_phase origin 16 fault_origin '^50[234]$' "origin slower than fetch_timeout from 3 s to 11 s"
settle "picfit #1 after phases 1-4" "$base"
run_phase sigterm 20 fault_sigterm '^$' "SIGTERM to picfit at 6 s, started again"
settle "picfit #2 after phase 5" "$base"

# Phase 6: results waiting to be stored when S3 hangs at SIGTERM. With
# S3 paused, /display?force=1 (which reads nothing from S3) answers from
# memory and queues its store; SIGTERM must still end picfit within
# shutdown_timeout, and each answered result must be stored or logged by
# key as not stored. The objects are looked for as files in versitygw's
# posix folder.
echo "== phase drain: S3 paused, 24 /display?force=1 answered, SIGTERM"
phase_t0=$(date +%s.%N)
kill -STOP "$S3_PID"
echo "  $(at): versitygw paused (SIGSTOP)"
curls=()
for i in $(seq 24); do
	curl -s -o /dev/null -D "$work/drain-$i.h" -w '%{http_code}\n' --max-time 20 \
		"http://127.0.0.1:$port/display?path=schwarzy.jpg&op=resize&force=1&w=$((100 + i))" >"$work/drain-$i.code" &
	curls+=($!)
done
for p in "${curls[@]}"; do wait "$p" || true; done
echo "  $(at): answers: $(cat "$work"/drain-*.code | sort | uniq -c | awk '{printf "%s×%s ", $2, $1}')"
stop_picfit
kill -CONT "$S3_PID"
echo "  $(at): versitygw resumed (SIGCONT)"
sleep 1 # versitygw finishes the PUTs it had read before the pause
jq -Rr 'fromjson? | select(.key) | .key' "$work/shutdown-${#picfits[@]}.log" | sort -u >"$work/drain-logged"
answered=0 stored=0 logged=0 lost=()
for i in $(seq 24); do
	[ "$(cat "$work/drain-$i.code")" = 200 ] || { fail "phase drain: request $i answered $(cat "$work/drain-$i.code")"; continue; }
	answered=$((answered + 1))
	key=$(tr -d '\r"' <"$work/drain-$i.h" | awk 'tolower($1) == "etag:" {print $2}')
	if [ -f "$S3_DIR/root/$PICFIT_TEST_S3_BUCKET/$location/${key:0:1}/${key:1:1}/${key:2}.jpg" ]; then
		stored=$((stored + 1))
	elif grep -qx "$key" "$work/drain-logged"; then
		logged=$((logged + 1))
	else
		lost+=("$key")
	fi
done
echo "  $answered answered: $stored stored, $logged logged by key as not stored, ${#lost[@]} lost silently"
drain="$answered answered from memory with S3 paused: $stored stored, $logged logged by key as not stored, ${#lost[@]} lost silently"
[ ${#lost[@]} = 0 ] || fail "phase drain: ${#lost[@]} results neither stored nor logged: ${lost[*]:0:3}..."

echo "== stored objects and kv entries (TestFaultCheck)"
check=$(PICFIT_FAULT_CHECK=1 PICFIT_FAULT_PREFIX=$prefix PICFIT_FAULT_LOCATION=$location \
	go test -count=1 -run '^TestFaultCheck$' -v . 2>&1) || fail "TestFaultCheck: stored objects or kv entries are wrong"
grep -E 'objects,|kv below|--- FAIL|fault_test.go' <<<"$check" | sed 's/^ */  /' | head -40

echo "== summary"
echo "| phase | requests | answers | socket errors | latency p50 / p99 / max |"
echo "|---|---|---|---|---|"
printf '%s\n' "${table[@]}"
for n in $(seq ${#picfits[@]}); do
	echo "picfit #$n: peak RSS $(peak_rss "$n") MiB"
done
printf '%s\n' "${shutdowns[@]}" "$drain" "${figures[@]}"
echo "log lines (level, message) of picfit #1 and #2:"
cat "$work"/picfit-*.log | jq -Rr '(fromjson? // {level: "RAW", msg: .}) | "\(.level) \(.msg)\(if .status then " \(.status)" else "" end)"' |
	sort | uniq -c | sort -rn | sed 's/^/ /'
raw=$(cat "$work"/picfit-*.log | grep -cv '^{' || true)
[ "$raw" = 0 ] || echo "NOTE: $raw log lines are not JSON, e.g.: $(cat "$work"/picfit-*.log | grep -v '^{' | head -1)"
if cat "$work"/picfit-*.log | grep -qi -e panic -e '^goroutine [0-9]'; then
	fail "picfit logged a panic"
fi

if [ ${#failures[@]} -gt 0 ]; then
	echo "== ${#failures[@]} checks failed"
	printf '  %s\n' "${failures[@]}"
	exit 1
fi
echo "== ok"
