package deploy_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/haproxy"
	"github.com/switchman-bot/switchman/internal/shell"
	haproxytest "github.com/switchman-bot/switchman/internal/testenv/haproxy"
	"github.com/switchman-bot/switchman/internal/testenv/loadgen"
	"github.com/switchman-bot/switchman/internal/testenv/ports"
	"github.com/switchman-bot/switchman/internal/testenv/supervisor"
)

// appSource is the web app of the zero-failed-requests test: it serves
// the build written in the BUILD file next to its binary, so every release
// directory runs its own build, and shuts down gracefully on SIGTERM.
//
//	GET /health  200 "ok build N"
//	GET /        200 "build N on ADDR" after 2 ms of work
const appSource = `package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	if err := serve(*addr); err != nil {
		fmt.Fprintln(os.Stderr, "app:", err)
		os.Exit(1)
	}
}

func serve(addr string) error {
	// /proc/self/exe names the release directory, not the current link.
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(exe), "BUILD"))
	if err != nil {
		return err
	}
	build := strings.TrimSpace(string(b))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "ok build %s\n", build)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond)
		fmt.Fprintf(w, "build %s on %s\n", build, addr)
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Printf("build %s listening on %s\n", build, addr)
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 9*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
`

// buildApp compiles appSource into a static binary and returns its bytes.
func buildApp(t *testing.T) []byte {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte(appSource), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "app")
	start := time.Now()
	cmd := exec.Command(goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", out, src)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=", "GOWORK=off", "GO111MODULE=on")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the test app: %v\n%s", err, b)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built the test app (%d bytes) in %s", len(bin), time.Since(start).Round(time.Millisecond))
	return bin
}

// appArtifact is a release of the app: its binary (executable) and BUILD,
// compressed by the system's gzip, which Go's deflate, race instrumented,
// took seconds for at this binary's size.
func appArtifact(t *testing.T, build string, bin []byte) []byte {
	t.Helper()
	return gzipped(t, tarOf(t, tarEntry{name: "BUILD", body: build + "\n"}, tarEntry{name: "app", body: string(bin), mode: 0o755}))
}

// haproxyPools builds an env's pool from its pool.haproxy config.
func haproxyPools(_ *config.App, env *config.Env) (deploy.Pool, error) {
	if env.Pool == nil || env.Pool.HAProxy == nil {
		return nil, nil
	}
	h := env.Pool.HAProxy
	network, addr, err := config.SplitSocket(h.Socket)
	if err != nil {
		return nil, err
	}
	dial := haproxy.TCPDialer(addr)
	if network == "unix" {
		dial = haproxy.UnixDialer(addr)
	}
	return &haproxy.Pool{Client: &haproxy.Client{Dial: dial}, Backend: h.Backend, Server: h.Server,
		DrainTimeout: h.DrainTimeout.D(), ReadyTimeout: h.ReadyTimeout.D()}, nil
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	addr, err := ports.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// httpGet returns the body of GET url, or an error for a status outside 2xx.
func httpGet(client *http.Client, url string) (string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("%s: %s", url, resp.Status)
	}
	return string(b), nil
}

// waitLoad waits until load has finished n more requests than now.
func waitLoad(t *testing.T, load *loadgen.Stats, n int64) {
	t.Helper()
	want := load.Total() + n
	deadline := time.Now().Add(10 * time.Second)
	for load.Total() < want {
		if time.Now().After(deadline) {
			t.Fatalf("load: %d requests finished, want %d within 10s; failures %q", load.Total(), want, load.Failures())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFleetRollingDeployFailsNoRequest deploys a real web app to three
// SSH hosts, each instance run by a real supervisord behind a real
// haproxy, while clients keep sending requests through haproxy: the
// rolling deploy and the rollback must fail none of them.
func TestFleetRollingDeployFailsNoRequest(t *testing.T) {
	fleet := startFleet(t, 3)
	bin := buildApp(t)

	addrs := map[string]string{}
	var programs []supervisor.Program
	for i, h := range fleet.Hosts {
		addrs[h.Name] = freeLoopbackAddr(t)
		programs = append(programs, supervisor.Program{
			Name: "app-" + h.Name,
			// The host's /srv seen from outside: what the host switches
			// is what supervisord starts.
			Command: []string{filepath.Join(fleet.Hosts[i].Root, "web", "current", "app"), "-addr", addrs[h.Name]},
		})
	}
	ctl, err := exec.LookPath("supervisorctl")
	if err != nil {
		t.Fatal("supervisorctl not found: install it with `apt-get install -y supervisor`")
	}

	// The supervisord config path is only known once it runs, and it
	// needs build 1 on disk to start: seed build 1 with a first fixture,
	// start supervisord and haproxy, then configure the deploy fixture.
	seed := newFleetFixture(t, fleet, fleetSpec{}, nil)
	(&fixture{t: t, arts: seed.arts}).write("1", appArtifact(t, "1", bin), "")
	seed.seed("1")
	sv := supervisor.Start(t, programs)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for _, h := range fleet.Hosts {
		deadline := time.Now().Add(10 * time.Second)
		for {
			body, err := httpGet(client, "http://"+addrs[h.Name]+"/health")
			if err == nil && strings.Contains(body, "build 1") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("app-%s not healthy within 10s: %v %q\nlog: %s", h.Name, err, body, sv.ProgramLog("app-"+h.Name))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	proxy := haproxytest.Start(t, haproxytest.Options{Servers: addrs})
	hap := &haproxy.Client{Dial: haproxy.TCPDialer(proxy.StatsAddr())}
	for _, h := range fleet.Hosts {
		deadline := time.Now().Add(10 * time.Second)
		for {
			st, err := hap.ServerState(context.Background(), proxy.Backend(), h.Name)
			if err == nil && st.Operational == haproxy.OpUp {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("haproxy: %s not up within 10s: %+v %v", h.Name, st, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	spec := fleetSpec{
		// restart is not a template: the host's name comes from the
		// environment every host command gets.
		restart:   shell.Quote(ctl) + ` -c ` + shell.Quote(sv.ConfigPath()) + ` restart "app-$SWITCHMAN_HOST"`,
		healthURL: "http://{listen}/health",
		expect:    "ok build {build}",
		vars:      func(i int) map[string]string { return map[string]string{"listen": addrs[fleet.Hosts[i].Name]} },
		env: []string{
			"batch_size: 1",
			"pool:",
			"  haproxy:",
			"    socket: " + yq("tcp:"+proxy.StatsAddr()),
			"    backend: " + proxy.Backend(),
			"    server: '{host}'",
			"    drain_timeout: 5s",
		},
	}
	f := newFleetFixture(t, fleet, spec, haproxyPools)
	(&fixture{t: t, arts: f.arts}).write("2", appArtifact(t, "2", bin), "")

	ctx := t.Context()
	// Two clients meet every restart with requests in flight, and leave
	// a -race build on two cores the CPU to run the deploy.
	load := loadgen.Run(ctx, proxy.URL()+"/", 2)
	t.Cleanup(load.Stop)
	waitLoad(t, load, 50)

	// servedBuild checks that every instance and haproxy serve build.
	servedBuild := func(build string) {
		t.Helper()
		for i, h := range fleet.Hosts {
			if body, err := httpGet(client, "http://"+addrs[h.Name]+"/"); err != nil || !strings.HasPrefix(body, "build "+build+" ") {
				t.Errorf("app-%s: got %q, %v; want build %s", h.Name, body, err, build)
			}
			if got := seed.link(i, "current"); got != "releases/"+build {
				t.Errorf("%s: current -> %q, want releases/%s", h.Name, got, build)
			}
		}
		for range 6 {
			if body, err := httpGet(client, proxy.URL()+"/"); err != nil || !strings.HasPrefix(body, "build "+build+" ") {
				t.Errorf("through haproxy: got %q, %v; want build %s", body, err, build)
			}
		}
	}

	before, start := load.Total(), time.Now()
	rec := f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
	deployTook, deployServed := time.Since(start), load.Total()-before
	for _, h := range fleet.Hosts {
		want := []deploy.Step{deploy.StepDeliver, deploy.StepDrain, deploy.StepActivate, deploy.StepRestart, deploy.StepHealth, deploy.StepReady}
		if got := f.stepsOf(rec.ID, h.Name); !slices.Equal(got, want) {
			t.Errorf("%s: got steps %v, want %v", h.Name, got, want)
		}
	}
	servedBuild("2")
	f.logStepTimes(rec.ID)

	before, start = load.Total(), time.Now()
	f.mustRun(deploy.KindRollback, "", deploy.OutcomeSucceeded)
	rollbackTook, rollbackServed := time.Since(start), load.Total()-before
	servedBuild("1")

	waitLoad(t, load, 50)
	load.Stop()
	total, failed := load.Total(), load.Failed()
	counters := backendCounters(t, proxy)
	t.Logf("load through haproxy: %d requests, %d failed; rolling deploy of 3 hosts %s (%d requests served meanwhile), rollback %s (%d served); haproxy counters %v",
		total, failed, deployTook.Round(time.Millisecond), deployServed, rollbackTook.Round(time.Millisecond), rollbackServed, counters)
	if failed != 0 {
		t.Errorf("got %d failed requests of %d, want 0; first failures:\n%s\nhaproxy log:\n%s",
			failed, total, strings.Join(load.Failures(), "\n"), proxy.Log())
	}
	if total <= 100 {
		t.Errorf("got %d requests, want more than 100", total)
	}
	// haproxy's retries and redispatch would hide a restart that was not
	// drained from the clients (a graceful app refuses new connections,
	// and haproxy sends them elsewhere): its counters show whether any
	// request met a server that was going away.
	for _, c := range []string{"wretr", "wredis", "econ", "eresp"} {
		if counters[c] != 0 {
			t.Errorf("haproxy counter %s = %d, want 0: a request met a server that was not drained", c, counters[c])
		}
	}
	if deployServed == 0 || rollbackServed == 0 {
		t.Errorf("requests served during the deploy %d, during the rollback %d: want traffic to flow throughout", deployServed, rollbackServed)
	}
}

// logStepTimes logs how long each step of deploy id took on each host.
func (f *fleetFixture) logStepTimes(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	started := map[string]time.Time{}
	var b strings.Builder
	for _, ev := range f.events {
		if ev.DeployID != id || ev.Kind != deploy.EventStep {
			continue
		}
		k := ev.Host + "/" + string(ev.Step)
		if !ev.Done {
			started[k] = ev.Time
			continue
		}
		fmt.Fprintf(&b, " %s=%s", k, ev.Time.Sub(started[k]).Round(time.Millisecond))
	}
	f.t.Logf("step times:%s", b.String())
}

// backendCounters returns haproxy's counters for the backend's own row of
// `show stat BACKEND 2 -1`: wretr (connections retried), wredis (requests
// redispatched to another server), econ (connection errors) and eresp
// (response errors).
func backendCounters(t *testing.T, proxy *haproxytest.Proxy) map[string]int {
	t.Helper()
	conn, err := net.DialTimeout(proxy.StatsNetwork(), proxy.StatsAddr(), 2*time.Second)
	if err != nil {
		t.Fatalf("stats socket: %v", err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, "show stat "+proxy.Backend()+" 2 -1\n"); err != nil {
		t.Fatalf("stats socket: %v", err)
	}
	out, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("stats socket: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "# ") {
		t.Fatalf("show stat: got %q", out)
	}
	head, row := strings.Split(strings.TrimPrefix(lines[0], "# "), ","), strings.Split(lines[1], ",")
	got := map[string]int{}
	for i, col := range head {
		switch col {
		case "wretr", "wredis", "econ", "eresp":
			if i < len(row) {
				var n int
				fmt.Sscan(row[i], &n) // an empty field is 0
				got[col] = n
			}
		}
	}
	return got
}
