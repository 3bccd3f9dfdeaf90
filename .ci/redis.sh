# .ci/redis.sh is sourced by test.sh. start_redis starts, on free loopback
# ports, the Redis servers the tests run against, each in its own temp
# folder with persistence off, and exports where they are:
#   PICFIT_TEST_REDIS_ADDR             a standalone server, 127.0.0.1:PORT
#   PICFIT_TEST_REDIS_CLUSTER_ADDRS    a 3-node Redis Cluster, host:port,...
#   PICFIT_TEST_REDIS_ROUNDROBIN_URLS  a primary, then its read-only replica,
#                                      as redis:// URLs
# stop_redis stops them all and removes their folders. redis-server is
# installed from Debian's packages when missing (the package may start its
# own daemon on 6379: it is not used).

picfit_redis_pids=()
picfit_redis_dirs=()

# redis_free_ports N prints N distinct TCP ports free on 127.0.0.1.
redis_free_ports() {
	python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
' "$1"
}

# redis_wait PORT DIR waits (10s at most) until the server on PORT answers.
redis_wait() {
	local i
	for i in $(seq 100); do
		if [ "$(redis-cli -p "$1" ping 2>/dev/null)" = PONG ]; then
			return 0
		fi
		sleep 0.1
	done
	echo "redis-server on port $1 did not start:" >&2
	cat "$2/redis.log" >&2
	return 1
}

# redis_until PORT PATTERN [WHAT] waits (10s at most) until redis-cli's
# answer to WHAT (default "info") on PORT matches PATTERN.
redis_until() {
	local port=$1 pattern=$2 i
	shift 2
	for i in $(seq 100); do
		if redis-cli -p "$port" "${@:-info}" 2>/dev/null | grep -q "$pattern"; then
			return 0
		fi
		sleep 0.1
	done
	echo "redis-server on port $port: no $pattern after $*" >&2
	return 1
}

# redis_start PORT [ARGS...] starts redis-server in the background in a
# new temp folder and waits until it answers.
redis_start() {
	local port=$1 dir
	shift
	dir=$(mktemp -d "${TMPDIR:-/tmp}/picfit-redis.XXXXXX")
	picfit_redis_dirs+=("$dir")
	redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
		--daemonize no --dir "$dir" --logfile "$dir/redis.log" "$@" &
	picfit_redis_pids+=("$!")
	redis_wait "$port" "$dir"
}

start_redis() {
	if ! command -v redis-server >/dev/null; then
		echo "installing redis-server"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
	fi
	# standalone, 3 cluster nodes and their bus ports, primary, replica
	local ports port cluster=() i primary replica
	read -ra ports <<<"$(redis_free_ports 9)"
	port=${ports[0]}
	redis_start "$port"
	export PICFIT_TEST_REDIS_ADDR=127.0.0.1:$port

	for i in 1 2 3; do
		redis_start "${ports[i]}" --cluster-enabled yes --cluster-config-file nodes.conf \
			--cluster-port "${ports[i + 3]}" --cluster-node-timeout 5000
		cluster+=("127.0.0.1:${ports[i]}")
	done
	redis-cli --cluster create "${cluster[@]}" --cluster-replicas 0 --cluster-yes >/dev/null
	for port in "${cluster[@]}"; do
		redis_until "${port#*:}" cluster_state:ok cluster info
	done
	export PICFIT_TEST_REDIS_CLUSTER_ADDRS=$(IFS=,; echo "${cluster[*]}")

	primary=${ports[7]} replica=${ports[8]}
	redis_start "$primary" --repl-diskless-sync-delay 0
	redis_start "$replica" --replicaof 127.0.0.1 "$primary" --replica-read-only yes
	redis_until "$replica" master_link_status:up info replication
	export PICFIT_TEST_REDIS_ROUNDROBIN_URLS=redis://127.0.0.1:$primary,redis://127.0.0.1:$replica
	echo "redis: standalone $PICFIT_TEST_REDIS_ADDR, cluster $PICFIT_TEST_REDIS_CLUSTER_ADDRS, round-robin $PICFIT_TEST_REDIS_ROUNDROBIN_URLS"
}

stop_redis() {
	local pid
	for pid in "${picfit_redis_pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${picfit_redis_pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [ ${#picfit_redis_dirs[@]} -gt 0 ]; then
		rm -rf "${picfit_redis_dirs[@]}"
	fi
	picfit_redis_pids=()
	picfit_redis_dirs=()
}
