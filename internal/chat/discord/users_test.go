package discord

import (
	"maps"
	"testing"

	"github.com/switchman-bot/switchman/internal/config"
)

func TestUserMap(t *testing.T) {
	got, err := UserMap(map[string]config.User{
		"ana": {Discord: "111", Slack: "U1"},
		"bob": {Discord: "222"},
		"cy":  {Slack: "U3"},
	})
	if want := map[string]string{"111": "ana", "222": "bob"}; err != nil || !maps.Equal(got, want) {
		t.Errorf("UserMap = %v, %v; want %v", got, err, want)
	}
	if _, err := UserMap(map[string]config.User{"ana": {Discord: "111"}, "eve": {Discord: "111"}}); err == nil {
		t.Error("UserMap accepted one Discord id for two users")
	}
}
