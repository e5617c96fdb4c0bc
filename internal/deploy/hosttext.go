package deploy

import (
	"regexp"
	"strings"
)

// HostText splits msg, what a host's record or a failed step's event
// says of host (HostResult.Error, Event.Err), into the host's lead and
// what msg says without naming it, for a line that names the host up
// front by that lead. The lead is the host's name, with the address an
// SSH error gave where msg has one ("web1 (10.0.0.5:22)"): whoever has
// to reach the host needs it. The rest drops each naming of host the
// engine's texts make, as hostLead does of an error: a failed step is
// said by the step ("deliver on web1: session closed" leaves "deliver:
// session closed"), a text led by the host by what follows ("web1
// stopped passing its health check …" leaves "stopped passing its
// health check …"), and the SSH transport's naming goes wherever it
// comes ("could not look: ssh: web1: session closed" leaves "could not
// look: session closed"). What msg says of another host stays. A msg
// that does not name host is the rest as it is.
func HostText(host, msg string) (lead, rest string) {
	name := regexp.QuoteMeta(host)
	// The address as the SSH transport gives it, host:port: what a
	// script wrote of a process, "web1 (pid 42): exited", is not one.
	addr := ` \((?:\[[^\s()\[\]]+\]|[^\s()\[\]:]+):[0-9]+\)`
	namings := []struct {
		re   *regexp.Regexp
		with string
	}{
		// A failed step: "deliver on web1 (…): …".
		{regexp.MustCompile(` on (` + name + `(?:` + addr + `)?): `), ": "},
		// The SSH transport's naming with the address, anywhere.
		{regexp.MustCompile(`(^| )(?:ssh: )?(` + name + addr + `): `), "${1}"},
		// Its naming without it, anywhere.
		{regexp.MustCompile(`(^| )ssh: (` + name + `): `), "${1}"},
		// A text, or a part of one joined on, that leads with the host:
		// "web1 stopped passing …", "web1: …".
		{regexp.MustCompile(`(^|; )(` + name + `(?:` + addr + `)?)(?:: | )`), "${1}"},
	}
	lead, rest = host, msg
	for _, n := range namings {
		for _, m := range n.re.FindAllStringSubmatch(rest, -1) {
			if said := m[len(m)-1]; lead == host && strings.HasPrefix(said, host+" (") {
				lead = said
			}
		}
		rest = n.re.ReplaceAllString(rest, n.with)
	}
	return lead, rest
}
