package deploy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/switchman-bot/switchman/internal/errs"
)

// A step does not die with the process that runs the deploy: the host's
// shell runs what it began (a restart, a health check) to its end. A run
// that follows one whose process died therefore stops, on each host and
// before it changes anything there, what that one began and is still
// running, found by the token its scripts carry (see Command.Run); so
// does a run that follows one that lost a host in the middle of a step.
// Runs that follow no such run search nothing: the search walks every process
// of the host.

// leftoverScript finds and kills, on a host, the steps still running that
// the runs whose tokens it names had begun. It prints a line per process
// it kills, "TOKEN PID COMM" (COMM reduced to a safe word), and "-" alone
// when the host has no /proc to search.
//
// A step is the shell that runs its script and what that shell started
// and has not left behind. The transports run scripts in shells started
// as /bin/sh -c with an argument "switchman" (a program with that word
// among its arguments, the app's user or a session named after it, is no
// such shell): the shell of an SSH session and the local transport's, which carry the token themselves, and the shell the steps
// of an SSH connection share, each step in a subshell of it (a fork,
// whose environment is the shared shell's: without the token). From each
// process carrying the token the search goes up, parent after parent,
// through processes that carry it or are such shells, to the one that
// runs the step: a shell of the first kind, or the child of the shared
// shell (the step's subshell, or the step's program when the subshell
// replaced itself with it). That process and its descendants are the
// step: stopped first (SIGSTOP, so that none forks meanwhile), then
// killed, and waited for until each has exited (a zombie has; for at
// most about 5 s each), since a SIGKILL is only queued when kill returns
// and a process dying on a busy host may still hold its files and
// sockets when the next step runs. SIGKILL, not SIGTERM: a handler the step set for TERM would be
// one more thing it runs after the run that stops it has begun. A process
// carrying the token whose way up leads elsewhere (to init) outlived its
// step, which has ended: the app a restart started in the background,
// left alone. So is a step's last program that its session's shell, or
// the local transport's, replaced itself with: nothing tells it from such
// an app. The processes the search runs under are never stopped, nor
// what runs under them: a step of the dead run may have started the bot
// that searches (a bot deployed by itself) and not ended yet, and
// stopping it, or the search's own shell, would stop the search for
// good. ($PPID of a sh the search starts is the search's shell, or a
// subshell of it: the way up from there passes through it either way.)
const leftoverScript = `[ -r /proc/self/environ ] || { echo -; exit 0; }
kids() {
	if command -v pgrep >/dev/null 2>&1; then pgrep -P "$1"; return 0; fi
	for d in /proc/[0-9]*; do
		while read -r k v; do
			if [ "$k" = PPid: ]; then [ "$v" = "$1" ] && echo "${d#/proc/}"; break; fi
		done <"$d/status" 2>/dev/null
	done
}
up() {
	p=
	read -r s <"/proc/$1/stat" 2>/dev/null || return 1
	s=${s##*) }
	set -- $s
	p=$2
	[ -n "$p" ]
}
has() { case $2 in *" $1 "*) return 0 ;; esac; return 1; }
S=' '
for f in $(grep -l -a -z -x -F switchman /proc/[0-9]*/cmdline 2>/dev/null); do
	[ "$(tr '\0' '\n' <"$f" 2>/dev/null | head -n 2 | tr '\n' ' ')" = "/bin/sh -c " ] || continue
	f=${f#/proc/}
	S="$S${f%%%%/*} "
done
A=' '
a=$(sh -c 'echo $PPID')
while [ -n "$a" ] && [ "$a" -gt 1 ]; do
	A="$A$a "
	up "$a" || break
	a=$p
done
all=' '
walk() {
	case $all$A in *" $1 "*) return 0 ;; esac
	kill -STOP "$1" 2>/dev/null || return 0
	all="$all$1 "
	c=?
	read -r c <"/proc/$1/comm" 2>/dev/null
	case $c in *[!A-Za-z0-9._+-]*|'') c=? ;; esac
	echo "$2 $1 $c"
	for k in $(kids "$1"); do walk "$k" "$2"; done
}
for t in %s; do
	T=' '
	for f in $(grep -l -a -z -x -F "SWITCHMAN_RUN=$t" /proc/[0-9]*/environ 2>/dev/null); do
		f=${f#/proc/}
		T="$T${f%%%%/*} "
	done
	for q in $T; do
		r=
		while [ "$q" -gt 1 ] && up "$q"; do
			u=$p
			if has "$u" "$S" && ! has "$u" "$T" && up "$u" && ! has "$p" "$S"; then r=$q; break; fi
			if has "$q" "$S" && has "$q" "$T"; then r=$q; break; fi
			has "$q" "$T" || has "$q" "$S" || break
			q=$u
		done
		[ -z "$r" ] || walk "$r" "$t"
	done
done
[ "$all" = ' ' ] || kill -KILL $all 2>/dev/null
for q in $all; do
	n=0
	while [ $n -lt 500 ] && read -r s <"/proc/$q/stat" 2>/dev/null; do
		s=${s##*) }
		case $s in Z*|X*) break ;; esac
		sleep 0.01 2>/dev/null || { sleep 1; n=$((n+99)); }
		n=$((n+1))
	done
done
exit 0
`

// deadRuns returns the runs of the app+env whose process died, newest
// first, that may have left steps running on the hosts: those recorded
// interrupted (or running still, their recovery under way: this run holds
// the app+env) since the last run that succeeded, and those that ended
// after losing a host in the middle of a script (HostResult.Lost): a host
// that hung comes back running it. An earlier one's were
// stopped by the run that followed it. A run that found every host on its
// release already (unchanged) is no such bound: it resolved an
// interrupted run without searching the hosts (see nothingToDo), and what
// that run left may still be running.
//
// It returns the records it read too, newest first.
func (r *run) deadRuns() (dead, recs []*Record, err error) {
	recs = r.recent
	if recs == nil {
		if recs, err = r.e.recentRecords(context.WithoutCancel(r.ctx), r.t); err != nil {
			return nil, nil, err
		}
	}
	for _, rec := range recs {
		if rec.ID == r.rec.ID {
			continue
		}
		switch rec.Outcome {
		case OutcomeSucceeded:
			return dead, recs, nil
		case OutcomeInterrupted, OutcomeRunning:
			if ValidRunToken(rec.Run) {
				dead = append(dead, rec)
			}
		default:
			// A run that ended but lost a host in the middle of a
			// script: the script may still run there.
			if ValidRunToken(rec.Run) && lostHost(rec) {
				dead = append(dead, rec)
			}
		}
	}
	return dead, recs, nil
}

// migrationsLeft returns the hosts, among those of the env (hosts), where
// the migrations of one of the dead runs (newest first, as recs) may
// still run, with that run: the host its record says ran its migrate
// command; in a record that does not say (written by an earlier version),
// those lost while it ran, or every host of a run whose process died
// then; less those searched for what it left since, by this run
// (searched) or a later one.
func migrationsLeft(recs, dead []*Record, hosts []Host, searched map[string]bool) []LostHost {
	inEnv := map[string]bool{}
	for _, h := range hosts {
		inEnv[h.Name] = true
	}
	var out []LostHost
	for _, d := range dead {
		if d.MigrationState != MigrationsRunning {
			continue
		}
		lost := lostHost(d)
		later := recs[:max(slices.IndexFunc(recs, func(rec *Record) bool { return rec.ID == d.ID }), 0)]
		for _, h := range d.Hosts {
			if d.MigrationHost != "" && h.Host != d.MigrationHost || d.MigrationHost == "" && lost && !h.Lost || !inEnv[h.Host] || searched[h.Host] {
				continue
			}
			if slices.ContainsFunc(later, func(rec *Record) bool {
				lh := rec.Host(h.Host)
				return lh != nil && (strings.Contains(lh.Stopped, string(d.Kind)+" "+d.ID+":") || slices.Contains(strings.Fields(lh.Searched), d.ID))
			}) {
				continue
			}
			out = append(out, LostHost{Run: d, Host: h.Host})
		}
	}
	return out
}

// lostHost reports whether rec lost a host in the middle of a script.
func lostHost(rec *Record) bool {
	for _, h := range rec.Hosts {
		if h.Lost {
			return true
		}
	}
	return false
}

// lostHosts names the hosts the run lost in the middle of a script, in
// record order.
func (r *run) lostHosts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var names []string
	for _, h := range r.rec.Hosts {
		if h.Lost {
			names = append(names, h.Host)
		}
	}
	return names
}

// stopLeftovers stops, on each host of the run, what the runs whose
// process died had begun there and is still running (see leftoverScript),
// before the run changes anything, and says what it stopped in the
// progress and in the host's record. A host where the search fails is
// left out of the run (as one that failed before its switch, within
// max_failures): changed while such a step may still run there, it would
// race it. More of those than max_failures allows fail the run, nothing
// changed.
func (r *run) stopLeftovers() error {
	dead, recs, err := r.deadRuns()
	if err != nil {
		return err
	}
	if len(dead) == 0 {
		return nil
	}
	byToken := map[string]*Record{}
	tokens := make([]string, 0, len(dead))
	for _, d := range dead {
		byToken[d.Run] = d
		tokens = append(tokens, d.Run)
	}
	script := fmt.Sprintf(leftoverScript, strings.Join(tokens, " "))
	type found struct {
		err     error
		noProc  bool
		stopped map[string][]string // by token: the processes' names
	}
	live := r.live()
	results := make([]found, len(live))
	eachHost(live, len(live), func(i int, h Host) {
		out, err := r.sessions[h.Name].Run(r.ctx, Command{Script: script, Timeout: r.t.env.StepTimeout.D()})
		if err != nil {
			results[i].err = err
			return
		}
		results[i].noProc, results[i].stopped = parseLeftovers(out, byToken)
	})
	if err := r.stopErr(); err != nil {
		return err
	}
	// A host searched is not running what the dead runs began any more:
	// `status` stops warning of a host they lost (see StillLost), whether
	// the search stopped something there or found nothing.
	ids := make([]string, 0, len(dead))
	for _, d := range dead {
		ids = append(ids, d.ID)
	}
	searched := strings.Join(ids, " ")
	var none []Host
	for i, h := range live {
		res := results[i]
		switch {
		case res.err != nil:
			const words = "could not look for what %s had begun there and may still be running: %w"
			err := fmt.Errorf(words, runNames(dead), res.err)
			if r.drop(h, unusedState(res.err), err) {
				// The SSH error names the host with its address: that
				// leads, so the host is named once.
				lead, rest := hostLead(h.Name, res.err)
				return errs.Wrap(errs.Unavailable, err, "%s: %v; nothing was changed", lead, fmt.Errorf(words, runNames(dead), rest))
			}
		case res.noProc:
			r.note("could not look on %s for what %s had begun there (it has no /proc): it may still be running there", h.Name, runNames(dead))
		case len(res.stopped) == 0:
			none = append(none, h)
		default:
			var parts []string
			for _, d := range dead {
				if names := res.stopped[d.Run]; len(names) > 0 {
					parts = append(parts, fmt.Sprintf("%s %s: %s", d.Kind, d.ID, processes(names)))
				}
			}
			said := strings.Join(parts, "; ")
			r.setHost(h.Name, func(hr *HostResult) { hr.Stopped, hr.Searched = said, searched })
			r.note("stopped on %s what was still running there of %s: %s", h.Name, whoseRuns(dead), said)
		}
	}
	if len(none) > 0 {
		r.setHosts(none, func(hr *HostResult) { hr.Searched = searched })
		names := make([]string, 0, len(none))
		for _, h := range none {
			names = append(names, h.Name)
		}
		r.note("nothing %s had begun is still running on %s", runNames(dead), strings.Join(names, ", "))
	}
	looked := map[string]bool{}
	for i, h := range live {
		if results[i].err == nil && !results[i].noProc {
			looked[h.Name] = true
		}
	}
	r.unstopped = migrationsLeft(recs, dead, r.hosts, looked)
	return nil
}

// whoseRuns says why the steps of runs were left running: "a run whose
// process died", or, when one of them ended but lost a host mid-script,
// that too.
func whoseRuns(runs []*Record) string {
	for _, d := range runs {
		if d.Outcome.Done() && d.Outcome != OutcomeInterrupted {
			return "a run whose process died or that lost the host in the middle of a step"
		}
	}
	return "a run whose process died"
}

// parseLeftovers reads leftoverScript's output: whether the host has no
// /proc, and the names of the processes it killed, by token.
func parseLeftovers(out []byte, runs map[string]*Record) (noProc bool, stopped map[string][]string) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 1 && f[0] == "-" {
			noProc = true
			continue
		}
		if len(f) != 3 || runs[f[0]] == nil {
			continue
		}
		if stopped == nil {
			stopped = map[string][]string{}
		}
		stopped[f[0]] = append(stopped[f[0]], f[2])
	}
	return noProc, stopped
}

// processes words the names of processes: "2 processes (sh, sleep)".
func processes(names []string) string {
	if len(names) == 1 {
		return "1 process (" + names[0] + ")"
	}
	shown := names
	more := ""
	if len(shown) > 10 {
		shown, more = shown[:10], ", …"
	}
	return fmt.Sprintf("%d processes (%s%s)", len(names), strings.Join(shown, ", "), more)
}

// runNames names runs for people: "deploy 20261123-…".
func runNames(recs []*Record) string {
	names := make([]string, 0, len(recs))
	for _, d := range recs {
		names = append(names, string(d.Kind)+" "+d.ID)
	}
	return strings.Join(names, " or ")
}
