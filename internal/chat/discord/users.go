package discord

import (
	"fmt"
	"slices"

	"github.com/switchman-bot/switchman/internal/config"
)

// UserMap returns Options.Users from the configured users: Discord user
// id → Switchman user name. It fails when two users claim one Discord id,
// which would make the id act as whichever came first.
func UserMap(users map[string]config.User) (map[string]string, error) {
	names := make([]string, 0, len(users))
	for name := range users {
		names = append(names, name)
	}
	slices.Sort(names)
	m := map[string]string{}
	for _, name := range names {
		id := users[name].Discord
		if id == "" {
			continue
		}
		if other, dup := m[id]; dup {
			return nil, fmt.Errorf("discord user %s belongs to both %s and %s", id, other, name)
		}
		m[id] = name
	}
	return m, nil
}
