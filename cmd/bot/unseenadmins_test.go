package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// unseenYAML is a Slack bot with two admins; its arguments are carl's
// users entry and the env's window.
const unseenYAML = `store:
  path: state.db
slack:
  signing_secret: s3cret
  bot_token: xoxb-test
users:
  ana: {slack: UANA}
  carl: %s
admins: [ana, carl]
apps:
  web:
    artifact:
      path: artifacts/{app}-{build}.tar.gz
    path: srv/web
    restart: 'true'
    environments:
      prod:
        hosts: [localhost]
%s`

// TestCheckConfigNamesAdminsSlackCannotSee: where an env needs an admin
// around, an admin without a Slack id counts only when checked in. That
// is said once, by check-config (and the start-up's log), not in every
// reply that finds no admin around.
func TestCheckConfigNamesAdminsSlackCannotSee(t *testing.T) {
	const window = "        window: {require_admin_present: true}\n"
	tests := []struct {
		name   string
		carl   string
		window string
		want   bool
	}{
		{"an admin without a slack id", "{}", window, true},
		{"every admin with a slack id", "{slack: UCARL}", window, false},
		{"no env needs an admin around", "{}", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "switchman.yaml")
			if err := os.WriteFile(cfg, fmt.Appendf(nil, unseenYAML, tt.carl, tt.window), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := runBot(t, "", "-config", cfg, "check-config")
			if err != nil {
				t.Fatalf("check-config: %v\n%s", err, out)
			}
			note := "note: " + unseenAdminsNote([]string{"carl"})
			if got := strings.Contains(out, note); got != tt.want {
				t.Errorf("check-config printed %q: got %v, want %v\n%s", note, got, tt.want, out)
			}
		})
	}
}
