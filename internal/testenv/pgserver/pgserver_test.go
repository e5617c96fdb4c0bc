package pgserver_test

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/testenv/pgserver"
)

// TestStart: two servers run side by side, each on its own port, each
// with a database "test" that pg_dump reads without a password.
func TestStart(t *testing.T) {
	pgDump, err := exec.LookPath("pg_dump")
	if err != nil {
		t.Fatal("pg_dump not found: install it with `apt-get install -y postgresql-client`")
	}
	a, b := pgserver.Start(t), pgserver.Start(t)
	if a.Port() == b.Port() || a.Port() == 5432 || b.Port() == 5432 {
		t.Fatalf("ports %d and %d: want two, neither PostgreSQL's usual 5432", a.Port(), b.Port())
	}
	for _, s := range []*pgserver.Server{a, b} {
		out, err := exec.Command(pgDump, "-h", "127.0.0.1", "-p", strconv.Itoa(s.Port()), "-U", "postgres", "test").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "PostgreSQL database dump") {
			t.Errorf("pg_dump of the server on %d: %v: %.300s", s.Port(), err, out)
		}
	}
}
