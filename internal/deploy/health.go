package deploy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/switchman-bot/switchman/internal/pause"
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

// checkHealth retries the app's health check until it passes or its
// timeout runs out. No configured check passes at once. failed is the
// failure of an attempt already made (chained with the restart), or nil;
// the timeout counts from began, when that attempt started, or from now
// when began is zero.
func (e *Engine) checkHealth(ctx context.Context, r *run, h Host, build string, failed error, began time.Time) error {
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
			_, err = r.sessions[h.Name].Run(ctx, Command{Script: r.healthScript(h, build, vars)})
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

// healthScript is one attempt of the app's health command on h; vars are
// r.vars(h, build).
func (r *run) healthScript(h Host, build string, vars map[string]string) string {
	return inDir(r.t.app.Path, r.cmdEnv(h, build, ""), expand(r.t.app.Health.Command, vars))
}

func (e *Engine) probeURL(ctx context.Context, url, expect string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("health url: %w", err)
	}
	resp, err := e.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("read health response: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s answered %s: %s", url, resp.Status, firstLine(body))
	}
	if expect != "" && !strings.Contains(string(body), expect) {
		return fmt.Errorf("%s answered %q, want it to contain %q", url, firstLine(body), expect)
	}
	return nil
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
