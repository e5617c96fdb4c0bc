package deploy

import (
	"errors"
	"fmt"
	"testing"
)

// TestMessagesNamingTheHostKeepItsAddress: a message that names a host
// itself and quotes what failed there names it by the SSH transport's
// naming when that gave the address, once: quoting the cause alone
// dropped the address ("lost host0 while its migrations ran (host
// unreachable: connection lost)"), which whoever has to reach the host
// needs. A host whose error gave no address is named by its name alone.
func TestMessagesNamingTheHostKeepItsAddress(t *testing.T) {
	addressed := errors.New("ssh: host0 (10.0.0.5:22): host unreachable: connection lost")
	bare := errors.New("ssh: host0: session closed")
	tests := []struct {
		name, got, want string
	}{
		{"lost while migrating", lostMigrating("host0", stepFailed(StepMigrate, "host0", addressed)),
			"lost host0 (10.0.0.5:22) while its migrations ran (host unreachable: connection lost)"},
		{"lost while migrating, wrapped", lostMigrating("host0", fmt.Errorf("migrate: %w", stepFailed(StepMigrate, "host0", addressed))),
			"lost host0 (10.0.0.5:22) while its migrations ran (host unreachable: connection lost)"},
		{"lost while migrating, no address", lostMigrating("host0", stepFailed(StepMigrate, "host0", bare)),
			"lost host0 while its migrations ran (session closed)"},
		{"migrations failed", failedOn("migrations", "host0", stepFailed(StepMigrate, "host0", addressed)),
			"migrations failed on host0 (10.0.0.5:22) (host unreachable: connection lost)"},
		{"migrations failed for their command", failedOn("migrations", "host0", stepFailed(StepMigrate, "host0", errors.New("exit status 1"))),
			"migrations failed on host0 (exit status 1)"},
		{"backup failed", failedOn("the backup before migrations", "host0", stepFailed(StepBackup, "host0", addressed)),
			"the backup before migrations failed on host0 (10.0.0.5:22) (host unreachable: connection lost)"},
		{"current unread", unreadCurrent("switch on host0: exit status 1", "host0", addressed),
			"switch on host0: exit status 1; could not read current after the failed switch: host0 (10.0.0.5:22): host unreachable: connection lost"},
		// The failed switch gave the address already: once is enough.
		{"current unread, the address given", unreadCurrent("switch on host0 (10.0.0.5:22): host unreachable: connection lost", "host0", addressed),
			"switch on host0 (10.0.0.5:22): host unreachable: connection lost; could not read current after the failed switch: host unreachable: connection lost"},
		{"current unread, no address", unreadCurrent("switch on host0: exit status 1", "host0", bare),
			"switch on host0: exit status 1; could not read current after the failed switch: session closed"},
		{"pruning failed", pruneFailed("host0", addressed),
			"pruning old releases on host0 (10.0.0.5:22) failed: host unreachable: connection lost"},
		{"pruning failed, no address", pruneFailed("host0", bare),
			"pruning old releases on host0 failed: session closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}
