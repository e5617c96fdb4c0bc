package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/switchman-bot/switchman/internal/pause"
	"github.com/switchman-bot/switchman/internal/redact"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// expand fills {key} placeholders of a health URL, command or expectation.
func expand(tmpl string, vars map[string]string) string {
	if !strings.Contains(tmpl, "{") {
		return tmpl
	}
	pairs := make([]string, 0, 2*len(vars))
	for k, v := range vars {
		pairs = append(pairs, "{"+k+"}", v)
	}
	return strings.NewReplacer(pairs...).Replace(tmpl)
}

// checkHealth retries the app's health check of h on build (the host's
// release before it being previous) until it passes or its timeout runs
// out. No configured check passes at once. failed is the
// failure of an attempt already made (chained with the restart), or nil;
// the timeout counts from began, when that attempt started, or from now
// when began is zero.
func (e *Engine) checkHealth(ctx context.Context, r *run, h Host, build, previous string, failed error, began time.Time) error {
	hc := r.t.app.Health
	if hc.URL == "" && hc.Command == "" {
		return nil
	}
	vars := r.vars(h, build)
	if began.IsZero() {
		began = time.Now()
	}
	ctx, cancel := context.WithDeadline(ctx, began.Add(hc.Timeout.D()))
	defer cancel()
	last := failed
	for {
		if last != nil && pause.For(ctx, hc.Interval.D()) != nil {
			return fmt.Errorf("not healthy after %s: %w", hc.Timeout.D(), last)
		}
		var err error
		if hc.URL != "" {
			err = e.probeURL(ctx, expand(hc.URL, vars), expand(hc.Expect, vars))
		} else {
			_, err = r.sessions[h.Name].Run(ctx, Command{Script: r.healthScript(h, build, previous, vars)})
		}
		if err == nil {
			return nil
		}
		if ctx.Err() != nil && last != nil {
			// The timeout cut this attempt short: what the one before
			// it found says more than "context deadline exceeded".
			return fmt.Errorf("not healthy after %s: %w", hc.Timeout.D(), last)
		}
		last = err
	}
}

// healthScript is one attempt of the app's health command on h, with the
// environment restart and hooks get; vars are r.vars(h, build).
func (r *run) healthScript(h Host, build, previous string, vars map[string]string) string {
	return inDir(r.t.app.Path, r.cmdEnv(h, build, previous), expand(r.t.app.Health.Command, vars))
}

// probeURL is one attempt of an HTTP health check. Its errors name the
// URL with its user info and query hidden (see redact.URL): they reach the
// deploy's progress, its record (status, history) and the log.
func (e *Engine) probeURL(ctx context.Context, rawURL, expect string) error {
	shown := redact.URL(rawURL)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		// Not err, which quotes the URL or a part of it.
		return fmt.Errorf("health url %s is not valid", shown)
	}
	resp, err := e.http.Do(req)
	if err != nil {
		// *url.Error quotes the whole URL, query and user name included.
		var uerr *url.Error
		if errors.As(err, &uerr) && uerr.Err != nil {
			if uerr.Timeout() && ctx.Err() == nil && e.http.Timeout > 0 {
				// The client's own limit, not the check's timeout: "Client.Timeout
				// exceeded" named no setting, and no health.timeout lifts it.
				return fmt.Errorf("%s: no answer within %s, the limit of one attempt", shown, e.http.Timeout)
			}
			err = uerr.Err
		}
		return fmt.Errorf("%s: %w", shown, err)
	}
	defer resp.Body.Close()
	// One byte more than is kept tells a body cut short from one that
	// ends there.
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxHealthBody+1))
	if err != nil {
		return fmt.Errorf("read health response: %w", err)
	}
	cut := len(body) > maxHealthBody
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s answered %s: %s", shown, resp.Status, firstLine(body, e.secrets))
	}
	if expect != "" && !matchesWord(string(body), expect, cut) {
		if cut {
			return fmt.Errorf("%s answered %q, want its first %d KiB to contain %q", shown, firstLine(body, e.secrets), maxHealthBody>>10, expect)
		}
		return fmt.Errorf("%s answered %q, want it to contain %q", shown, firstLine(body, e.secrets), expect)
	}
	return nil
}

// maxHealthBody is how much of a health answer's body is read, and
// searched for expect.
const maxHealthBody = 64 << 10

// containsWord reports whether s contains w where w's ends meet no
// further characters of a word: expect "{build}" must not pass for build 1
// on a body saying "build 10" or "2025.03.14-1" (an old process still
// answering after a rollback or a switch back).
func containsWord(s, w string) bool { return matchesWord(s, w, false) }

// matchesWord is containsWord on s, the start of a body when cut is set:
// the characters that followed its end are unknown, so a match that needs
// them to tell whether it ends a word ("build 1" of "build 10" cut after
// its 1) does not count.
func matchesWord(s, w string, cut bool) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		j := strings.Index(s[i:], w)
		if j < 0 {
			return false
		}
		at, end := i+j, i+j+len(w)
		before := at > 0 && wordChar(s[at-1], s[at]) && wordChar(w[0], 0)
		after := end < len(s) && wordChar(s[end], next(s, end+1)) && wordChar(w[len(w)-1], 0)
		if !before && !after && (!cut || end+1 < len(s)) {
			return true
		}
		i = at
	}
	return false
}

// wordChar reports whether c, followed by n, continues a word: letters,
// digits and _; a . or - only between two of those (as in 2025.03.14-1,
// unlike a sentence's last full stop).
func wordChar(c, n byte) bool {
	alnum := func(c byte) bool {
		return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
	}
	if c == '.' || c == '-' {
		return n != 0 && alnum(n)
	}
	return alnum(c)
}

func next(s string, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return 0
}

// firstLine is the first line of an answer's body, as errors quote it:
// with the config's secret values and URLs' credentials hidden (an app
// that cannot reach its database may say which, password included)
// before it is cut, so that a cut does not leave a part of one; and
// without the marks of the bot's suggested commands, which an app's words
// may not carry (see suggest).
func firstLine(b []byte, secrets *redact.Secrets) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return truncateText(suggest.Strip(secrets.Text(s)), 201)
}
