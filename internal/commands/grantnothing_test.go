package commands_test

import (
	"strings"
	"testing"
)

// TestGrantRefusalsSayNothingChanged: every refusal of a grant or revoke
// says that nothing was changed, as one of a user named in another case
// did, so that an admin does not go looking for a half-made grant. A
// mention of an unmapped chat user, an unknown user and an unknown role
// did not.
func TestGrantRefusalsSayNothingChanged(t *testing.T) {
	f := newGuardFixture(t, "")
	for _, tt := range []struct {
		name, text, want string
	}{
		{"unmapped chat id", "grant <@U999> deployer api", "chat user U999 is not mapped to a Switchman user; add their id under users in the config; nothing was changed"},
		{"unmapped chat id, revoke", "revoke <@U999> deployer api", "chat user U999 is not mapped to a Switchman user; add their id under users in the config; nothing was changed"},
		{"unknown user", "grant @zed deployer api", `unknown user "zed"; users are named in the config; nothing was changed`},
		{"unknown user, revoke", "revoke @zed deployer api", `unknown user "zed"; users are named in the config; nothing was changed`},
		{"unknown role", "grant @carl wizard api", `unknown role "wizard"; roles are admin, deployer, oncall; nothing was changed`},
		{"user in another case", "grant @Carl deployer api", `did you mean @carl? nothing was changed`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, out, _ := f.do("ana", tt.text)
			if !res.Failed || !strings.Contains(out.last(), tt.want) {
				t.Errorf("%q: got failed=%v reply %q, want a refusal saying %q", tt.text, res.Failed, out.last(), tt.want)
			}
		})
	}
}
