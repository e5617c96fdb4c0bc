package redis

import goredis "github.com/redis/go-redis/v9"

// FenceRetention is how long the fence of a run's lease outlives the
// lease.
const FenceRetention = fenceRetention

// client is the client of the store's first lane, for a test to send
// commands of its own.
func (s *Store) client() *goredis.Client { return s.lanes[0].rdb }

// eachClient calls f with the client of every lane.
func (s *Store) eachClient(f func(*goredis.Client)) {
	for _, l := range s.lanes {
		f(l.rdb)
	}
}
