package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func runCLI(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

func TestSignatureCommand(t *testing.T) {
	out, _, err := runCLI(t, nil, "signature", "--key=abcdef", "w=100&h=100&op=resize")
	if err != nil {
		t.Fatal(err)
	}
	want := "Query String: w=100&h=100&op=resize\n" +
		"Signature: 954eec9dfa9390f8f4264e15bb95f5f54e6fe953\n" +
		"Signed Query String: w=100&h=100&op=resize&sig=954eec9dfa9390f8f4264e15bb95f5f54e6fe953\n"
	if out != want {
		t.Errorf("picfit signature printed\n%s\nwant\n%s", out, want)
	}
	if short, _, err := runCLI(t, nil, "s", "--key=abcdef", "w=100&h=100&op=resize"); err != nil || short != want {
		t.Errorf("picfit s (the original's short command) printed %q, %v; want %q", short, err, want)
	}
	if _, _, err := runCLI(t, nil, "signature", "w=1"); err == nil {
		t.Error("picfit signature without --key succeeded, want a usage error")
	}
}

func TestVersionCommand(t *testing.T) {
	for _, arg := range []string{"version", "v", "--version", "-version", "-v"} {
		out, _, err := runCLI(t, nil, arg)
		if err != nil || out != "picfit "+buildVersion()+"\n" || strings.Contains(out, "(devel)") {
			t.Errorf("picfit %s = %q, %v; want \"picfit %s\"", arg, out, err, buildVersion())
		}
	}
}

func TestVersionOf(t *testing.T) {
	vcs := []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-12-01T10:00:00Z"},
		{Key: "vcs.modified", Value: "false"},
	}
	dirty := append(slices.Clone(vcs[:3]), debug.BuildSetting{Key: "vcs.modified", Value: "true"})
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"no build info", nil, "devel"},
		{"module version", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}, Settings: vcs}, "v1.2.3"},
		{"pseudo-version", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261201100000-0123456789ab"}}, "v0.0.0-20261201100000-0123456789ab"},
		{"clone build", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs}, "devel 0123456789ab 2026-12-01T10:00:00Z"},
		{"modified clone", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: dirty}, "devel 0123456789ab+dirty 2026-12-01T10:00:00Z"},
		{"no vcs", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "devel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := versionOf(tt.bi); got != tt.want {
				t.Errorf("versionOf() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestHelpPrintsConfigKeys checks --help prints the usage and the config
// reference (config_test.go checks the reference names every key).
func TestHelpPrintsConfigKeys(t *testing.T) {
	for _, flag := range []string{"--help", "-h"} {
		out, _, err := runCLI(t, nil, flag)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"picfit signature --key=KEY", "options.max_source_pixels", "kvstore.redis-cluster.addrs", "shard.restonly"} {
			if !strings.Contains(out, want) {
				t.Errorf("picfit %s does not mention %q", flag, want)
			}
		}
	}
}

func TestConfigErrorsStopStartup(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, json, mention string
	}{
		{"unknown key", `{"options": {"enable_uplaod": true}}`, "enable_uplaod"},
		{"wrong type", `{"port": "3001"}`, "port"},
		{"unknown storage", `{"storage": {"src": {"type": "ftp"}}}`, "type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, "c.json")
			os.WriteFile(p, []byte(tt.json), 0o644)
			_, _, err := runCLI(t, nil, "-c", p)
			if err == nil || !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("picfit -c with %s = %v, want an error naming %q", tt.json, err, tt.mention)
			}
			_, _, err = runCLI(t, map[string]string{"PICFIT_CONFIG_PATH": p})
			if err == nil || !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("PICFIT_CONFIG_PATH with %s = %v, want an error naming %q", tt.json, err, tt.mention)
			}
		})
	}
	if _, _, err := runCLI(t, nil, "--config", filepath.Join(dir, "absent.json")); err == nil {
		t.Error("a missing config file did not stop startup")
	}
}

// TestGracefulShutdown cancels the server while a request waits on a slow
// origin: the request still completes, the /display result waiting in the
// store queue is written, and serve returns nil.
func TestGracefulShutdown(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	jpeg := readTestdata(t, "schwarzy.jpg")
	origin := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		w.Write(jpeg)
	})}
	oln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go origin.Serve(oln)
	defer origin.Close()

	dst := t.TempDir()
	cfg := defaultConfig()
	cfg.Options.AllowPrivateNetworks = true
	cfg.Storage.Dst = storageConfig{Type: "fs", Location: dst}
	cfg.KVStore.Type = "cache"
	bg := serveInBackground(t, cfg)
	addr, stop := bg.addr, bg.stop

	type answer struct {
		code int
		n    int
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		u := "http://" + addr + "/display?op=resize&w=50&url=" + url.QueryEscape("http://"+oln.Addr().String()+"/a.jpg")
		resp, err := http.Get(u)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		answered <- answer{resp.StatusCode, len(b), err}
	}()
	<-started // the request is in flight
	served := make(chan error, 1)
	go func() { served <- stop() }() // SIGTERM
	<-bg.closed                      // shutdown has begun: the request in flight must still be answered
	close(release)
	a := <-answered
	if a.err != nil || a.code != http.StatusOK || a.n == 0 {
		t.Errorf("in-flight request during shutdown = %d, %d bytes, %v; want 200 with an image", a.code, a.n, a.err)
	}
	if err := <-served; err != nil {
		t.Errorf("serve returned %v, want nil", err)
	}
	files, _ := filepath.Glob(filepath.Join(dst, "*.jpg"))
	if len(files) != 1 {
		t.Errorf("stored results after shutdown = %v, want one .jpg", files)
	}
	if _, err := http.Get("http://" + addr + "/healthcheck"); err == nil {
		t.Error("server still accepts connections after shutdown")
	}
}

// TestShutdownGraceOver: a request that outlives shutdown_timeout is cut
// (its connection closed, not left hanging), and serve still returns nil:
// the stop asked for was done.
func TestShutdownGraceOver(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	origin := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release // longer than the grace
	})}
	oln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go origin.Serve(oln)
	defer origin.Close()

	cfg := defaultConfig()
	cfg.Options.AllowPrivateNetworks = true
	cfg.Storage.Dst = storageConfig{Type: "fs", Location: t.TempDir()}
	cfg.KVStore.Type = "cache"
	cfg.ShutdownTimeout = duration(50 * time.Millisecond)
	bg := serveInBackground(t, cfg)
	addr, stop := bg.addr, bg.stop

	answered := make(chan error, 1)
	go func() {
		u := "http://" + addr + "/display?op=resize&w=50&url=" + url.QueryEscape("http://"+oln.Addr().String()+"/a.jpg")
		resp, err := http.Get(u)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil {
				err = fmt.Errorf("answered %d", resp.StatusCode)
			}
		}
		answered <- err
	}()
	<-started
	if err := stop(); err != nil {
		t.Errorf("serve returned %v after the grace ran out, want nil", err)
	}
	if err := <-answered; err == nil || !strings.Contains(err.Error(), "EOF") {
		t.Errorf("request cut by shutdown: %v, want the connection closed (EOF)", err)
	}
}

// background is a server serving in a goroutine (serveInBackground).
type background struct {
	addr   string          // the main listener's address
	admin  string          // the admin listener's, "" without admin_port
	closed <-chan struct{} // closed once shutdown has closed the main listener
	// stop shuts the server down as SIGTERM does (within
	// cfg.ShutdownTimeout) and returns what serve returned.
	stop func() error
}

// serveInBackground builds a server from cfg and serves it on a loopback
// port; it returns once serve has said every listener is open.
func serveInBackground(t *testing.T, cfg config) background {
	t.Helper()
	s, err := newServer(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	cl := &closeSignalListener{Listener: ln, closed: closed}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan net.Addr, 1)
	go func() {
		done <- s.serveReady(ctx, cl, time.Duration(cfg.ShutdownTimeout), func(admin net.Addr) { ready <- admin })
	}()
	bg := background{addr: ln.Addr().String(), closed: closed, stop: func() error { cancel(); return <-done }}
	select {
	case admin := <-ready:
		if admin != nil {
			bg.admin = admin.String()
		}
	case err := <-done:
		cancel()
		t.Fatalf("serve returned %v before it was ready", err)
	}
	return bg
}

// closeSignalListener closes closed when the listener is first closed:
// http.Server.Shutdown closes its listeners before it waits for the
// requests in flight.
type closeSignalListener struct {
	net.Listener
	once   sync.Once
	closed chan struct{}
}

func (l *closeSignalListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}
