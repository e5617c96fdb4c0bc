package ssh

import (
	"context"
	"fmt"
	"net"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// Dial connects to addr ("tcp" host:port, or a "unix" socket path) as seen
// from host, through an SSH connection to host: how the bot reaches a load
// balancer's admin socket that only listens on the balancer itself. The
// SSH connection closes with the returned conn.
func (t *Transport) Dial(ctx context.Context, host deploy.Host, network, addr string) (net.Conn, error) {
	s, err := t.Open(ctx, host)
	if err != nil {
		return nil, err
	}
	sess := s.(*session)
	conn, err := sess.client.DialContext(ctx, network, addr)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("ssh: %s: dial %s %s: %w", sess.name, network, addr, err)
	}
	return &tunnel{Conn: conn, s: s}, nil
}

// tunnel is a connection forwarded over an SSH connection of its own.
type tunnel struct {
	net.Conn
	s deploy.Session
}

func (c *tunnel) Close() error {
	err := c.Conn.Close()
	if serr := c.s.Close(); err == nil {
		err = serr
	}
	return err
}
