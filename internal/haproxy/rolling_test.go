package haproxy_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/haproxy"
	haproxytest "github.com/switchman-bot/switchman/internal/testenv/haproxy"
	"github.com/switchman-bot/switchman/internal/testenv/loadgen"
	"github.com/switchman-bot/switchman/internal/testenv/supervisor"
)

// These tests restart, one at a time, three instances of a web app that
// run under a real supervisord behind a real haproxy, while 8 clients
// keep sending requests through haproxy, as a deploy to a fleet does.

const (
	concurrency  = 8
	drainTimeout = 5 * time.Second
)

// fleet is three app instances under supervisord behind haproxy.
type fleet struct {
	sv    *supervisor.Supervisor
	proxy *haproxytest.Proxy
	hap   *haproxy.Client
	names []string
	addrs map[string]string // server name → host:port
}

// startFleet starts the apps and haproxy and returns once haproxy sees
// every app up.
func startFleet(t *testing.T) *fleet {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("find the test binary: %v", err)
	}
	f := &fleet{names: []string{"app1", "app2", "app3"}, addrs: map[string]string{}}
	var programs []supervisor.Program
	for _, name := range f.names {
		f.addrs[name] = freeAddr(t)
		programs = append(programs, supervisor.Program{
			Name:    name,
			Command: []string{exe},
			Env: map[string]string{
				appAddrEnv: f.addrs[name],
				appNameEnv: name,
				// A binary built with -race sleeps 1 s when it exits; a
				// restart need not wait for it.
				"GORACE": strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0"),
			},
		})
	}
	f.sv = supervisor.Start(t, programs)
	for _, name := range f.names {
		f.waitHealthy(t, name)
	}
	f.proxy, f.hap = startProxy(t, haproxytest.Options{Servers: f.addrs})
	for _, name := range f.names {
		waitState(t, f.hap, name, 5*time.Second, "up", isUp)
	}
	return f
}

// waitHealthy polls the app's own /health, not through haproxy, until it
// answers 200.
func (f *fleet) waitHealthy(t *testing.T, name string) {
	t.Helper()
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	url := "http://" + f.addrs[name] + "/health"
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s not healthy within 10s: %v\nlog:\n%s", name, url, err, f.sv.ProgramLog(name))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pid is the process id supervisord reports for program name.
func (f *fleet) pid(t *testing.T, name string) string {
	t.Helper()
	out, err := f.sv.Ctl("pid", name)
	if err != nil || out == "0" {
		t.Fatalf("pid of %s: got %q, %v", name, out, err)
	}
	return out
}

// backendCounters returns haproxy's counters for the backend: wretr
// (connections retried), wredis (requests redispatched to another
// server), econ (connection errors) and eresp (response errors), read
// with `show stat app 2 -1` (type 2: the backend's own row).
func (f *fleet) backendCounters(t *testing.T) map[string]int {
	t.Helper()
	conn, err := net.DialTimeout(f.proxy.StatsNetwork(), f.proxy.StatsAddr(), time.Second)
	if err != nil {
		t.Fatalf("stats socket: %v", err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatalf("stats socket: %v", err)
	}
	if _, err := io.WriteString(conn, "show stat app 2 -1\n"); err != nil {
		t.Fatalf("stats socket: %v", err)
	}
	out, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("stats socket: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "# ") {
		t.Fatalf("show stat app 2 -1: got %q", out)
	}
	head, row := strings.Split(strings.TrimPrefix(lines[0], "# "), ","), strings.Split(lines[1], ",")
	got := map[string]int{}
	for i, col := range head {
		switch col {
		case "wretr", "wredis", "econ", "eresp":
			if i < len(row) {
				got[col], _ = strconv.Atoi(row[i]) // an empty field is 0
			}
		}
	}
	return got
}

// waitRequests waits until load has finished n more requests than now.
func waitRequests(t *testing.T, load *loadgen.Stats, n int64) {
	t.Helper()
	want := load.Total() + n
	deadline := time.Now().Add(10 * time.Second)
	for load.Total() < want {
		if time.Now().After(deadline) {
			t.Fatalf("load: %d requests finished, want %d within 10s; failures: %q", load.Total(), want, load.Failures())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRollingRestartWithDrainFailsNoRequest(t *testing.T) {
	f := startFleet(t)
	ctx := t.Context()
	load := loadgen.Run(ctx, f.proxy.URL()+"/", concurrency)
	defer load.Stop()
	waitRequests(t, load, 100)

	started := time.Now()
	newPIDs := map[string]string{}
	for _, name := range f.names {
		before, oldPID := load.Total(), f.pid(t, name)

		t0 := time.Now()
		if err := f.hap.Drain(ctx, "app", name, drainTimeout); err != nil {
			t.Fatalf("drain %s: %v", name, err)
		}
		t1 := time.Now()
		if err := f.sv.Restart(name); err != nil {
			t.Fatalf("%v", err)
		}
		t2 := time.Now()
		f.waitHealthy(t, name)
		t3 := time.Now()
		if err := f.hap.Ready(ctx, "app", name); err != nil {
			t.Fatalf("ready %s: %v", name, err)
		}
		waitState(t, f.hap, name, 5*time.Second, "up", isUp)
		t4 := time.Now()

		newPIDs[name] = f.pid(t, name)
		if newPIDs[name] == oldPID {
			t.Errorf("%s: pid %s before and after the restart, want a new process", name, oldPID)
		}
		served := load.Total() - before
		t.Logf("%s: drain→ready cycle %s (drain %s, supervisorctl restart %s, healthy %s, ready→UP %s); %d requests served meanwhile",
			name, t4.Sub(t0).Round(time.Millisecond), t1.Sub(t0).Round(time.Millisecond), t2.Sub(t1).Round(time.Millisecond),
			t3.Sub(t2).Round(time.Millisecond), t4.Sub(t3).Round(time.Millisecond), served)
		if served == 0 {
			t.Errorf("%s: no request finished while it restarted, want the others to serve", name)
		}
	}
	rolled := time.Since(started)
	// Traffic keeps flowing to the restarted servers.
	waitRequests(t, load, 100)
	load.Stop()

	total, failed := load.Total(), load.Failed()
	counters := f.backendCounters(t)
	t.Logf("rolling restart of %d servers took %s; load: %d requests, %d failed (%.0f req/s); haproxy counters %v",
		len(f.names), rolled.Round(time.Millisecond), total, failed, float64(total)/time.Since(started).Seconds(), counters)
	if failed != 0 {
		t.Errorf("got %d failed requests of %d, want 0; first failures:\n%s\nhaproxy log:\n%s",
			failed, total, strings.Join(load.Failures(), "\n"), f.proxy.Log())
	}
	// No request even reached a stopping server: haproxy neither retried
	// nor redispatched one, so zero failures owes nothing to retries
	// (TestRollingRestartWithoutDrain shows them at work).
	for name, n := range counters {
		if n != 0 {
			t.Errorf("haproxy counter %s: got %d, want 0 (counters %v)", name, n, counters)
		}
	}
	if total <= 100 {
		t.Errorf("got %d requests, want more than 100", total)
	}

	// Every server is back in the pool, as its new process.
	seen := map[string]string{}
	re := regexp.MustCompile(`hello from (app\d) \(pid (\d+)\)`)
	for range 3 * len(f.names) {
		resp, err := http.Get(f.proxy.URL() + "/")
		if err != nil {
			t.Fatalf("GET through haproxy: %v", err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("GET through haproxy: %v", err)
		}
		if m := re.FindStringSubmatch(string(body)); m != nil {
			seen[m[1]] = m[2]
		}
	}
	for _, name := range f.names {
		if seen[name] != newPIDs[name] {
			t.Errorf("%s: served by pid %q, want its new pid %s", name, seen[name], newPIDs[name])
		}
	}
}

// TestRollingRestartWithoutDrain is the negative control: the same rolling
// restart without taking servers out of haproxy first. It only records how
// many requests fail: haproxy's retries and redispatch may hide some or
// all of the restarts, so the number varies from run to run.
func TestRollingRestartWithoutDrain(t *testing.T) {
	f := startFleet(t)
	ctx := t.Context()
	load := loadgen.Run(ctx, f.proxy.URL()+"/", concurrency)
	defer load.Stop()
	waitRequests(t, load, 100)

	started := time.Now()
	for _, name := range f.names {
		t0 := time.Now()
		if err := f.sv.Restart(name); err != nil {
			t.Fatalf("%v", err)
		}
		f.waitHealthy(t, name)
		waitState(t, f.hap, name, 5*time.Second, "up", isUp)
		t.Logf("%s: restarted without drain in %s", name, time.Since(t0).Round(time.Millisecond))
	}
	waitRequests(t, load, 100)
	load.Stop()
	t.Logf("without drain: %d requests, %d failed in %s; haproxy counters %v; first failures: %q",
		load.Total(), load.Failed(), time.Since(started).Round(time.Millisecond), f.backendCounters(t), load.Failures())
	if load.Total() <= 100 {
		t.Errorf("got %d requests, want more than 100", load.Total())
	}
}
