package commands_test

import (
	"strings"
	"testing"
)

// lockerYAML has ana, an admin, and carl, who may deploy and lock on
// web/prod but not unlock.
const lockerYAML = `users:
  ana: {}
  carl: {}
admins: [ana]
roles:
  locker: [deploy, lock]
access:
  - role: locker
    users: [carl]
    on: ["web/prod"]
apps:
  web:
    artifact:
      path: artifacts/{app}-{build}.tar.gz
    path: srv/web
    restart: 'true'
    environments:
      prod:
        hosts: [localhost]
`

// TestLockDoesNotTakeOverAnothersLock: a lock replaces only its owner's
// own lock of the same scope. Taking over another's would unlock it
// without the unlock permission, and its new owner would deploy through
// it.
func TestLockDoesNotTakeOverAnothersLock(t *testing.T) {
	f := newServiceFixtureFrom(t, lockerYAML, nil)
	if r, out, _ := f.do("ana", "lock deploys web prod db migration running"); r.Failed {
		t.Fatalf("ana's lock: %s", out.last())
	}
	r, out, _ := f.do("carl", "lock deploys web prod for 1m mine now")
	if !r.Failed || !strings.Contains(out.last(), "web/prod is locked already: locked by ana") {
		t.Errorf("carl locking over ana's lock: failed %v, %q; want a refusal naming ana's lock", r.Failed, out.last())
	}
	if r, out, _ := f.do("carl", "deploy web 1"); !r.Failed || !strings.Contains(out.last(), "db migration running") {
		t.Errorf("carl's deploy under ana's lock: failed %v, %q; want it refused", r.Failed, out.last())
	}
	// Its owner may change it: a new reason, an expiry.
	if r, out, _ := f.do("ana", "lock deploys web prod for 2h migration, part two"); r.Failed {
		t.Errorf("ana relocking her own lock: %s", out.last())
	}
	locks, err := f.store.Locks(t.Context())
	if err != nil || len(locks) != 1 || locks[0].Owner != "ana" || locks[0].Reason != "migration, part two" {
		t.Errorf("locks: %+v, %v; want ana's, with its new reason", locks, err)
	}
}
