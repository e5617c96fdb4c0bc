package redis_test

import (
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
)

// TestForgottenTokenSetsNothing: a SetOnceToken that Redis runs after
// ForgetOnce of its token (its request was delayed) sets nothing and
// answers false, and the mark stops that token alone: the key stays new
// to any other call, and another key is untouched.
func TestForgottenTokenSetsNothing(t *testing.T) {
	srv := redisserver.Start(t)
	const ttl = 10 * time.Minute
	// A step sets key with token (SetOnce when token is ""), or forgets
	// key with token.
	type step struct {
		forget     bool
		key, token string
		want       bool // of a set
	}
	set := func(key, token string, want bool) step { return step{key: key, token: token, want: want} }
	forget := func(key, token string) step { return step{forget: true, key: key, token: token} }
	const k = "sentry-webhook:1"
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"set after its forget", []step{forget(k, "a"), set(k, "a", false), set(k, "b", true), set(k, "", false)}},
		{"set after its forget, twice", []step{forget(k, "a"), set(k, "a", false), set(k, "a", false), set(k, "", true)}},
		{"own key forgotten, then the call sent again", []step{set(k, "a", true), forget(k, "a"), set(k, "a", false), set(k, "b", true)}},
		{"another's key kept", []step{set(k, "b", true), forget(k, "a"), set(k, "a", false), set(k, "", false)}},
		{"forgotten after the resend took the key", []step{forget(k, "a"), set(k, "b", true), set(k, "a", false), forget(k, "a"), set(k, "", false)}},
		{"plain SetOnce after a forget", []step{forget(k, "a"), set(k, "", true)}},
		{"same token, another key", []step{forget(k, "a"), set("sentry-webhook:2", "a", true)}},
		{"key and token that join alike", []step{forget("k", "a:b"), set("k:a", "b", true), forget("k:a", "c"), set("k", "a:c", true)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t, redis.Options{URL: srv.URL(), Prefix: newPrefix()})
			for i, st := range tc.steps {
				if st.forget {
					if err := s.ForgetOnce(t.Context(), st.key, st.token); err != nil {
						t.Fatalf("step %d: ForgetOnce(%q, %q): %v", i, st.key, st.token, err)
					}
					continue
				}
				var got bool
				var err error
				if st.token == "" {
					got, err = s.SetOnce(t.Context(), st.key, ttl)
				} else {
					got, err = s.SetOnceToken(t.Context(), st.key, st.token, ttl)
				}
				if err != nil {
					t.Fatalf("step %d: set %q with token %q: %v", i, st.key, st.token, err)
				}
				if got != st.want {
					t.Errorf("step %d: set %q with token %q: got %v, want %v", i, st.key, st.token, got, st.want)
				}
			}
		})
	}
}
