package discord

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"
)

// gatewayOpenTimeout bounds one try to open the gateway: the dial, the
// websocket handshake, Discord's Hello and its READY. discordgo reads
// those with no deadline of its own, holding the session's lock, so a
// gateway that took the connection and never wrote would hold the try,
// and the bot's stop with it, for good.
const gatewayOpenTimeout = 30 * time.Second

// gatewayOpen ends the connection of an Open under way once its try
// runs out of time or the bot stops: discordgo's Open takes no context,
// and a closed connection is the one thing that ends its reads. So does
// it end Open's request for the gateway's URL (see transport). It is
// safe for concurrent use.
type gatewayOpen struct {
	bound time.Duration

	mu sync.Mutex
	// ctx is the try under way; nil between tries (and for an Open
	// not made by try, which is then bound by nothing here).
	ctx context.Context
	// disarm stops the close of each connection the try dialled.
	disarm []func() bool
	// dialled is the connection the try under way dialled; open, the
	// one of the last try that opened the gateway (nil before one has).
	dialled, open *gatewayConn
}

// gatewayConn is a connection to the gateway that knows whether it was
// closed: by discordgo, as it reports a loss, or by its try.
type gatewayConn struct {
	net.Conn
	closed atomic.Bool
}

func (c *gatewayConn) Close() error {
	c.closed.Store(true)
	return c.Conn.Close()
}

// closed reports whether the connection the gateway was last opened with
// has been closed since, or none was: the one thing a report of a loss
// does not say is of which connection it is (see RunGateway).
func (g *gatewayOpen) closed() bool {
	g.mu.Lock()
	c := g.open
	g.mu.Unlock()
	return c == nil || c.closed.Load()
}

// dialer returns the websocket dialer whose connections the tries end.
func (g *gatewayOpen) dialer() *websocket.Dialer {
	return &websocket.Dialer{
		Proxy:            http.ProxyFromEnvironment,
		HandshakeTimeout: websocket.DefaultDialer.HandshakeTimeout,
		NetDialContext:   g.dial,
	}
}

// try runs open, closing the connection it dials if ctx ends or g.bound
// passes before open returns.
func (g *gatewayOpen) try(ctx context.Context, open func() error) error {
	tctx, cancel := context.WithTimeout(ctx, g.bound)
	defer cancel()
	g.mu.Lock()
	g.ctx = tctx
	g.mu.Unlock()
	err := open()
	g.mu.Lock()
	// Disarmed before cancel: an open connection must outlive its try.
	for _, stop := range g.disarm {
		stop()
	}
	if err == nil && g.dialled != nil {
		// Not on an Open that found the gateway open already, which
		// dialled nothing: the connection open is then the one before.
		g.open = g.dialled
	}
	g.ctx, g.disarm, g.dialled = nil, nil, nil
	g.mu.Unlock()
	return err
}

// transport returns base with the request for the gateway's URL bound to
// the try under way: discordgo's Open makes it, when it has no URL from
// before, with no context, so that only the HTTP client's timeout, if
// it has one, would end it. Other requests, and one made outside a try,
// pass as they are.
func (g *gatewayOpen) transport(base http.RoundTripper) http.RoundTripper {
	return gatewayURLTransport{base: base, g: g}
}

type gatewayURLTransport struct {
	base http.RoundTripper
	g    *gatewayOpen
}

func (t gatewayURLTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme+"://"+r.URL.Host+r.URL.Path != discordgo.EndpointGateway {
		return t.base.RoundTrip(r)
	}
	t.g.mu.Lock()
	tctx := t.g.ctx
	t.g.mu.Unlock()
	if tctx == nil {
		return t.base.RoundTrip(r)
	}
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(tctx, cancel)
	end := func() {
		stop()
		cancel()
	}
	resp, err := t.base.RoundTrip(r.WithContext(ctx))
	if err != nil {
		end()
		return nil, err
	}
	// The body is read once RoundTrip has returned: the request's
	// context lasts until it is closed.
	resp.Body = endingBody{ReadCloser: resp.Body, end: end}
	return resp, nil
}

// endingBody is a response body that runs end once it is closed.
type endingBody struct {
	io.ReadCloser
	end func()
}

func (b endingBody) Close() error {
	err := b.ReadCloser.Close()
	b.end()
	return err
}

func (g *gatewayOpen) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	g.mu.Lock()
	tctx := g.ctx
	g.mu.Unlock()
	if tctx == nil {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	dctx, cancel := context.WithCancel(ctx)
	defer context.AfterFunc(tctx, cancel)()
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(dctx, network, addr)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ctx != tctx {
		// The try returned while this dial ran (discordgo does not
		// dial once Open has returned, so this is no connection of it).
		c.Close()
		return nil, context.Canceled
	}
	gc := &gatewayConn{Conn: c}
	g.dialled = gc
	g.disarm = append(g.disarm, context.AfterFunc(tctx, func() { gc.Close() }))
	return gc, nil
}
