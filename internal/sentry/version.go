package sentry

import "strings"

// DefaultVersionTemplate names a release after the app and the build, which
// is what an SDK configured with release "app@build" reports.
const DefaultVersionTemplate = "{app}@{build}"

// maxVersion is the longest release version Sentry accepts.
const maxVersion = 200

// Version renders a Sentry release version from tmpl, replacing {app},
// {env} and {build}; an empty tmpl means DefaultVersionTemplate. Other text
// is kept as written. Characters Sentry refuses in a version (slash,
// backslash, tab and line breaks) become "-", surrounding spaces are
// trimmed and the result is cut to 200 bytes, so any build name gives a
// version Sentry takes. The SDK in the app must report the same string.
func Version(tmpl, app, env, build string) string {
	if tmpl == "" {
		tmpl = DefaultVersionTemplate
	}
	v := strings.NewReplacer("{app}", app, "{env}", env, "{build}", build).Replace(tmpl)
	v = strings.Map(func(r rune) rune {
		switch r {
		case '/', '\\', '\t', '\n', '\r', '\f', '\v':
			return '-'
		}
		return r
	}, v)
	v = strings.TrimSpace(v)
	if len(v) > maxVersion {
		cut := maxVersion
		for cut > 0 && !isRuneStart(v[cut]) {
			cut--
		}
		v = v[:cut]
	}
	return v
}
