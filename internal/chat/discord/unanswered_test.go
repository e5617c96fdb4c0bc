package discord

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
)

// brokenWriter is a ResponseWriter on a connection that fails: Write or
// Flush returns its error, as net/http's do once a write to the socket
// failed.
type brokenWriter struct {
	*httptest.ResponseRecorder
	writeErr, flushErr error
}

func (b brokenWriter) Write(p []byte) (int, error) {
	if b.writeErr != nil {
		return 0, b.writeErr
	}
	return b.ResponseRecorder.Write(p)
}

func (b brokenWriter) FlushError() error {
	if b.flushErr != nil {
		return b.flushErr
	}
	b.ResponseRecorder.Flush()
	return nil
}

// unflushable is a ResponseWriter that cannot flush: the response leaves
// when ServeHTTP returns.
type unflushable struct{ rec *httptest.ResponseRecorder }

func (u unflushable) Header() http.Header         { return u.rec.Header() }
func (u unflushable) Write(p []byte) (int, error) { return u.rec.Write(p) }
func (u unflushable) WriteHeader(code int)        { u.rec.WriteHeader(code) }

// hangUpDedupe is a duplicate check during which Discord gives up on the
// request: hangUp closes its connection and ends the request's context,
// as the server does once it notices (see postOver). The store is well,
// but like a store's client it fails a call whose own context has ended.
type hangUpDedupe struct{ hangUp func() }

func (d *hangUpDedupe) SetOnce(ctx context.Context, _ string, _ time.Duration) (bool, error) {
	d.hangUp()
	if err := ctx.Err(); err != nil {
		return false, err
	}
	return true, nil
}

// postOver sends payload, signed, to the endpoint served by a real HTTP
// server, and returns the response or the client's error.
func (hs *harness) postOver(t *testing.T, ctx context.Context, payload any) (*http.Response, []byte, error) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d, ok := hs.options.Dedupe.(*hangUpDedupe); ok {
			// The request's context ends with the hang-up, not whenever
			// the server happens to notice it.
			ctx, cancel := context.WithCancel(r.Context())
			defer cancel()
			hangUp := d.hangUp
			d.hangUp = func() { hangUp(); cancel() }
			r = r.WithContext(ctx)
		}
		hs.a.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	// Errors are returned, not fatal: it may run in a goroutine of its
	// own.
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, nil, err
	}
	sig, ts := hs.sign(body, hs.clock.Now())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/discord/interactions", bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set(headerSignature, sig)
	req.Header.Set(headerTimestamp, ts)
	resp, err := srv.Client().Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		return resp, nil, err
	}
	return resp, b.Bytes(), nil
}

// TestResponseNotWritten: at the endpoint, as over the gateway, a command
// whose deferred response did not reach Discord (a write or flush on the
// connection failed, or Discord hung up before it was written) is not
// run: its sender sees "This interaction failed" and may well try again.
// It is audited as refused, and the "thinking…" Discord shows should it
// have got the response after all is replaced by a notice. A hang-up
// during the duplicate check is no failure of the state store, which
// answered: the refusal says Discord did not take the response, not
// "state store unreachable". A writer that cannot flush says nothing about
// the connection: the command runs.
func TestResponseNotWritten(t *testing.T) {
	errConn := &net.OpError{Op: "write", Net: "tcp", Err: syscall.EPIPE}
	for _, tt := range []struct {
		name   string
		hangUp bool // the duplicate check is a hangUpDedupe
		send   func(t *testing.T, hs *harness, payload any)
		runs   bool // the command runs
	}{
		{name: "write failed", send: func(t *testing.T, hs *harness, payload any) {
			hs.serveSigned(t, brokenWriter{ResponseRecorder: httptest.NewRecorder(), writeErr: errConn}, payload)
		}},
		{name: "flush failed", send: func(t *testing.T, hs *harness, payload any) {
			hs.serveSigned(t, brokenWriter{ResponseRecorder: httptest.NewRecorder(), flushErr: errConn}, payload)
		}},
		{name: "Discord hung up first", hangUp: true, send: func(t *testing.T, hs *harness, payload any) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var clientErr error
			clientDone := make(chan struct{})
			hs.options.Dedupe.(*hangUpDedupe).hangUp = func() {
				cancel()
				// Discord has gone before anything is written back: the
				// empty 200 the server sends once the handler returns
				// must not reach a client still waiting for it.
				<-clientDone
			}
			go func() {
				defer close(clientDone)
				_, _, clientErr = hs.postOver(t, ctx, payload)
			}()
			<-clientDone
			if !errors.Is(clientErr, context.Canceled) {
				t.Errorf("client: %v, want the request cancelled", clientErr)
			}
		}},
		{name: "cannot flush", runs: true, send: func(t *testing.T, hs *harness, payload any) {
			rec := httptest.NewRecorder()
			hs.serveSigned(t, unflushable{rec}, payload)
			responseOf(t, rec)
		}},
		{name: "over a connection", runs: true, send: func(t *testing.T, hs *harness, payload any) {
			resp, body, err := hs.postOver(t, context.Background(), payload)
			if err != nil {
				t.Fatalf("client: %v", err)
			}
			// With its length, the response is whole once flushed, not
			// when a chunked body ends after ServeHTTP returns.
			if resp.StatusCode != http.StatusOK || resp.ContentLength != int64(len(body)) || len(resp.TransferEncoding) > 0 {
				t.Errorf("response %d, length %d, transfer encoding %v, body %q; want 200 with a Content-Length of %d",
					resp.StatusCode, resp.ContentLength, resp.TransferEncoding, body, len(body))
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := &fakeHandler{fn: func(_ context.Context, _ commands.Request, out commands.Output) commands.Outcome {
				out.Reply(chat.Message{Level: chat.Info, Title: "You are ana (discord)"})
				return commands.Outcome{}
			}}
			hs := newHarness(t, h, func(o *Options) {
				if tt.hangUp {
					o.Dedupe = &hangUpDedupe{}
				}
			})
			payload := slashCommand("631", "111", "whoami")
			tt.send(t, hs, payload)
			if tt.runs {
				h.waitOut(t, 1)
			} else {
				waitFor(t, "the refusal audited", func() bool { return len(h.Audited()) > 0 || len(h.Requests()) > 0 })
			}
			hs.shutdown(t)

			reqs, audited := h.Requests(), h.Audited()
			if tt.runs {
				if len(reqs) != 1 || reqs[0].Text != "whoami" || len(audited) != 0 {
					t.Errorf("requests %+v, audited %+v; want whoami run and nothing refused", reqs, audited)
				}
				return
			}
			if len(reqs) != 0 {
				t.Errorf("requests %+v, want none: Discord did not get the response", reqs)
			}
			if len(audited) != 1 || audited[0].User != "ana" || audited[0].Platform != Platform || audited[0].Channel != testChannel ||
				audited[0].Text != "whoami" || audited[0].Refused != reasonUnanswered || audited[0].RefusedFor != commands.RefusalUnavailable {
				t.Errorf("audited %+v, want ana's whoami refused saying %q, counted as unavailable", audited, reasonUnanswered)
			}
			edit := "PATCH /api/v9/webhooks/" + testAppID + "/" + interactionToken("631") + "/messages/@original"
			calls := hs.fd.Calls()
			if len(calls) != 1 || calls[0].Method+" "+calls[0].Path != edit || !strings.Contains(string(calls[0].Body), noticeUnanswered) {
				t.Errorf("calls %s, want one edit of the response saying %q", transcript(t, calls), noticeUnanswered)
			}
		})
	}
}

// serveSigned hands payload, signed, to the endpoint, which answers
// through w.
func (hs *harness) serveSigned(t *testing.T, w http.ResponseWriter, payload any) {
	t.Helper()
	body, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	sig, ts := hs.sign(body, hs.clock.Now())
	hs.serve(w, body, sig, ts)
}
