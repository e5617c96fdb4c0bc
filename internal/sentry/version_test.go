package sentry

import (
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	tests := []struct {
		name, tmpl, app, env, build, want string
	}{
		{"default", "", "shop", "production", "1.2.3", "shop@1.2.3"},
		{"with env", "{app}-{env}@{build}", "shop", "staging", "1.2.3", "shop-staging@1.2.3"},
		{"build only", "{build}", "shop", "production", "2026.03.04-ab12", "2026.03.04-ab12"},
		{"literal text kept", "v{build} ({app})", "shop", "production", "7", "v7 (shop)"},
		{"unknown placeholder kept", "{app}@{build}+{sha}", "shop", "production", "7", "shop@7+{sha}"},
		{"slashes replaced", "", "shop", "production", "feature/x\\y", "shop@feature-x-y"},
		{"line breaks replaced", "", "shop", "production", "1\n2", "shop@1-2"},
		{"spaces trimmed", " {build} ", "shop", "production", "7", "7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Version(tt.tmpl, tt.app, tt.env, tt.build); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestVersionLength(t *testing.T) {
	got := Version("", "shop", "production", strings.Repeat("é", 150))
	if len(got) > 200 {
		t.Errorf("length: got %d, want at most 200", len(got))
	}
	if !strings.HasPrefix(got, "shop@é") || strings.ToValidUTF8(got, "?") != got {
		t.Errorf("got %q, want a valid UTF-8 prefix", got)
	}
}
