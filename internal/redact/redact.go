// Package redact hides what may be credentials before people are shown
// them or they are logged: in URLs (health URLs, artifact URLs, and the
// URLs a host's command prints), and the secret values the config holds
// wherever a host's command prints them.
package redact

import (
	"cmp"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Mask stands for what was hidden.
const Mask = "REDACTED"

// URL returns raw as people may see it: its user info (basic auth, or a
// token as the user name) and its query (a token, a signature) become Mask,
// and its fragment is dropped. A raw without a scheme (a file path) is
// returned as it is.
//
// It works on the text, not on what net/url makes of it: a password holding
// an unescaped / ? # or @ is read by net/url as the end of the host, and
// the rest of the password as the path, query or fragment, which would then
// be shown. Here the user info ends at the last @, wherever it is; an @ in
// a path or query hides everything before it, which shows less than it
// could but nothing it should not.
//
// The path of a Slack or Discord webhook is its credential: what follows
// /services/ (or /workflows/, /triggers/) on hooks.slack.com, and the
// token after a Discord webhook's id, become Mask too.
func URL(raw string) string {
	n := schemeLen(raw)
	if n == 0 {
		return raw
	}
	scheme, rest := raw[:n], raw[n:]
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		rest = Mask + "@" + rest[at+1:]
	}
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		query, _, _ := strings.Cut(rest[i:], "#")
		rest = hideWebhook(rest[:i])
		if len(query) > 1 {
			rest += "?" + Mask
		}
		return scheme + rest
	}
	return scheme + hideWebhook(rest)
}

// webhookPath matches the host and path of a Slack or Discord webhook up
// to its secret part, which follows.
var webhookPath = regexp.MustCompile(`(?i)^(?:[^/]*@)?(?:hooks\.slack\.com(?::[0-9]+)?/(?:services|workflows|triggers)/|(?:(?:ptb|canary)\.)?discord(?:app)?\.com(?::[0-9]+)?/api/(?:v[0-9]+/)?webhooks/[0-9]+/)`)

// hideWebhook returns rest, a URL's authority and path, with the secret
// part of a webhook's path hidden.
func hideWebhook(rest string) string {
	if m := webhookPath.FindStringIndex(rest); m != nil && m[1] < len(rest) {
		return rest[:m[1]] + Mask
	}
	return rest
}

// schemeLen is the length of raw's scheme with the ":" and any "//" after
// it, or 0 if raw has none. "https:ci:pw@host/x", which net/url reads as
// an opaque URL without user info, has one too.
func schemeLen(raw string) int {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			if strings.HasPrefix(raw[i+1:], "//") {
				return i + 3
			}
			return i + 1
		default:
			return 0
		}
	}
	return 0
}

// urlPattern finds URLs in free text: a scheme, "://", and what follows up
// to a space or a quote.
var urlPattern = regexp.MustCompile("[a-zA-Z][a-zA-Z0-9+.-]*://[^\\s\"'<>`]+")

// Text returns s with every URL in it passed through URL: what a host's
// command printed (a migration's "could not connect to
// postgres://app:…@db/app", a downloader's presigned URL), before people
// are shown it. A password holding a space or a quote is not found whole.
// Punctuation ending a URL is taken for the sentence's: it stays after a
// hidden query.
//
// The credentials of an Authorization or Proxy-Authorization header are
// hidden too, as curl -v, a set -x trace of curl -H, JSON or a Go header
// map print one (see hideHeaders): the scheme stays
// ("Authorization: Bearer REDACTED"); after a scheme it does not know,
// the whole value is hidden. So is the value of the other headers that
// carry a credential (Cookie, Set-Cookie, X-Api-Key, X-Auth-Token, …; see
// credHeader), and of a parameter named for one (token=…, password=…,
// X-Amz-Security-Token=…; see credParam) in a query a request line shows
// without its URL's scheme, or in a command's arguments or environment.
// So is the string value of a JSON field credParam names ("password":
// "…", "client_secret":"…"; see hideFields), in JSON quoted again inside
// a string too, and the value of a YAML line that holds nothing but a
// name credParam accepts and one value ("  password: …"; see yamlValue),
// of an INI line starting with one ("password = …"; see iniValue), the
// unquoted value of a quoted key ("password": …; see unquotedValue) and
// a field of Go's %+v or a map's entry ({Password:…}; see goValue).
// So are Slack tokens (xoxb-…, xoxp-…, xapp-…), whoever's
// they are, and the secret path of a Slack or Discord webhook's URL (see
// URL).
//
// URLs go first: a user name in one (https://x-token:…@git.example.com)
// is no header's.
func Text(s string) string {
	if strings.Contains(s, "://") {
		s = urlPattern.ReplaceAllStringFunc(s, func(u string) string {
			end := len(strings.TrimRight(u, ".,:;!?)]}"))
			return URL(u[:end]) + u[end:]
		})
	}
	if strings.ContainsRune(s, ':') {
		s = hideHeaders(s)
		s = hideFields(s)
	}
	if strings.ContainsRune(s, '=') {
		s = hideParams(s)
	}
	if strings.Contains(s, "xox") || strings.Contains(s, "xapp-") {
		s = slackToken.ReplaceAllString(s, Mask)
	}
	return s
}

// slackToken matches a Slack token: a bot's, a user's, an app-level one,
// a refresh or configuration token.
var slackToken = regexp.MustCompile(`\b(?:xox[abeoprs]|xapp)-[0-9A-Za-z-]{6,}`)

// credHeader matches the end of the name of a header that carries a
// credential (hideHeaders finds the name's start). The first group is set
// for an Authorization or Proxy-Authorization header, whose value starts
// with a scheme, and which an equals sign may separate from its value
// too. The others, whose value is all credential, are taken before a
// colon alone: an equals sign is a query's (X-Amz-Security-Token=…),
// whose value ends at the next parameter (see credParam). A name other
// services give their token, key, secret or signature header starts with
// X-.
var credHeader = regexp.MustCompile(`(?i)(?:^|-)(?:((?:proxy-)?authorization)|set-cookie|cookie|api-?key|` +
	`(?:auth|access|security|session|private|job|deploy)-token|` +
	`x-(?:[a-z0-9]+-)*(?:token|secret|api-?key|apikey|auth|signature(?:-256)?))$`)

// authScheme matches a known scheme at the start of an Authorization
// header's value, and the space after it; the first group is set for a
// scheme whose credentials are one token (Bearer, Basic), which ends at a
// space, the second for one whose credentials are a list of parameters
// (Digest, AWS's), which may hold spaces.
var authScheme = regexp.MustCompile(`(?i)^(?:(basic|bearer|token|bot|negotiate|ntlm|apikey|key|sso-key|ssws|splunk)|(digest|oauth|aws4-hmac-sha256|hoba|mutual|vapid|scram-sha-1|scram-sha-256))[ \t]+`)

// hideHeaders hides the credentials of the headers credHeader names in s:
// of an Authorization header what follows the scheme, if a known one, or
// else the whole value, up to the quote or bracket that closes the value
// (a JSON string, a Go header map) or the header (curl -H 'Cookie: …' in
// a set -x trace), else up to the end of the line (curl -v); the one
// token of a Bearer or Basic scheme ends at a space as well. In double
// quotes, escaped or not, an escaped quote does not close the value (see
// quotedStep).
func hideHeaders(s string) string {
	return maskValues(s, ":=", headerValue)
}

// headerValue reads the colon or equals sign at i in s as a credential
// header's (see hideHeaders) and returns where its value starts and ends,
// or i, i; at is where what is left unmasked starts: a name inside a
// value already masked is none.
func headerValue(s string, i, at int) (int, int) {
	name, auth, ok := headerName(s, i)
	if !ok || name < at {
		return i, i
	}
	from := i + 1
	for from < len(s) && (s[from] == ' ' || s[from] == '\t') {
		from++
	}
	var closer string
	switch rest := s[from:]; {
	case strings.HasPrefix(rest, `\"`):
		closer, from = `\"`, from+2
	case strings.HasPrefix(rest, `"`), strings.HasPrefix(rest, "'"):
		closer, from = rest[:1], from+1
	case strings.HasPrefix(rest, "["):
		closer, from = "]", from+1
	case name > 0 && (s[name-1] == '"' || s[name-1] == '\''):
		closer = s[name-1 : name]
	}
	// A field of Go's %+v ({Authorization:Bearer … Host:x}) ends before
	// the next field or at its closing bracket, which no line end or
	// quote marks. Go puts no space after its colon: after one, the
	// header is a line's (curl -v quoted in a JSON log line), whose
	// value may hold " name:". The next field's name is taken to be
	// exported, as a struct's printing a header usually are: a scheme's
	// credentials may hold " user:password".
	limit := len(s)
	if s[i] == ':' && i+1 < len(s) && s[i+1] != ' ' && s[i+1] != '\t' {
		if end, ok := goFieldEnd(s, name, i, true); ok {
			limit = end
		}
	}
	token := false
	if auth {
		if n := authScheme.FindStringSubmatchIndex(s[from:]); n != nil {
			from, token = from+n[1], n[2] >= 0
		}
	}
	to := from
	for to < limit && s[to] != '\n' && s[to] != '\r' {
		if closer != "" && strings.HasPrefix(s[to:], closer) || token && (s[to] == ' ' || s[to] == '\t') {
			break
		}
		if closer == `"` || closer == `\"` {
			to = quotedStep(s, to, closer)
		} else {
			to++
		}
	}
	return from, to
}

// headerName reads what precedes the colon or equals sign at i in s as a
// header's name and, after it, the closing quote of a JSON key (escaped,
// in a JSON string quoted again) and spaces. It returns where the name
// starts, whether it is an Authorization header's, and whether it is one
// credHeader names, at the start of a word.
func headerName(s string, i int) (start int, auth, ok bool) {
	end := i
	for end > 0 && (s[end-1] == ' ' || s[end-1] == '\t') {
		end--
	}
	if end > 0 && (s[end-1] == '"' || s[end-1] == '\'') {
		end--
		if end > 0 && s[end-1] == '\\' {
			end--
		}
	}
	start = end
	for start > 0 && (isWordByte(s[start-1]) && s[start-1] != '_' || s[start-1] == '-') {
		start--
	}
	if start == end || start > 0 && isWordByte(s[start-1]) {
		return 0, false, false
	}
	m := credHeader.FindStringSubmatchIndex(s[start:end])
	if m == nil {
		return 0, false, false
	}
	auth = m[2] >= 0
	if !auth && s[i] == '=' {
		return 0, false, false
	}
	if s[start+m[0]] == '-' {
		m[0]++
	}
	return start + m[0], auth, true
}

// isWordByte reports whether c is a letter, a digit or an underscore, as
// \b of a regexp counts them.
func isWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

// credParam matches the name of a parameter that carries a credential:
// in a query (?token=…, &access_token=…, X-Amz-Signature=…), a command's
// options (--password=…) or its environment (PGPASSWORD=…,
// GITHUB_TOKEN=…). One that ends in token, secret, password, passwd,
// passphrase, credential(s) or signature, or in a key of a kind (api_key,
// access-key, secret_key, …), or in _pass or _pwd, is taken anywhere.
// credName applies it to camel case and capitals run together too.
var credParam = regexp.MustCompile(`(?i)^(?:` +
	`[a-z0-9_.-]*(?:token|secret|password|passwd|passphrase|credentials?|signature)|` +
	`(?:[a-z0-9_.-]*[_.-])?(?:api|access|secret|private|client|account|master|signing|subscription|session)[_.-]?key|` +
	`[a-z0-9_.-]*[_.-](?:pass|pwd))$`)

// credName reports whether credParam matches name, the name of a
// parameter or of a JSON field, read with its words apart: in camel case
// a capital after a small letter or a digit starts one (secretAccessKey
// as secret_Access_Key), and in a name without small letters a kind of
// key needs none (SECRETACCESSKEY; see upperKey). A name whose words run
// together in small letters (monkey) is no credential's. Every name it
// matches ends in one of credEnds: testing that first spares the regexp,
// which takes some microseconds, most names of a JSON log line, where
// every field's is tested.
func credName(name string) bool {
	for _, end := range credEnds {
		if len(name) >= len(end) && strings.EqualFold(name[len(name)-len(end):], end) {
			// Words set apart keep every match of the name as written.
			if credParam.MatchString(camelWords(name)) {
				return true
			}
			return end == "key" && !strings.ContainsFunc(name, unicode.IsLower) && upperKey.MatchString(name)
		}
	}
	return false
}

// upperKey matches a name in capitals ending in a kind of key, as
// credParam names them, run together with it (AWSSECRETKEY).
var upperKey = regexp.MustCompile(`^[A-Z0-9_.-]*(?:API|ACCESS|SECRET|PRIVATE|CLIENT|ACCOUNT|MASTER|SIGNING|SUBSCRIPTION|SESSION)KEY$`)

// camelWords returns name with an underscore before each capital that
// follows a small letter or a digit, or name itself if there is none.
func camelWords(name string) string {
	var b strings.Builder
	at := 0
	for i := 1; i < len(name); i++ {
		if c, p := name[i], name[i-1]; 'A' <= c && c <= 'Z' && ('a' <= p && p <= 'z' || '0' <= p && p <= '9') {
			b.WriteString(name[at:i])
			b.WriteByte('_')
			at = i
		}
	}
	if at == 0 {
		return name
	}
	b.WriteString(name[at:])
	return b.String()
}

// credEnds are the words a name credParam matches ends in; a word added
// there is added here.
var credEnds = []string{"token", "secret", "password", "passwd", "passphrase", "credential", "credentials", "signature", "key", "pass", "pwd"}

// queryParam matches a short credential name credParam leaves out, which
// is taken after the ? or & that says it is a query's alone: elsewhere
// these name ordinary things (a log line's key=, initdb's --auth=trust,
// the shell's PWD=).
var queryParam = regexp.MustCompile(`(?i)^(?:key|sig|auth|pass|pwd)$`)

// hideParams hides the values of the parameters credParam and queryParam
// name in s, a name starting a word and followed by =, their names left
// shown: a value in quotes up to the closing quote, else up to a space, a
// quote or the next parameter's &, without the punctuation that ends a
// sentence or a list after it (as URL's query in Text). Spaces after the
// = are skipped: print("password=", pw) writes one, and the word after
// it is hidden even where it is prose's ("token= is empty"), which shows
// less than it could but no secret.
func hideParams(s string) string {
	return maskValues(s, "=", func(s string, i, _ int) (int, int) {
		if from, to := iniValue(s, i); to > from {
			return from, to
		}
		end := i
		if end > 0 && (s[end-1] == '"' || s[end-1] == '\'') {
			end-- // a quoted key: 'password'=12345
		}
		start := end
		for start > 0 && isParamByte(s[start-1]) {
			start--
		}
		if end < i && (start == 0 || s[start-1] != s[end]) {
			return i, i
		}
		name := s[start:end]
		if name == "" || !credName(name) && !(start > 0 && (s[start-1] == '?' || s[start-1] == '&') && queryParam.MatchString(name)) {
			return i, i
		}
		from := i + 1
		for from < len(s) && (s[from] == ' ' || s[from] == '\t') {
			from++
		}
		return paramValue(s, from)
	})
}

// maskValues replaces with Mask each value that value finds for a byte
// of seps at i in s (where it starts and ends, or i, i for none; at is
// where the text left unmasked starts), scanning on past it.
func maskValues(s, seps string, value func(s string, i, at int) (from, to int)) string {
	var b strings.Builder
	at := 0
	for i := 0; ; i++ {
		var n int
		if len(seps) == 1 {
			n = strings.IndexByte(s[i:], seps[0]) // the common case, and faster
		} else {
			n = strings.IndexAny(s[i:], seps)
		}
		if n < 0 {
			break
		}
		i += n
		from, to := value(s, i, at)
		if to == from {
			continue
		}
		b.WriteString(s[at:from])
		b.WriteString(Mask)
		at = to
		i = to - 1
	}
	if at == 0 {
		return s
	}
	b.WriteString(s[at:])
	return b.String()
}

// iniValue reads the = at i in s as that of an INI or TOML line naming a
// credential, and returns where its value starts and ends, or i, i. The
// line starts, indented or not, with a name credName accepts, and a space
// or a tab is before or after the = (password = …, password= …): without
// one, it is a parameter's (see hideParams), whose value ends at a space. A
// quoted value is hidden up to its closing quote, another up to the end
// of the line, as INI reads it (a passphrase of several words). An = of
// a comparison (==, !=) is none, and a name that is not the line's first
// word is taken for prose ("set password = …").
func iniValue(s string, i int) (int, int) {
	end := i
	for end > 0 && (s[end-1] == ' ' || s[end-1] == '\t') {
		end--
	}
	from := i + 1
	for from < len(s) && (s[from] == ' ' || s[from] == '\t') {
		from++
	}
	if end == i && from == i+1 || from < len(s) && s[from] == '=' {
		return i, i
	}
	start := end
	for start > 0 && isParamByte(s[start-1]) {
		start--
	}
	if start == end {
		return i, i
	}
	line := start
	for line > 0 && (s[line-1] == ' ' || s[line-1] == '\t') {
		line--
	}
	if line > 0 && s[line-1] != '\n' && s[line-1] != '\r' || !credName(s[start:end]) {
		return i, i
	}
	if from < len(s) && (s[from] == '"' || s[from] == '\'') {
		from++
		return from, quotedEnd(s, from, s[from-1:from])
	}
	to := from
	for to < len(s) && s[to] != '\n' && s[to] != '\r' {
		to++
	}
	for to > from && (s[to-1] == ' ' || s[to-1] == '\t') {
		to--
	}
	return from, to
}

// isParamByte reports whether c may be part of a parameter's name.
func isParamByte(c byte) bool {
	return isWordByte(c) || c == '.' || c == '-'
}

// paramValue returns where the value at from in s starts (after its
// opening quote, if quoted, escaped as a JSON string quoted again may be)
// and where it ends: a quoted one at its closing quote, escaped quotes
// followed (see quotedEnd), so that DB_PASSWORD="hun\"ter2" is hidden
// whole.
func paramValue(s string, from int) (int, int) {
	rest := s[from:]
	for _, q := range []string{`\"`, `"`, "'"} {
		if !strings.HasPrefix(rest, q) {
			continue
		}
		from += len(q)
		return from, quotedEnd(s, from, q)
	}
	to := from
	for to < len(s) && !strings.ContainsRune(" \t\r\n\f\v&\"'`<>", rune(s[to])) {
		to++
	}
	return from, from + len(strings.TrimRight(s[from:to], ".,:;!?)]}"))
}

// hideFields hides the string values of the JSON fields in s whose name
// credName accepts (an API's answer, a structured log line, a dumped
// config), their names left shown: "password": "…", {"api_key":"…"},
// {\"secret\":\"…\"} in JSON quoted again inside a string, and
// {'password': '…'} as Python prints a dict. A value is hidden up to its
// closing quote, or, cut before it, up to the end of the line. Values
// that are not strings (a number, null, an object whose fields are
// checked on their own) stay, and so do fields that say something about a
// credential rather than hold one ("token_count", "password_changed_at",
// "token_type"): the name must end as credParam says.
//
// So is the value of a YAML line naming a credential (see yamlValue), as a
// dumped config or a tool printing its settings shows it.
func hideFields(s string) string {
	return maskValues(s, ":", func(s string, i, _ int) (int, int) {
		for _, value := range fieldValues {
			if from, to := value(s, i); to > from {
				return from, to
			}
		}
		return i, i
	})
}

// fieldValues are the shapes hideFields finds a value in, tried in turn.
var fieldValues = []func(s string, i int) (int, int){fieldValue, yamlValue, goValue}

// fieldValue reads what precedes the colon at i in s as a quoted field
// name credName accepts and what follows it as a quoted string, and
// returns where that string's text starts and ends, or i, i.
func fieldValue(s string, i int) (int, int) {
	end := i
	for end > 0 && (s[end-1] == ' ' || s[end-1] == '\t') {
		end--
	}
	if end == 0 || s[end-1] != '"' && s[end-1] != '\'' {
		return i, i
	}
	quote := s[end-1 : end]
	end--
	if end > 0 && s[end-1] == '\\' {
		if quote != `"` {
			return i, i
		}
		quote, end = `\"`, end-1
	}
	start := end
	for start > 0 && isParamByte(s[start-1]) {
		start--
	}
	if start == end || !strings.HasSuffix(s[:start], quote) || !credName(s[start:end]) {
		return i, i
	}
	from := i + 1
	for from < len(s) && (s[from] == ' ' || s[from] == '\t') {
		from++
	}
	rest := s[from:]
	switch {
	case quote == `\"` && strings.HasPrefix(rest, quote):
	case quote != `\"` && (strings.HasPrefix(rest, `"`) || strings.HasPrefix(rest, "'")):
		quote = rest[:1]
	default:
		return unquotedValue(s, start-len(quote), from, i)
	}
	from += len(quote)
	return from, quotedEnd(s, from, quote)
}

// unquotedValue reads the word at from in s as the unquoted value of the
// quoted key at key, as loose JSON and YAML write one ("password":
// hunter2), and returns where it starts and ends, or i, i. The key opens
// a flow mapping's entry (after { or a comma) or a line (indented, or
// after a list's "- "), and the value is one word, which a comma or a
// closing bracket (in a flow mapping) or a comment may follow: a key
// quoted in a sentence ("invalid value for \"password\": too short") is
// prose. A number is hidden: a PIN or a password of digits is one
// ("password": 12345). null, true, false, an object or a list stays, as
// hideFields leaves them.
func unquotedValue(s string, key, from, i int) (int, int) {
	before := key
	for before > 0 && (s[before-1] == ' ' || s[before-1] == '\t') {
		before--
	}
	flow := before > 0 && (s[before-1] == '{' || s[before-1] == ',')
	if !flow && before > 0 && s[before-1] == '-' && before < key {
		before--
		for before > 0 && (s[before-1] == ' ' || s[before-1] == '\t') {
			before--
		}
	}
	if !flow && before > 0 && s[before-1] != '\n' && s[before-1] != '\r' {
		return i, i
	}
	stops := " \t\r\n"
	if flow {
		stops = " \t\r\n,}]"
	}
	to := from
	for to < len(s) && !strings.ContainsRune(stops, rune(s[to])) {
		to++
	}
	if to == from || s[from] == '{' || s[from] == '[' {
		return i, i
	}
	switch s[from:to] {
	case "null", "true", "false":
		return i, i
	}
	rest := to
	for rest < len(s) && (s[rest] == ' ' || s[rest] == '\t') {
		rest++
	}
	switch {
	case rest == len(s), s[rest] == '\n', s[rest] == '\r', s[rest] == '#' && rest > to:
	case flow && (s[rest] == ',' || s[rest] == '}' || s[rest] == ']'):
	default:
		return i, i
	}
	return from, to
}

// goValue reads the colon at i in s as that of a field of a struct Go's
// %+v prints ({Password:hunter2 User:ci}), or of a map's entry %v prints
// (map[password:hunter2]), whose name credName accepts, and returns where
// its value starts and ends, or i, i. The name follows the { or [ of
// map[, or a space inside them, the colon follows it and the value the
// colon, with no space between: "password:none" outside braces is not
// taken. Go quotes no string there, so the value runs up to the bracket
// that closes the struct or map, or to the next " Name:" (in a struct,
// capitalised; see goFieldEnd), holding spaces (a passphrase). A nested
// struct, map or list is left, its fields checked on their own; an empty
// value is none.
func goValue(s string, i int) (int, int) {
	from := i + 1
	if from == len(s) || strings.IndexByte(" \t\r\n{[}]&", s[from]) >= 0 || strings.HasPrefix(s[from:], "map[") {
		return i, i
	}
	start := i
	for start > 0 && isParamByte(s[start-1]) {
		start--
	}
	if !credName(s[start:i]) {
		return i, i
	}
	if end, ok := goFieldEnd(s, start, i, false); ok {
		return from, end
	}
	return i, i
}

// goFieldEnd reads the name at start in s, and its colon at i, as a field
// of Go's %+v of a struct or an entry of a map (see goValue), and returns
// where its value ends: at the bracket closing the struct or map, or
// before the next " Name:", which must start with a capital letter in a
// struct, or when exported is set. A struct's fields that print are
// mostly exported, so a value's " b:c" is taken for the value's, not
// shown as a field ({Password:a b:c User:ci}); a struct of unexported
// fields is hidden up to its closing brace then. A map's keys are
// whatever its entries hold, so any name ends its value there.
func goFieldEnd(s string, start, i int, exported bool) (int, bool) {
	from := i + 1
	if start == i || start == 0 || s[start-1] != '{' && s[start-1] != '[' && s[start-1] != ' ' {
		return i, false
	}
	depth := 0
	opener := -1
	for j := start - 1; j >= 0 && s[j] != '\n' && s[j] != '\r'; j-- {
		switch s[j] {
		case '}', ']':
			depth++
		case '{', '[':
			depth--
		}
		if depth < 0 {
			opener = j
			break
		}
	}
	if opener < 0 || s[opener] == '[' && !strings.HasSuffix(s[:opener], "map") {
		return i, false
	}
	exported = exported || s[opener] == '{'
	to := from
	depth = 0
	for ; to < len(s) && s[to] != '\n' && s[to] != '\r'; to++ {
		switch c := s[to]; {
		case c == '{' || c == '[':
			depth++
		case (c == '}' || c == ']') && depth == 0:
			return to, true
		case c == '}' || c == ']':
			depth--
		case c == ' ' && depth == 0 && goFieldNext(s, to+1) && (!exported || 'A' <= s[to+1] && s[to+1] <= 'Z'):
			return to, true
		}
	}
	return to, true
}

// goFieldNext reports whether what starts at j in s reads as a field's
// name and its colon, as Go's %+v prints the next field.
func goFieldNext(s string, j int) bool {
	k := j
	for k < len(s) && isParamByte(s[k]) {
		k++
	}
	return k > j && k < len(s) && s[k] == ':'
}

// yamlValue reads the colon at i in s as that of a YAML line naming a
// credential, and returns where its value starts and ends, or i, i. The
// line holds nothing else: at its start, indented or after a list's "- ",
// a name credName accepts, the colon and a space, and one value, a
// quoted string (hidden up to its closing quote) or one word, which a
// comment may follow. Prose of that shape cannot be told from it
// ("password: changed" alone on a line is hidden), but a line whose
// "value" is several words is taken for prose (passwd's "passwd:
// password updated successfully", "token: expired, log in again"), and
// so is a name that is not the line's first word ("error: password: too
// short"). An unquoted value of several words (a passphrase) is thus
// shown.
func yamlValue(s string, i int) (int, int) {
	from := i + 1
	if from == len(s) || s[from] != ' ' && s[from] != '\t' {
		return i, i
	}
	start := i
	for start > 0 && isParamByte(s[start-1]) {
		start--
	}
	if start == i {
		return i, i
	}
	line := start
	for line > 0 && (s[line-1] == ' ' || s[line-1] == '\t') {
		line--
	}
	if line > 0 && s[line-1] == '-' && line < start {
		line--
		for line > 0 && (s[line-1] == ' ' || s[line-1] == '\t') {
			line--
		}
	}
	if line > 0 && s[line-1] != '\n' && s[line-1] != '\r' || !credName(s[start:i]) {
		return i, i
	}
	for from < len(s) && (s[from] == ' ' || s[from] == '\t') {
		from++
	}
	if from < len(s) && (s[from] == '"' || s[from] == '\'') {
		from++
		return from, quotedEnd(s, from, s[from-1:from])
	}
	to := from
	for to < len(s) && !strings.ContainsRune(" \t\r\n", rune(s[to])) {
		to++
	}
	rest := to
	for rest < len(s) && (s[rest] == ' ' || s[rest] == '\t') {
		rest++
	}
	if rest < len(s) && s[rest] != '\n' && s[rest] != '\r' && (s[rest] != '#' || rest == to) {
		return i, i
	}
	if to > from && (s[from] == '|' || s[from] == '>') && strings.Trim(s[from+1:to], "-+0123456789") == "" {
		return yamlBlock(s, rest, start-line, i)
	}
	return from, to
}

// yamlBlock returns where the lines of a YAML block value (password: |,
// or > for a folded one) start and end: those after the line at from in
// s indented more than its name, at column, blank lines between them
// included, from the first one's text to the last one's end; or i, i
// if none follows. The | itself says nothing; the secret is below it.
func yamlBlock(s string, from, column, i int) (int, int) {
	start, end := i, i
	p := from
	for p < len(s) && s[p] != '\n' {
		p++
	}
	for p < len(s) {
		p++
		text := p
		for text < len(s) && (s[text] == ' ' || s[text] == '\t') {
			text++
		}
		eol := text
		for eol < len(s) && s[eol] != '\n' && s[eol] != '\r' {
			eol++
		}
		if eol > text {
			if text-p <= column {
				break
			}
			if start == i {
				start = text
			}
			end = eol
		}
		p = eol
		for p < len(s) && s[p] != '\n' {
			p++
		}
	}
	return start, end
}

// quotedEnd returns where the string whose text starts at from in s ends:
// at its closing quote, or, cut before it, at the end of the line. An
// escaped quote does not close it: JSON, a shell's double quotes, a log's
// quoted attribute and Python escape one with a backslash (\"), and JSON
// quoted again inside a string as \\\" within \"…\".
func quotedEnd(s string, from int, quote string) int {
	to := from
	for to < len(s) && s[to] != '\n' && s[to] != '\r' && !strings.HasPrefix(s[to:], quote) {
		to = quotedStep(s, to, quote)
	}
	return to
}

// quotedStep returns where what starts at to, inside a string closed by
// quote, ends: after one character, or after an escape, which may not end
// the string.
func quotedStep(s string, to int, quote string) int {
	if s[to] != '\\' || to+1 == len(s) || s[to+1] == '\n' || s[to+1] == '\r' {
		return to + 1
	}
	// In JSON quoted again, \\ is the inner string's backslash, escaping
	// the inner character after it (\\\" for a quote); \" alone closes
	// the inner string.
	to += 2
	if quote == `\"` && s[to-1] == '\\' && to < len(s) && s[to] != '\n' && s[to] != '\r' {
		if s[to] == '\\' && to+1 < len(s) && s[to+1] != '\n' && s[to+1] != '\r' {
			to++
		}
		to++
	}
	return to
}

// MinSecret is the fewest characters a value must have for Secrets to hide
// it: a shorter one (a PIN, "admin") would hide parts of ordinary words and
// numbers in every message, and says little where it is shown.
const MinSecret = 6

// Secrets hides the secret values the bot knows (the config's tokens and
// passwords) wherever they appear in text, as well as the credentials of
// URLs (see Text). A nil *Secrets hides URLs' credentials alone. It is
// safe for concurrent use.
type Secrets struct {
	values []string
}

// NewSecrets returns the Secrets that hide values, each trimmed of
// surrounding white space; values shorter than MinSecret characters, and
// repeats, are left out. A value holding a quote, a backslash or a
// control character is hidden as a Go quoted string writes it too
// (pa\"ss for pa"ss): the log's text handler quotes an attribute so, as
// %q does, and the value as written is then no longer in the line.
func NewSecrets(values ...string) *Secrets {
	s := &Secrets{}
	seen := map[string]bool{}
	for _, v := range values {
		v = strings.TrimSpace(v)
		if utf8.RuneCountInString(v) < MinSecret {
			continue
		}
		q := strconv.Quote(v)
		for _, form := range []string{v, q[1 : len(q)-1]} {
			if !seen[form] {
				seen[form] = true
				s.values = append(s.values, form)
			}
		}
	}
	return s
}

// Text returns t with every occurrence of a secret value replaced by Mask,
// and then every URL in it passed through URL (see the package's Text).
// Where occurrences of two values overlap (one holds the other, or one's
// end is the other's start), one Mask stands for both: a strings.Replacer,
// which takes one match at each position, would show the rest of the
// second.
//
// A t that starts with the end of a value, or ends with its start, of at
// least MinSecret characters, has that part hidden as well: the
// transports keep only the tail of what a script prints (and a text may
// be cut to a length), and where a cut falls inside a value, what is left
// of it is no occurrence of it.
//
// A cut inside a URL's user info leaves no "://" for Text to find: a t
// that starts with what reads as the end of one (see userinfoEnd) has it
// hidden, whatever its length, up to the @ before the host. It does when
// that end is the end of a value, and when the shape alone says so (a
// nil *Secrets does this too): the part before the @ holds a ":" (user
// and password) or the host has a port or a path after it, which an
// e-mail address, a scp target (deploy@web-1:/srv) or a Git remote
// (git@github.com:acme/web) has not.
func (s *Secrets) Text(t string) string {
	return Text(s.hide(t))
}

// hide replaces the spans of t that occurrences of s.values cover, and
// the end of a URL's user info t starts with, merged where they overlap,
// by Mask.
func (s *Secrets) hide(t string) string {
	type span struct{ from, to int }
	var spans []span
	var values []string
	if s != nil {
		values = s.values
	}
	if n, shaped := userinfoEnd(t); n > 0 {
		known := shaped
		for _, v := range values {
			known = known || strings.HasSuffix(v, t[:n])
		}
		if known {
			spans = append(spans, span{0, n})
		}
	}
	for _, v := range values {
		for i := 0; ; {
			j := strings.Index(t[i:], v)
			if j < 0 {
				break
			}
			spans = append(spans, span{i + j, i + j + len(v)})
			i += j + 1
		}
		if n := cutEnd(t, v); n > 0 {
			spans = append(spans, span{0, n})
		}
		if n := cutStart(t, v); n > 0 {
			spans = append(spans, span{len(t) - n, len(t)})
		}
	}
	if len(spans) == 0 {
		return t
	}
	slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.from, b.from) })
	var b strings.Builder
	b.Grow(len(t))
	at := 0 // what of t is written or hidden
	for i := 0; i < len(spans); {
		from, to := spans[i].from, spans[i].to
		for i++; i < len(spans) && spans[i].from < to; i++ {
			to = max(to, spans[i].to)
		}
		b.WriteString(t[at:from])
		b.WriteString(Mask)
		at = to
	}
	b.WriteString(t[at:])
	return b.String()
}

// userinfoEnd reads the start of t, up to the first space or quote, as the
// end of a URL's user info cut from its start: it returns the length of
// what comes before the last @ there (0 when there is no @, nothing
// before it, or a "://" before it: a whole URL, which Text handles), and
// whether the shape alone makes it user info: a ":" before the @, or a
// host followed by a port or a path.
func userinfoEnd(t string) (n int, shaped bool) {
	token := t
	if i := strings.IndexAny(t, " \t\r\n\f\v\"'<>`"); i >= 0 {
		token = t[:i]
	}
	at := strings.LastIndexByte(token, '@')
	if at <= 0 || strings.Contains(token[:at], "://") {
		return 0, false
	}
	return at, strings.Contains(token[:at], ":") || hostWithPortOrPath.MatchString(token[at+1:])
}

// hostWithPortOrPath matches a host (a name, an IPv4 or bracketed IPv6
// address, or a Go driver's tcp(db:3306)) with a port, or with a path or
// a query after it.
var hostWithPortOrPath = regexp.MustCompile(`^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%{}-]+|[a-z]+\([^()\s]+\))(?::[0-9]+(?:$|[/?#:,;.)\]])|[/?])`)

// cutEnd is the length of the longest end of v, shorter than v and of at
// least MinSecret characters, that t starts with, or 0. It compares bytes:
// a cut may fall inside a character.
func cutEnd(t, v string) int {
	for i := 1; i < len(v); i++ {
		if t == "" || t[0] != v[i] || !strings.HasPrefix(t, v[i:]) {
			continue
		}
		if utf8.RuneCountInString(v[i:]) < MinSecret {
			return 0
		}
		return len(v) - i
	}
	return 0
}

// cutStart is the length of the longest start of v, shorter than v and
// of at least MinSecret characters, that t ends with, or 0.
func cutStart(t, v string) int {
	for n := len(v) - 1; n > 0; n-- {
		if t == "" || t[len(t)-1] != v[n-1] || !strings.HasSuffix(t, v[:n]) {
			continue
		}
		if utf8.RuneCountInString(v[:n]) < MinSecret {
			return 0
		}
		return n
	}
	return 0
}

// Writer returns w with what Text hides hidden from each write. It is for
// a log handler's output, which writes one record at a time: a secret
// that reaches a log line through code that does not hide it (an error of
// a library quoting the token it was given) is hidden there too.
func (s *Secrets) Writer(w io.Writer) io.Writer { return secretWriter{w: w, s: s} }

type secretWriter struct {
	w io.Writer
	s *Secrets
}

// Write writes p with its secrets hidden, and reports all of p written
// when that succeeded: the hidden text differs in length.
func (w secretWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(w.w, w.s.Text(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// RedisURLSplit reports whether u, a parsed Redis URL, holds an @ after
// its host: the end of user info net/url read as the path, the fragment
// or the query, because the password holds an unescaped /, # or ?
// (redis://:12?ab@host). Messages would show the rest of that password,
// and the client would connect elsewhere or refuse an unknown option. An
// @ in the value of client_name, go-redis's one option of text (the path
// holds a database number, every other option a number, a duration or a
// boolean), is a client name's own (deploy@switchman). The config check
// and the Redis store apply this one rule, so that a URL check-config
// passes is one the store takes.
func RedisURLSplit(u *url.URL) bool {
	if strings.Contains(u.EscapedPath()+"#"+u.EscapedFragment(), "@") {
		return true
	}
	for pair := range strings.SplitSeq(u.RawQuery, "&") {
		if !strings.Contains(pair, "@") {
			continue
		}
		key, _, ok := strings.Cut(pair, "=")
		if k, err := url.QueryUnescape(key); !ok || err != nil || k != "client_name" {
			return true
		}
	}
	return false
}
