package slack

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxClockSkew is how far a request's timestamp may be from the bot's
// clock, in either direction, before the request is refused as a replay.
const MaxClockSkew = 5 * time.Minute

// Why a request was refused. The messages are logged; none of them holds
// the signature or the secret.
var (
	errNoSignature  = errors.New("missing X-Slack-Signature or X-Slack-Request-Timestamp header")
	errBadTimestamp = errors.New("malformed X-Slack-Request-Timestamp")
	errSkew         = errors.New("timestamp more than 5 minutes away from now")
	errBadFormat    = errors.New("malformed X-Slack-Signature (want v0=<hex>)")
	errMismatch     = errors.New("signature does not match the body")
	errNoSecret     = errors.New("no signing secret configured (socket mode), so no request can be verified")
)

// verifier checks Slack's v0 request signatures: HMAC-SHA256, keyed with
// the signing secret, of "v0:" + timestamp + ":" + raw body.
type verifier struct {
	secret []byte
	now    func() time.Time
}

// verify returns nil if body, with the headers h, was signed by Slack in
// the last five minutes (or, allowing for clock skew, the next five).
func (v verifier) verify(h http.Header, body []byte) error {
	if err := v.checkHeaders(h); err != nil {
		return err
	}
	got, _ := hex.DecodeString(strings.TrimPrefix(h.Get("X-Slack-Signature"), "v0="))
	if !hmac.Equal(got, sign(v.secret, h.Get("X-Slack-Request-Timestamp"), body)) {
		return errMismatch
	}
	return nil
}

// checkHeaders is what verify checks without the body: a secret to check
// with, both headers, a fresh timestamp and a well-formed signature. A
// request that fails it is refused before its body is read, which anyone
// could otherwise make the bot read, up to the limit, for nothing.
func (v verifier) checkHeaders(h http.Header) error {
	if len(v.secret) == 0 {
		return errNoSecret // an empty key would verify anyone's signature
	}
	ts, sig := h.Get("X-Slack-Request-Timestamp"), h.Get("X-Slack-Signature")
	if ts == "" || sig == "" {
		return errNoSignature
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || secs <= 0 {
		return errBadTimestamp
	}
	if d := v.now().Sub(time.Unix(secs, 0)); d > MaxClockSkew || d < -MaxClockSkew {
		return errSkew
	}
	hexSig, ok := strings.CutPrefix(sig, "v0=")
	if !ok {
		return errBadFormat
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return errBadFormat
	}
	return nil
}

// sign returns the raw v0 signature of body sent at timestamp ts.
func sign(secret []byte, ts string, body []byte) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	return mac.Sum(nil)
}

// Sign returns the X-Slack-Signature header value Slack would send for
// body at timestamp ts (Unix seconds as text). Tests and local tools use
// it to speak to the bot as Slack does.
func Sign(secret, ts string, body []byte) string {
	return "v0=" + hex.EncodeToString(sign([]byte(secret), ts, body))
}
