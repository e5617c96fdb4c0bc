package sentry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// Bucket is the number of error events in one interval starting at Start.
type Bucket struct {
	Start time.Time
	Count int
}

// Issue is a Sentry issue (a group of similar events).
type Issue struct {
	ID        string
	ShortID   string // e.g. "SHOP-1A", what people type in Sentry's search
	Title     string
	Permalink string // the issue's page in Sentry
	Count     int    // events of the issue (Sentry's "count")
}

// Reader is what watching a deploy needs from Sentry. *Client implements it;
// tests fake it.
type Reader interface {
	ErrorCounts(ctx context.Context, org, project, env string, start, end time.Time, interval time.Duration) ([]Bucket, error)
	NewIssues(ctx context.Context, org, project, env, version string, limit int) ([]Issue, error)
}

var _ Reader = (*Client)(nil)

func esc(s string) string { return url.PathEscape(s) }

// CreateRelease makes sure release version exists in org and is associated
// with projects (slugs). Creating is idempotent in Sentry: 201 means it
// created the release or added a project to it, 208 that it already had
// both. A 409 (Sentry lost a race with another creator of the same version)
// is answered by posting once more, which attaches the projects to the
// release that now exists. No PUT is needed: Sentry's update endpoint cannot
// change a release's projects, and the POST already does.
func (c *Client) CreateRelease(ctx context.Context, org, version string, projects []string) error {
	if org == "" || version == "" || len(projects) == 0 {
		return errs.New(errs.Invalid, "sentry: creating a release needs an organization, a version and at least one project")
	}
	body := struct {
		Version  string   `json:"version"`
		Projects []string `json:"projects"`
	}{version, projects}
	var status int
	r := request{
		op:     "create release " + version,
		method: http.MethodPost,
		path:   "/api/0/organizations/" + esc(org) + "/releases/",
		body:   body,
		ok:     []int{http.StatusOK, http.StatusCreated, http.StatusAlreadyReported, http.StatusConflict},
		status: &status,
	}
	if err := c.do(ctx, r); err != nil {
		return err
	}
	if status != http.StatusConflict {
		return nil
	}
	if err := c.do(ctx, r); err != nil {
		return err
	}
	if status == http.StatusConflict {
		c.log.Warn("sentry: release exists but Sentry reported a conflict twice; its projects may be incomplete", "version", version)
	}
	return nil
}

// CreateDeploy records that release version was deployed to env between
// started and finished; name is shown in Sentry (e.g. the deploy id). Zero
// times and an empty name are left out (Sentry then uses the current time
// for dateFinished). The version is path-escaped.
//
// A deploy retried after an answer was lost may be recorded twice; Sentry
// lists both, which is harmless.
func (c *Client) CreateDeploy(ctx context.Context, org, version, env string, started, finished time.Time, name string) error {
	if org == "" || version == "" || env == "" {
		return errs.New(errs.Invalid, "sentry: creating a deploy needs an organization, a version and an environment")
	}
	body := struct {
		Environment  string `json:"environment"`
		DateStarted  string `json:"dateStarted,omitempty"`
		DateFinished string `json:"dateFinished,omitempty"`
		Name         string `json:"name,omitempty"`
	}{Environment: env, DateStarted: rfc3339(started), DateFinished: rfc3339(finished), Name: name}
	return c.do(ctx, request{
		op:     "create deploy of " + version + " to " + env,
		method: http.MethodPost,
		path:   "/api/0/organizations/" + esc(org) + "/releases/" + esc(version) + "/deploys/",
		body:   body,
		ok:     []int{http.StatusOK, http.StatusCreated, http.StatusAlreadyReported},
	})
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// sentryTime formats t as the events and issues endpoints read start and
// end: ISO 8601 in UTC without a zone, as Sentry's own UI sends them.
func sentryTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05") }

// ErrorCounts returns the number of error events of project (slug) in env
// (empty: every environment) per interval from start to end, oldest first.
// Sentry aligns buckets to multiples of the interval since the Unix epoch,
// fills empty ones with zeros and leaves out the bucket still in progress.
//
// It reads GET /api/0/organizations/{org}/events-stats/ with yAxis=count()
// and query=!event.type:transaction (every error, message and security
// report, as Sentry's errors dataset counts them). Sentry's published
// reference documents two other counters, and neither fits: "Retrieve Event
// Counts for a Project" (/projects/{org}/{project}/stats/) and "Retrieve
// Event Counts for an Organization (v2)" (/organizations/{org}/stats_v2/)
// count ingestion outcomes and cannot filter by environment, so a noisy
// staging would look like a production spike; the first also offers only
// 10s, 1h and 1d resolutions. events-stats is the endpoint Sentry's own
// Discover and dashboards chart with; it filters by project id and
// environment at any interval. Its status in Sentry's API is experimental,
// so the decoding here is strict and a changed shape surfaces as an error
// (which the watch reports as inconclusive, never as a spike).
func (c *Client) ErrorCounts(ctx context.Context, org, project, env string, start, end time.Time, interval time.Duration) ([]Bucket, error) {
	if org == "" || project == "" {
		return nil, errs.New(errs.Invalid, "sentry: counting errors needs an organization and a project")
	}
	if interval < time.Second || !end.After(start) {
		return nil, errs.New(errs.Invalid, "sentry: counting errors needs an interval of at least 1s and a start before the end")
	}
	id, err := c.projectID(ctx, org, project)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Set("project", id)
	if env != "" {
		q.Set("environment", env)
	}
	q.Set("start", sentryTime(start))
	q.Set("end", sentryTime(end))
	q.Set("interval", formatInterval(interval))
	q.Set("yAxis", "count()")
	q.Set("query", "!event.type:transaction")
	var out struct {
		Data []json.RawMessage `json:"data"`
	}
	r := request{
		op:     "count errors of " + project,
		method: http.MethodGet,
		path:   "/api/0/organizations/" + esc(org) + "/events-stats/",
		query:  q,
		out:    &out,
	}
	if err := c.do(ctx, r); err != nil {
		return nil, err
	}
	buckets := make([]Bucket, 0, len(out.Data))
	for i, raw := range out.Data {
		b, err := decodeBucket(raw)
		if err != nil {
			return nil, c.fail(r, &Error{Status: http.StatusOK, Attempts: 1, Err: fmt.Errorf("decode data[%d]: %w", i, err)}, errs.Internal)
		}
		buckets = append(buckets, b)
	}
	slices.SortStableFunc(buckets, func(a, b Bucket) int { return a.Start.Compare(b.Start) })
	// One interval twice would be judged twice, a run of intervals over
	// the bar out of one: a spike from an answer of a shape never seen.
	for i := 1; i < len(buckets); i++ {
		if buckets[i].Start.Equal(buckets[i-1].Start) {
			return nil, c.fail(r, &Error{Status: http.StatusOK, Attempts: 1, Err: fmt.Errorf("decode data: two points at %d", buckets[i].Start.Unix())}, errs.Internal)
		}
	}
	return buckets, nil
}

// decodeBucket reads one point of events-stats: [unixSeconds, [{"count": n}, …]].
func decodeBucket(raw json.RawMessage) (Bucket, error) {
	var pair []json.RawMessage
	if err := json.Unmarshal(raw, &pair); err != nil {
		return Bucket{}, err
	}
	if len(pair) != 2 {
		return Bucket{}, fmt.Errorf("want [time, values], got %d elements", len(pair))
	}
	var ts float64
	if err := json.Unmarshal(pair[0], &ts); err != nil {
		return Bucket{}, fmt.Errorf("time: %w", err)
	}
	var values []struct {
		Count *float64 `json:"count"`
	}
	if err := json.Unmarshal(pair[1], &values); err != nil {
		return Bucket{}, fmt.Errorf("values: %w", err)
	}
	// A point without its count means the answer's shape changed: that
	// is an error, never a quiet interval.
	if len(values) == 0 {
		return Bucket{}, errors.New("values: none")
	}
	var sum float64
	for _, v := range values {
		if v.Count == nil {
			return Bucket{}, errors.New(`values: no "count"`)
		}
		if math.IsNaN(*v.Count) || *v.Count < 0 {
			return Bucket{}, fmt.Errorf("values: count %v", *v.Count)
		}
		sum += *v.Count
	}
	if math.IsNaN(ts) || math.IsInf(ts, 0) || ts < 0 || ts > 1<<40 {
		return Bucket{}, fmt.Errorf("time %v out of range", ts)
	}
	if sum > math.MaxInt32 {
		sum = math.MaxInt32
	}
	sec := int64(ts)
	return Bucket{
		Start: time.Unix(sec, int64((ts-float64(sec))*1e9)).UTC(),
		Count: int(math.Round(sum)),
	}, nil
}

// formatInterval renders d as Sentry's intervals ("1m", "2h", "90s").
func formatInterval(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	default:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
}

// NewIssues returns up to limit issues of project first seen in release
// version, with events in env (empty: every environment), those with the
// most events first. limit ≤ 0 means 10; Sentry caps it at 100. A release
// is one for every env it goes to ({app}@{build} by default): without
// env, the issues staging met in it would be listed as production's.
func (c *Client) NewIssues(ctx context.Context, org, project, env, version string, limit int) ([]Issue, error) {
	if org == "" || project == "" || version == "" {
		return nil, errs.New(errs.Invalid, "sentry: listing new issues needs an organization, a project and a version")
	}
	if limit <= 0 {
		limit = 10
	}
	limit = min(limit, 100)
	id, err := c.projectID(ctx, org, project)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Set("project", id)
	if env != "" {
		q.Set("environment", env)
	}
	q.Set("query", "firstRelease:"+searchValue(version))
	q.Set("sort", "freq")
	q.Set("limit", strconv.Itoa(limit))
	var out []struct {
		ID        flexString `json:"id"`
		ShortID   string     `json:"shortId"`
		Title     string     `json:"title"`
		Permalink string     `json:"permalink"`
		Count     flexInt    `json:"count"`
	}
	if err := c.do(ctx, request{
		op:     "list new issues of " + version,
		method: http.MethodGet,
		path:   "/api/0/organizations/" + esc(org) + "/issues/",
		query:  q,
		out:    &out,
	}); err != nil {
		return nil, err
	}
	issues := make([]Issue, 0, min(len(out), limit))
	for _, o := range out {
		if len(issues) == limit {
			break
		}
		// Quoted in the watch's messages: an issue's title is an
		// exception's message, which may not pass for a command the bot
		// suggests (see suggest).
		issues = append(issues, Issue{ID: string(o.ID), ShortID: suggest.Strip(o.ShortID), Title: suggest.Strip(o.Title),
			Permalink: suggest.Strip(o.Permalink), Count: int(o.Count)})
	}
	return issues, nil
}

// searchValue quotes v for Sentry's search syntax when it holds characters
// the parser would split on.
func searchValue(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\"()[],") {
		return v
	}
	return `"` + strings.ReplaceAll(v, `"`, `\"`) + `"`
}

// projectID returns the numeric id of project (slug) in org, asking Sentry
// once per client.
func (c *Client) projectID(ctx context.Context, org, project string) (string, error) {
	key := org + "/" + project
	c.mu.Lock()
	id, ok := c.projectIDs[key]
	c.mu.Unlock()
	if ok {
		return id, nil
	}
	var out struct {
		ID flexString `json:"id"`
	}
	r := request{
		op:     "look up project " + project,
		method: http.MethodGet,
		path:   "/api/0/projects/" + esc(org) + "/" + esc(project) + "/",
		out:    &out,
	}
	if err := c.do(ctx, r); err != nil {
		return "", err
	}
	if out.ID == "" {
		return "", c.fail(r, &Error{Status: http.StatusOK, Attempts: 1, Err: fmt.Errorf("answer has no project id")}, errs.Internal)
	}
	c.mu.Lock()
	c.projectIDs[key] = string(out.ID)
	c.mu.Unlock()
	return string(out.ID), nil
}

// flexString decodes a JSON string or number (Sentry sends ids as strings,
// some versions as numbers).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*f = ""
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*f = flexString(n.String())
	return nil
}

// flexInt decodes a count sent as a JSON string ("12", Sentry's issue
// count) or number.
type flexInt int

func (f *flexInt) UnmarshalJSON(b []byte) error {
	var s flexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	if s == "" {
		*f = 0
		return nil
	}
	n, err := strconv.ParseFloat(string(s), 64)
	if err != nil {
		return fmt.Errorf("count %q: %w", string(s), err)
	}
	if math.IsNaN(n) || n < 0 {
		n = 0
	}
	*f = flexInt(min(n, math.MaxInt32))
	return nil
}
