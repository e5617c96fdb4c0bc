package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
)

// TestConsoleOnRedisReportsDeployLeftWithinTheLeaseTTL: a console on a
// Redis store stopped at once mid-deploy (a second Ctrl-C, a kill) leaves
// the deploy's lease in Redis for lease_ttl. A console started again
// before it runs out finds the deploy still held at start-up; it must
// still report it interrupted once the lease runs out, as serve does,
// rather than leave it shown running until the next deploy of the env.
func TestConsoleOnRedisReportsDeployLeftWithinTheLeaseTTL(t *testing.T) {
	f := newDemo(t)
	srv := redisserver.Start(t)
	const ttl = 2 * time.Second // onRedis's lease_ttl
	f.onRedis(t, srv.URL())
	if _, err := runBot(t, "deploy demo 1\n", "-config", f.cfg, "console"); err != nil {
		t.Fatal(err)
	}
	original := hangRestartOf2(t, f)
	cmd, _, _, exited := restartingConsole(t, f)
	f.killRestarting(t, cmd, exited, original)
	killed := time.Now()

	// At once, while the dead console's lease still holds, and left
	// open for longer than the lease lives; then the same console, asked
	// once the lease has run out.
	const want = "of demo 2 to local was interrupted"
	limit := ttl + 5*time.Second
	out, errOut, reported, err := f.consoleAfter(t, want, killed.Add(limit), "status demo\n")
	if err != nil {
		t.Errorf("console: %v", err)
	}
	if !reported {
		t.Errorf("the console did not report the deploy interrupted within %s of the kill; got:\n%s\nstderr:\n%s", limit, out, errOut)
	}
	if want := "last deploy 2 (from 1) interrupted by alice"; !strings.Contains(out, want) {
		t.Errorf("status lacks %q:\n%s", want, out)
	}
}

// TestConsoleOnRedisSaysTrainsDepartFromReplicas: a console on a Redis
// store is no replica: it does not run the leader election, so its train
// scheduler never departs on schedule (the serve replicas sharing the
// store do). It says so at start, rather than leaving a train that never
// leaves from it unexplained; on a file store, where the console is the
// only bot, trains depart from it and nothing is said.
func TestConsoleOnRedisSaysTrainsDepartFromReplicas(t *testing.T) {
	const note = "trains do not depart on schedule from a console on a Redis store"
	for _, tt := range []struct {
		name  string
		redis bool
	}{
		{name: "redis", redis: true},
		{name: "file store", redis: false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newDemo(t)
			if tt.redis {
				f.onRedis(t, redisserver.Start(t).URL())
			}
			b, err := os.ReadFile(f.cfg)
			if err != nil {
				t.Fatal(err)
			}
			b = append(b, "trains:\n  daily:\n    env: local\n    channels: [\"#releases\"]\n    boarding: \"0 10 * * 1-5\"\n    departure: \"0 14 * * 1-5\"\n"...)
			if err := os.WriteFile(f.cfg, b, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := runBot(t, "train\n", "-config", f.cfg, "console")
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(out, note); got != tt.redis {
				t.Errorf("output says %q: %v, want %v:\n%s", note, got, tt.redis, out)
			}
		})
	}
}
