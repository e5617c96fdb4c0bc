package discord

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// TestGatewayURLFollowsTheContext: discordgo asks Discord's REST API for
// the gateway's URL as it opens the gateway, with no context of its own.
// A bot told to stop while Discord has not answered stops at once, the
// request given up, rather than once the HTTP client's timeout has
// passed: the client here has none, so only the context can end it.
func TestGatewayURLFollowsTheContext(t *testing.T) {
	var once sync.Once
	asked := make(chan struct{})
	gone := make(chan struct{})
	release := make(chan struct{})
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v9/gateway" {
			http.NotFound(w, r)
			return
		}
		once.Do(func() { close(asked) })
		select {
		case <-r.Context().Done():
			close(gone)
		case <-release:
		}
	}))
	t.Cleanup(api.Close)
	// Before api.Close, which waits for the request: a bot that does not
	// give it up is answered, once the test has failed.
	t.Cleanup(func() { close(release) })
	hs := newHarness(t, nil, func(o *Options) {
		o.HTTPClient = &http.Client{Transport: routeTransport{to: api.Listener.Addr().String()}}
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- hs.a.RunGateway(ctx) }()
	waitFor(t, "the request for the gateway's URL", func() bool {
		select {
		case <-asked:
			return true
		default:
			return false
		}
	})
	cancel()
	waitGateway(t, done)
	waitFor(t, "the request for the gateway's URL to be given up", func() bool {
		select {
		case <-gone:
			return true
		default:
			return false
		}
	})
}
