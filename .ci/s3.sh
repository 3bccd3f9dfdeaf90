# .ci/s3.sh is sourced by test.sh. start_s3 starts a throwaway
# S3-compatible server (versitygw over a temporary folder) on a free
# loopback port, creates the test bucket and exports what the tests read:
#   PICFIT_TEST_S3_ENDPOINT    http://127.0.0.1:PORT
#   PICFIT_TEST_S3_ACCESS_KEY, PICFIT_TEST_S3_SECRET_KEY, PICFIT_TEST_S3_BUCKET
#   PICFIT_TEST_VERSITYGW      the binary, for tests that start their own
# stop_s3 stops it and removes the folder. versitygw is built once, at a
# pinned version, into $GOBIN (default: $(go env GOPATH)/bin, ~/go/bin).

VERSITYGW_VERSION=v1.8.0

# versitygw_bin prints the path of versitygw $VERSITYGW_VERSION, building
# it first when it is missing or another version.
versitygw_bin() {
	local dir bin
	dir=${GOBIN:-$(go env GOPATH | cut -d: -f1)/bin}
	bin="$dir/versitygw"
	if ! go version -m "$bin" 2>/dev/null | grep -q "github.com/versity/versitygw[[:space:]]*$VERSITYGW_VERSION"; then
		echo "== building versitygw $VERSITYGW_VERSION" >&2
		GOBIN="$dir" go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" >&2 || return 1
	fi
	echo "$bin"
}

start_s3() {
	local bin port i
	bin=$(versitygw_bin) || return 1
	S3_DIR=$(mktemp -d)
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	export PICFIT_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
	export PICFIT_TEST_S3_ACCESS_KEY=picfit-test-access
	export PICFIT_TEST_S3_SECRET_KEY=picfit-test-secret
	export PICFIT_TEST_S3_BUCKET=picfit-test
	export PICFIT_TEST_VERSITYGW="$bin"
	# With the posix backend a bucket is a folder of the root folder.
	mkdir -p "$S3_DIR/root/$PICFIT_TEST_S3_BUCKET"
	"$bin" --port "127.0.0.1:$port" --access "$PICFIT_TEST_S3_ACCESS_KEY" --secret "$PICFIT_TEST_S3_SECRET_KEY" \
		--quiet posix "$S3_DIR/root" >"$S3_DIR/versitygw.log" 2>&1 &
	S3_PID=$!
	for i in $(seq 100); do # at most 10 s
		if curl -s -o /dev/null "$PICFIT_TEST_S3_ENDPOINT/"; then
			echo "== versitygw $VERSITYGW_VERSION on $PICFIT_TEST_S3_ENDPOINT (pid $S3_PID)"
			return 0
		fi
		if ! kill -0 "$S3_PID" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	echo "versitygw did not start:" >&2
	cat "$S3_DIR/versitygw.log" >&2
	stop_s3
	return 1
}

stop_s3() {
	if [ -n "${S3_PID:-}" ]; then
		kill "$S3_PID" 2>/dev/null || true
		wait "$S3_PID" 2>/dev/null || true
		S3_PID=
	fi
	if [ -n "${S3_DIR:-}" ]; then
		rm -rf "$S3_DIR"
		S3_DIR=
	fi
}
