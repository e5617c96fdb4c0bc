package deploy

import (
	"fmt"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/errs"
)

// TestUnstoppedMigrationsNamesEveryHost: the refusal of migrations that
// may still run on hosts out of reach names each of them, up to five, so
// that bringing back the one it named is not met by a refusal for the
// next; it agrees in number, and names each run once.
func TestUnstoppedMigrationsNamesEveryHost(t *testing.T) {
	a := &Record{Kind: KindDeploy, ID: "a"}
	b := &Record{Kind: KindRollback, ID: "b"}
	on := func(r *Record, hosts ...string) []LostHost {
		var out []LostHost
		for _, h := range hosts {
			out = append(out, LostHost{Run: r, Host: h})
		}
		return out
	}
	many := make([]string, 7)
	for i := range many {
		many[i] = fmt.Sprintf("web-%d", i+1)
	}
	for _, tt := range []struct {
		name string
		left []LostHost
		want string
	}{
		{"one host", on(a, "web-1"),
			"the migrations of deploy a may still be running on web-1, which this deploy could not reach to stop them: migrations run now would run beside them; nothing was migrated or switched: deploy again once web-1 answers, or once it is out of the env's hosts"},
		{"two hosts", on(a, "web-1", "web-2"),
			"the migrations of deploy a may still be running on web-1, web-2, which this deploy could not reach to stop them: migrations run now would run beside them; nothing was migrated or switched: deploy again once web-1, web-2 answer, or once they are out of the env's hosts"},
		{"more than five", on(a, many...),
			"may still be running on web-1, web-2, web-3, web-4, web-5 and 2 more, which this deploy could not reach to stop them: migrations run now would run beside them; nothing was migrated or switched: deploy again once web-1, web-2, web-3, web-4, web-5 and 2 more answer, or once they are out of the env's hosts"},
		{"two runs, one host", append(on(a, "web-1"), on(b, "web-1")...),
			"the migrations of deploy a and rollback b may still be running on web-1, which this deploy"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := errs.Message(unstoppedMigrations(tt.left)); !strings.Contains(got, tt.want) {
				t.Errorf("got %q, want it to say %q", got, tt.want)
			}
		})
	}
}
