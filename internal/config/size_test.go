package config_test

import (
	"testing"

	"github.com/switchman-bot/switchman/internal/config"
)

func TestParseSize(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"512", 512, true},
		{"20GiB", 20 << 30, true},
		{"20 GiB", 20 << 30, true},
		{"500MB", 500e6, true},
		{"1KiB", 1024, true},
		{"3TB", 3e12, true},
		{"7B", 7, true},
		{"-1GiB", 0, false},
		{"1.5GiB", 0, false},
		{"GiB", 0, false},
		{"20 gigs", 0, false},
		{"9999999TiB", 0, false},
	} {
		got, err := config.ParseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
