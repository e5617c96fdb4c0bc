package config

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

var (
	durationType = reflect.TypeFor[Duration]()
	hostType     = reflect.TypeFor[Host]()
)

// checkNode walks n against the Go type t it will be decoded into and
// reports every unknown or repeated key and every value of the wrong kind,
// with the key's dotted path. yaml.v3's own strict mode stops at the first
// unknown key; this finds them all. Aliases are not followed: the anchored
// node is checked where it is defined.
func checkNode(n *yaml.Node, t reflect.Type, path string, ps *problems) {
	if n.Kind == yaml.AliasNode || isNull(n) {
		return
	}
	if n.Kind == yaml.ScalarNode && strings.IndexByte(n.Value, 0) >= 0 {
		// Written as "\0" in a quoted string. Paths, shared paths, hosts,
		// vars and commands go into the scripts the hosts run, and no
		// shell takes the byte: the SSH transport refuses every such
		// script, and a shell reading one may drop the byte and act on
		// another path. The value is not shown: it may be a secret.
		ps.add(n.Line, "%s: holds a NUL byte (\\0), which no shell, file name or URL can carry; remove it", where(path))
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
		if n.Kind != yaml.ScalarNode {
			ps.add(n.Line, "%s: want a duration like 30s, 5m or 1h30m", where(path))
		} else if _, err := parseDuration(n.Value); err != nil {
			ps.add(n.Line, "%s: %v", where(path), err)
		}
		return
	case t == hostType && n.Kind == yaml.ScalarNode:
		if _, err := parseHost(n.Value); err != nil {
			ps.add(n.Line, "%s: %v", where(path), err)
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			ps.add(n.Line, "%s: want a mapping of keys to values, got %s", where(path), kindName(n))
			return
		}
		fields := yamlFields(t)
		eachKey(n, path, ps, func(k, v *yaml.Node) {
			ft, ok := fields[k.Value]
			if !ok {
				ps.add(k.Line, "%s", unknownKey(k.Value, path, fields))
				return
			}
			if isNull(v) && isSection(ft) && !nullSectionOK[join(path, k.Value)] {
				// A section whose keys were all commented out decodes as
				// if it were absent, and most sections turn on a guard
				// when present: the window, the load balancer's drain,
				// the bastion, the error watch, the migrations, the
				// health check. Absent, each is silently off.
				ps.add(k.Line, "%s: empty (its keys commented out?): set what it needs, or remove the key to do without it", join(path, k.Value))
				return
			}
			checkNode(v, ft, join(path, k.Value), ps)
		})
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			ps.add(n.Line, "%s: want a mapping of names to values, got %s", where(path), kindName(n))
			return
		}
		eachKey(n, path, ps, func(k, v *yaml.Node) {
			checkNode(v, t.Elem(), join(path, k.Value), ps)
		})
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			ps.add(n.Line, "%s: want a list, got %s", where(path), kindName(n))
			return
		}
		for i, c := range n.Content {
			checkNode(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), ps)
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			ps.add(n.Line, "%s: want a string, got %s", where(path), kindName(n))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		switch {
		case n.Kind != yaml.ScalarNode:
			ps.add(n.Line, "%s: want a whole number, got %s", where(path), kindName(n))
		case n.ShortTag() != "!!int":
			ps.add(n.Line, "%s: want a whole number, got %q", where(path), n.Value)
		}
	case reflect.Bool, reflect.Float32, reflect.Float64:
		// What decoding takes: for a bool, true or false unquoted (and
		// YAML 1.1's yes, no, on and off); for a float, a number.
		// Decoding's own message names neither the key nor what is valid.
		want := "a number"
		if t.Kind() == reflect.Bool {
			want = "true or false"
		}
		switch {
		case n.Kind != yaml.ScalarNode:
			ps.add(n.Line, "%s: want %s, got %s", where(path), want, kindName(n))
		case n.Decode(reflect.New(t).Interface()) != nil:
			ps.add(n.Line, "%s: want %s, got %q", where(path), want, n.Value)
		}
	}
}

// eachKey calls f for every key of mapping n that is a plain string and
// appears once, reporting the others. The keys a merge key ("<<: *anchor")
// brings in are checked here too, where they land, unless n sets them
// itself (its own keys win): the mapping they come from may be of another
// kind, and decoding drops what does not belong.
//
// A repeated key is removed from n after it is reported: yaml.v3 would
// otherwise drop the whole mapping, and with it everything validation
// could still say about the rest.
func eachKey(n *yaml.Node, path string, ps *problems, f func(k, v *yaml.Node)) {
	seen := map[string]int{}
	kept := n.Content[:0:0]
	var merged []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch first, dup := seen[k.Value]; {
		case k.Kind != yaml.ScalarNode:
			ps.add(k.Line, "%s: keys must be strings, got %s", where(path), kindName(k))
		case k.ShortTag() == "!!merge":
			merged = append(merged, mergedMappings(v)...)
		case dup:
			ps.add(k.Line, "%s: key %q appears twice (first at line %d)", where(path), k.Value, first)
			continue
		default:
			seen[k.Value] = k.Line
			f(k, v)
		}
		kept = append(kept, k, v)
	}
	n.Content = kept
	for _, m := range merged {
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], m.Content[i+1]
			if _, own := seen[k.Value]; own || k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
				continue
			}
			seen[k.Value] = k.Line
			f(k, v)
		}
	}
}

// mergedMappings returns the mappings a merge key's value brings in: one,
// an alias of one, or a sequence of those.
func mergedMappings(v *yaml.Node) []*yaml.Node {
	switch {
	case v.Kind == yaml.AliasNode && v.Alias != nil:
		return mergedMappings(v.Alias)
	case v.Kind == yaml.MappingNode:
		return []*yaml.Node{v}
	case v.Kind == yaml.SequenceNode:
		var out []*yaml.Node
		for _, e := range v.Content {
			out = append(out, mergedMappings(e)...)
		}
		return out
	}
	return nil
}

// yamlFields maps the YAML keys of struct t to their field types, as
// yaml.v3 names them: the tag's name, or else the lowercased field name.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = strings.ToLower(f.Name)
		}
		fields[name] = f.Type
	}
	return fields
}

func unknownKey(key, path string, fields map[string]reflect.Type) string {
	known := make([]string, 0, len(fields))
	for k := range fields {
		known = append(known, k)
	}
	sort.Strings(known)
	msg := fmt.Sprintf("unknown key %q in %s", key, where(path))
	if s := suggest(key, known); s != "" {
		return msg + fmt.Sprintf("; did you mean %q?", s)
	}
	return msg + fmt.Sprintf(" (known keys: %s)", strings.Join(known, ", "))
}

// suggest returns the known key closest to key when it is close enough to
// be a misspelling, or "".
func suggest(key string, known []string) string {
	key = strings.ToLower(key)
	limit := 1
	if len(key) >= 6 {
		limit = 2
	}
	best, bestDist := "", limit+1
	for _, k := range known {
		if d := editDistance(key, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best == "" && len(key) >= 3 {
		// An abbreviation ("addr", "keep") or a key with a suffix too many.
		for _, k := range known {
			if strings.HasPrefix(k, key) || strings.HasPrefix(key, k) {
				return k
			}
		}
	}
	return best
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and transpositions of neighbours cost 1.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// nullSectionOK names the sections that may be written empty: a chat
// platform's, which then is not used (the bot logs the platforms it
// serves), and store.redis, refused with a message of its own.
var nullSectionOK = map[string]bool{"slack": true, "discord": true, "store.redis": true}

// isSection reports whether a key of type t holds a mapping of keys of its
// own (a struct), as opposed to a value, a list or a mapping of names.
func isSection(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct && t != durationType
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	// Not the value itself: it may hold an expanded secret.
	switch n.ShortTag() {
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "true or false"
	case "!!null":
		return "nothing"
	}
	return "a string"
}

// join appends a key to a dotted path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// where names a path in messages.
func where(path string) string {
	if path == "" {
		return "the top level"
	}
	return path
}
