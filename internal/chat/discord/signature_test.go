package discord

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/ratelog"
)

func TestNewRejectsMalformedPublicKey(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	good := hex.EncodeToString(pub)
	tests := []struct {
		name, key string
		wantErr   bool
	}{
		{"valid", good, false},
		{"valid upper case", strings.ToUpper(good), false},
		{"empty", "", true},
		{"short", good[:62], true},
		{"odd length", good[:63], true},
		{"long", good + "00", true},
		{"not hex", strings.Repeat("zz", 32), true},
		{"base64 instead of hex", "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=", true},
		{"spaces", " " + good[1:], true},
		// Points of small order: each verifies a signature nobody made
		// (see forgeable), so anyone could send commands as anyone.
		{"all zero, a placeholder", strings.Repeat("00", 32), true},
		{"identity", "01" + strings.Repeat("00", 31), true},
		{"order 2", "ec" + strings.Repeat("ff", 30) + "7f", true},
		{"order 4 with the sign bit", strings.Repeat("00", 31) + "80", true},
		{"order 8", "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", true},
		{"order 8 with the sign bit", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", true},
		{"zero, not canonical", "ed" + strings.Repeat("ff", 30) + "7f", true},
		{"identity, not canonical", "ee" + strings.Repeat("ff", 30) + "7f", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(Options{PublicKey: tt.key, ApplicationID: testAppID, Handler: &fakeHandler{}})
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("New error = %v, want error %v", err, tt.wantErr)
			}
			if a != nil {
				t.Cleanup(func() { a.cancel() })
			}
			if err != nil && strings.Contains(err.Error(), strings.ToLower(tt.key)) && tt.key != "" {
				t.Errorf("New error = %v, want the key not quoted", err)
			}
		})
	}
}

// TestSmallOrderKeysAdmitForgeries shows why New refuses those keys: with
// one of them, an interaction signed by nobody passes the endpoint's
// check and its command runs.
func TestSmallOrderKeysAdmitForgeries(t *testing.T) {
	for _, key := range []string{
		strings.Repeat("00", 32),
		"01" + strings.Repeat("00", 31),
		"ec" + strings.Repeat("ff", 30) + "7f",
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
		"ed" + strings.Repeat("ff", 30) + "7f",
		"ee" + strings.Repeat("ff", 30) + "7f",
	} {
		t.Run(key[:8], func(t *testing.T) {
			pub, _ := hex.DecodeString(key)
			a := &Adapter{pub: pub, now: time.Now}
			body, sig, ts := forgeable(t, pub)
			if err := a.verify(sig, ts, body); err != nil {
				t.Fatalf("a forged signature with public key %s: got %v, want it to verify (else the key needs no refusing)", key, err)
			}
		})
	}
}

// forgeable returns an interaction body, a signature and a timestamp
// that pub verifies, made without any private key: R a point of small
// order and S zero. It fails t if it finds none.
func forgeable(t *testing.T, pub ed25519.PublicKey) (body []byte, sig, ts string) {
	t.Helper()
	small := []string{
		"01" + strings.Repeat("00", 31), "ec" + strings.Repeat("ff", 30) + "7f",
		strings.Repeat("00", 32), strings.Repeat("00", 31) + "80",
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
	}
	ts = strconv.FormatInt(time.Now().Unix(), 10)
	for i := range 64 {
		body = []byte(`{"id":"` + strconv.Itoa(i) + `","type":2,"data":{"name":"deploy"},"member":{"user":{"id":"1"}}}`)
		for _, r := range small {
			sig = r + strings.Repeat("00", 32)
			raw, _ := hex.DecodeString(sig)
			if ed25519.Verify(pub, append([]byte(ts), body...), raw) {
				return body, sig, ts
			}
		}
	}
	t.Fatalf("no forged signature found for %x", pub)
	return nil, "", ""
}

func TestNewRequiresApplicationAndHandler(t *testing.T) {
	key := strings.Repeat("ab", 32)
	for name, opt := range map[string]Options{
		"no application id": {PublicKey: key, Handler: &fakeHandler{}},
		"no handler":        {PublicKey: key, ApplicationID: testAppID},
		"bad API URL":       {PublicKey: key, ApplicationID: testAppID, Handler: &fakeHandler{}, APIURL: "ftp://x"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := New(opt); err == nil {
				t.Fatal("New succeeded, want an error")
			}
		})
	}
}

func TestSignature(t *testing.T) {
	hs := newHarness(t, nil, nil)
	_, otherKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"id":"1","application_id":"` + testAppID + `","type":1,"token":"x","version":1}`)
	now := hs.clock.Now()
	validSig, validTS := hs.sign(body, now)
	tests := []struct {
		name     string
		body     []byte
		sig, ts  string
		wantCode int
	}{
		{"valid", body, validSig, validTS, http.StatusOK},
		{"valid, upper-case hex", body, strings.ToUpper(validSig), validTS, http.StatusOK},
		{"valid, 4m59s old", body, sigAt(hs, body, now.Add(-299*time.Second)), tsAt(now.Add(-299 * time.Second)), http.StatusOK},
		{"valid, 4m59s ahead", body, sigAt(hs, body, now.Add(299*time.Second)), tsAt(now.Add(299 * time.Second)), http.StatusOK},
		{"wrong key", body, hex.EncodeToString(ed25519.Sign(otherKey, append([]byte(validTS), body...))), validTS, http.StatusUnauthorized},
		{"stale timestamp", body, sigAt(hs, body, now.Add(-301*time.Second)), tsAt(now.Add(-301 * time.Second)), http.StatusUnauthorized},
		{"future timestamp", body, sigAt(hs, body, now.Add(301*time.Second)), tsAt(now.Add(301 * time.Second)), http.StatusUnauthorized},
		{"timestamp changed", body, validSig, tsAt(now.Add(time.Second)), http.StatusUnauthorized},
		{"body changed by one byte", append(append([]byte(nil), body[:len(body)-2]...), '2', '}'), validSig, validTS, http.StatusUnauthorized},
		{"body with a byte more", append(append([]byte(nil), body...), ' '), validSig, validTS, http.StatusUnauthorized},
		{"missing signature", body, "", validTS, http.StatusUnauthorized},
		{"missing timestamp", body, validSig, "", http.StatusUnauthorized},
		{"missing both", body, "", "", http.StatusUnauthorized},
		{"signature too short", body, validSig[:126], validTS, http.StatusUnauthorized},
		{"signature too long", body, validSig + "00", validTS, http.StatusUnauthorized},
		{"signature of odd length", body, validSig[:127], validTS, http.StatusUnauthorized},
		{"signature not hex", body, strings.Repeat("zz", 64), validTS, http.StatusUnauthorized},
		{"signature all zero", body, strings.Repeat("0", 128), validTS, http.StatusUnauthorized},
		{"timestamp not a number", body, validSig, "yesterday", http.StatusUnauthorized},
		{"timestamp negative", body, validSig, "-1", http.StatusUnauthorized},
		{"timestamp huge", body, validSig, "99999999999999999999", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := hs.postRaw(tt.body, tt.sig, tt.ts)
			if w.Code != tt.wantCode {
				t.Fatalf("status %d, want %d; body %q", w.Code, tt.wantCode, w.Body.String())
			}
			if tt.wantCode == http.StatusUnauthorized && w.Body.String() != "invalid request signature\n" {
				t.Errorf("body %q, want %q", w.Body.String(), "invalid request signature\n")
			}
			if tt.sig != "" && strings.Contains(hs.logs.String(), tt.sig) {
				t.Errorf("the logs hold the signature")
			}
		})
	}
	if calls := hs.fd.Calls(); len(calls) != 0 {
		t.Errorf("REST calls %v, want none", calls)
	}
}

func sigAt(hs *harness, body []byte, at time.Time) string {
	sig, _ := hs.sign(body, at)
	return sig
}

func tsAt(at time.Time) string { return strconv.FormatInt(at.Unix(), 10) }

func TestEndpointRefusesOtherMethodsAndLargeBodies(t *testing.T) {
	hs := newHarness(t, nil, nil)
	w := httptest.NewRecorder()
	hs.a.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/discord/interactions", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: status %d, want 405", w.Code)
	}
	big := []byte(`{"type":1,"pad":"` + strings.Repeat("x", MaxBody) + `"}`)
	sig, ts := hs.sign(big, hs.clock.Now())
	if w := hs.postRaw(big, sig, ts); w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("%d-byte body: status %d, want 413", len(big), w.Code)
	}
}

func TestPingPong(t *testing.T) {
	hs := newHarness(t, nil, nil)
	w := hs.post(t, map[string]any{"id": "1", "application_id": testAppID, "type": 1, "token": "x", "version": 1})
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, want 200", w.Code)
	}
	if got, want := w.Body.String(), `{"type":1}`; got != want {
		t.Errorf("body %s, want %s", got, want)
	}
	if got := w.Header().Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type %q, want application/json", got)
	}
}

// TestRefusalLogLimited: interactions refused for their signature, which
// anyone can send, are each answered 401, but logged at most once per
// RefusalLog.Every (the adapter's own limiter on its clock by default):
// the first at once, the next with the count of those held back.
func TestRefusalLogLimited(t *testing.T) {
	hs := newHarness(t, nil, nil)
	body := []byte(`{"id":"1","application_id":"` + testAppID + `","type":1,"token":"x","version":1}`)
	for i := range 25 {
		if w := hs.postRaw(body, strings.Repeat("0", 128), tsAt(hs.clock.Now())); w.Code != http.StatusUnauthorized {
			t.Fatalf("request %d: got %d, want 401", i, w.Code)
		}
	}
	if n := strings.Count(hs.logs.String(), "discord interaction refused"); n != 1 {
		t.Errorf("25 refusals at once: got %d log lines, want 1:\n%s", n, hs.logs.String())
	}
	hs.clock.Advance(ratelog.DefaultEvery)
	hs.postRaw(body, strings.Repeat("0", 128), tsAt(hs.clock.Now()))
	if got := hs.logs.String(); strings.Count(got, "discord interaction refused") != 2 || !strings.Contains(got, "suppressed=24") {
		t.Errorf("%v later: got %q, want a second line saying 24 were suppressed", ratelog.DefaultEvery, got)
	}
}

// countingBody counts the bytes read of a request body.
type countingBody struct {
	r    io.Reader
	read int
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read += n
	return n, err
}

func (b *countingBody) Close() error { return nil }

// TestRefusedFromTheHeadersUnread: what the headers alone refuse (no
// signature, a stale timestamp, a Content-Length over MaxBody) is refused
// before a byte of the body is read: anyone can send such requests, and
// each would otherwise make the bot read up to MaxBody for nothing.
func TestRefusedFromTheHeadersUnread(t *testing.T) {
	hs := newHarness(t, nil, nil)
	body := []byte(`{"id":"1","application_id":"` + testAppID + `","type":1,"token":"x","version":1}`)
	big := []byte(`{"type":1,"pad":"` + strings.Repeat("x", MaxBody) + `"}`)
	now := hs.clock.Now()
	validSig, validTS := hs.sign(body, now)
	bigSig, bigTS := hs.sign(big, now)
	tests := []struct {
		name    string
		body    []byte
		sig, ts string
		code    int
	}{
		{"unsigned", body, "", "", http.StatusUnauthorized},
		{"signature without a timestamp", body, validSig, "", http.StatusUnauthorized},
		{"stale timestamp", body, sigAt(hs, body, now.Add(-301*time.Second)), tsAt(now.Add(-301 * time.Second)), http.StatusUnauthorized},
		{"signature not hex", body, strings.Repeat("zz", 64), validTS, http.StatusUnauthorized},
		{"Content-Length over MaxBody", big, bigSig, bigTS, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cb := &countingBody{r: bytes.NewReader(tt.body)}
			r := httptest.NewRequest(http.MethodPost, "/discord/interactions", nil)
			r.Body, r.ContentLength = cb, int64(len(tt.body))
			if tt.sig != "" {
				r.Header.Set(headerSignature, tt.sig)
			}
			if tt.ts != "" {
				r.Header.Set(headerTimestamp, tt.ts)
			}
			w := httptest.NewRecorder()
			hs.a.ServeHTTP(w, r)
			if w.Code != tt.code {
				t.Errorf("status: got %d, want %d (body %q)", w.Code, tt.code, w.Body.String())
			}
			if cb.read != 0 {
				t.Errorf("body bytes read: got %d, want 0", cb.read)
			}
		})
	}
	if calls := hs.fd.Calls(); len(calls) != 0 {
		t.Errorf("REST calls %v, want none", calls)
	}
}

// TestBodyOverTheLimitIsLogged: a body over MaxBody is refused 413 and
// logged (within the refusal log's limit) whether its Content-Length
// says so or it comes without one (chunked) and is cut off as it is read.
func TestBodyOverTheLimitIsLogged(t *testing.T) {
	big := []byte(`{"type":1,"pad":"` + strings.Repeat("x", MaxBody) + `"}`)
	tests := []struct {
		name    string
		chunked bool
	}{
		{"with Content-Length", false},
		{"chunked", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(t, nil, nil)
			srv := httptest.NewServer(hs.a)
			t.Cleanup(srv.Close)
			sig, ts := hs.sign(big, hs.clock.Now())
			var body io.Reader = bytes.NewReader(big)
			if tt.chunked {
				body = io.MultiReader(bytes.NewReader(big)) // no length known: sent chunked
			}
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/discord/interactions", body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set(headerSignature, sig)
			req.Header.Set(headerTimestamp, ts)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if tt.chunked != (req.ContentLength == 0) {
				t.Fatalf("request Content-Length %d: got chunked %v, want %v", req.ContentLength, !tt.chunked, tt.chunked)
			}
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("status: got %d, want 413", resp.StatusCode)
			}
			if logs := hs.logs.String(); !strings.Contains(logs, "discord interaction refused") || !strings.Contains(logs, "body larger than the limit") {
				t.Errorf("logs: got %q, want a refusal naming the body over the limit", logs)
			}
		})
	}
}
