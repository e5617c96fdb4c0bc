package redis

import (
	"context"
	"fmt"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
)

// Leases expire by each replica's own clock (see leases.go). A replica
// whose clock runs behind writes leases the others find already run out:
// they take its running deploys over, recovery included, within seconds.
// Its clock is therefore compared with Redis's, the one clock every
// replica shares, and a replica too far from it takes no new lease.

// DefaultMaxClockSkew is Options.MaxClockSkew's default: a quarter of
// the default bot.lease_ttl (30 s).
const DefaultMaxClockSkew = 30 * time.Second / 4

// clockWarnSkew is the skew, under the bound, that is logged once as a
// warning: NTP keeps clocks within milliseconds, so a second means it is
// not running or not reachable.
const clockWarnSkew = time.Second

// clockCheckEvery is how often Acquire and Writable (/healthz) measure the
// skew again.
const clockCheckEvery = time.Minute

// clockState is the last measure of the replica's clock against Redis's.
type clockState struct {
	mu      sync.Mutex
	checked time.Time // by the real clock; zero: never
	skew    time.Duration
	level   int // 0 in sync, 1 warned, 2 refusing
}

// ClockSkew measures how far the store's clock (Options.Now) is ahead of
// Redis's (negative: behind), allowing for the round trip by taking the
// middle of the request, logs a change of state (WARN past a second, ERROR
// past the bound, INFO once back) and returns the skew. The error is
// Redis's, when TIME fails.
func (s *Store) ClockSkew(ctx context.Context) (time.Duration, error) {
	before := s.now()
	rt, err := await(s, ctx, func(rdb *goredis.Client) (time.Time, error) { return rdb.Time(ctx).Result() })
	after := s.now()
	if err != nil {
		return 0, s.fail(ctx, "read the state store's clock", err)
	}
	mid := before.Add(after.Sub(before) / 2)
	skew := mid.Sub(rt)
	s.clock.mu.Lock()
	defer s.clock.mu.Unlock()
	s.clock.checked, s.clock.skew = time.Now(), skew
	level := 0
	switch abs := max(skew, -skew); {
	case s.maxSkew >= 0 && abs > s.maxSkew:
		level = 2
	case abs > clockWarnSkew:
		level = 1
	}
	if level != s.clock.level {
		args := []any{"skew", skew.Round(skewPrecision).String(), "max_skew", s.maxSkew.String(), "redis", s.addr}
		switch level {
		case 2:
			s.log.Error("this replica takes no new deploy, recovery, watch or train lease: "+skewMsg(skew, s.maxSkew), args...)
		case 1:
			s.log.Warn("this replica's clock is "+skewText(skew)+" Redis's: leases expire by each replica's clock; sync it (chrony or ntp)", args...)
		default:
			s.log.Info("this replica's clock is back in sync with Redis's", args...)
		}
		s.clock.level = level
	}
	return skew, nil
}

// skewText is "12.5s behind" or "12.5s ahead of": to a tenth of a
// second, as the measure is no finer than half a round trip to Redis,
// which a busy replica stretches to milliseconds ("39.999s" says more
// than is known).
func skewText(skew time.Duration) string {
	if skew < 0 {
		return (-skew).Round(skewPrecision).String() + " behind"
	}
	return skew.Round(skewPrecision).String() + " ahead of"
}

const skewPrecision = 100 * time.Millisecond

func skewMsg(skew, bound time.Duration) string {
	return fmt.Sprintf("this replica's clock is %s the state store's (Redis TIME), more than the %s allowed: leases expire by each replica's clock, so a lease it took could be taken from it at once, or it could take one still held; sync its clock (chrony or ntp: chronyc tracking, timedatectl) and it takes leases again within a minute", skewText(skew), bound)
}

// clockOK returns an error of code Unavailable while the last measure of
// the clock, taken again when older than clockCheckEvery, is past the
// bound; nil when the check is off. A failure to measure keeps the last
// state: the command that follows meets the same Redis and says so.
func (s *Store) clockOK(ctx context.Context) error {
	if s.maxSkew < 0 {
		return nil
	}
	s.clock.mu.Lock()
	stale := s.clock.checked.IsZero() || time.Since(s.clock.checked) >= clockCheckEvery
	s.clock.mu.Unlock()
	if stale {
		s.ClockSkew(ctx)
	}
	s.clock.mu.Lock()
	defer s.clock.mu.Unlock()
	if s.clock.level == 2 {
		return &errs.Error{Code: errs.Unavailable, Msg: skewMsg(s.clock.skew, s.maxSkew), Err: deploy.ErrClockSkew}
	}
	return nil
}
