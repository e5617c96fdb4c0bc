// Package jsonkeep keeps the members of a stored JSON object that this
// version of a type does not know, so that reading the object, changing it
// and writing it back keeps what a newer version wrote there. Replicas of
// two versions share one state store during a rolling upgrade: without it,
// the older one's write of a record, a lock or a train car would drop the
// newer one's fields, and the newer one would read them back as never set.
//
// A type keeps them in an unexported Unknown field, filled by its
// UnmarshalJSON through Decode and written by its MarshalJSON through
// Encode. An Unknown is a string, so that the type stays comparable.
package jsonkeep

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// Unknown holds the members of an object that the type decoding it does
// not know, as they were written: a JSON object, "" when there are none.
type Unknown string

// known maps a struct type to the member names its fields decode.
var known sync.Map // reflect.Type → map[string]bool

// Decode unmarshals data into v, a pointer to a struct type without an
// UnmarshalJSON method of its own (the caller's type converted to one),
// and returns the members of data none of v's fields decodes.
func Decode(data []byte, v any) (Unknown, error) {
	if err := json.Unmarshal(data, v); err != nil {
		return "", err
	}
	if !bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("{")) {
		return "", nil // null
	}
	names := fieldNames(reflect.TypeOf(v).Elem())
	if !hasUnknown(data, names) {
		// Most often: decoding the members apart would cost more than
		// decoding the value did.
		return "", nil
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return "", err
	}
	for name := range members {
		if names[strings.ToLower(name)] {
			delete(members, name)
		}
	}
	if len(members) == 0 {
		return "", nil
	}
	out, err := json.Marshal(members)
	if err != nil {
		return "", err
	}
	return Unknown(out), nil
}

// Encode marshals v, a struct without a MarshalJSON method of its own,
// with the members of u that its own encoding does not hold.
func Encode(v any, u Unknown) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil || u == "" {
		return data, err
	}
	var members, unknown map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return nil, fmt.Errorf("encode with unknown members: %w", err)
	}
	if err := json.Unmarshal([]byte(u), &unknown); err != nil {
		return nil, fmt.Errorf("encode with unknown members: %w", err)
	}
	names := fieldNames(reflect.TypeOf(v))
	for name, raw := range unknown {
		// A member this version knows is its own to write or to leave
		// out (omitempty), whatever was read.
		if !names[strings.ToLower(name)] {
			members[name] = raw
		}
	}
	return json.Marshal(members)
}

// hasUnknown reports whether the JSON object data, which json.Unmarshal
// accepted, has a member whose name is not in names, or may have one: a
// name written with escapes is not unescaped here.
func hasUnknown(data []byte, names map[string]bool) bool {
	depth, key := 0, false
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '{':
			depth++
			key = depth == 1
		case '[':
			depth++
		case '}', ']':
			depth--
		case ',':
			key = depth == 1
		case '"':
			j, escaped := i+1, false
			for ; j < len(data) && data[j] != '"'; j++ {
				if data[j] == '\\' {
					escaped = true
					j++
				}
			}
			if key {
				name := data[i+1 : j]
				if escaped || !names[string(name)] && !names[strings.ToLower(string(name))] {
					return true
				}
				key = false
			}
			i = j
		}
	}
	return false
}

// fieldNames returns the member names, lower-cased as encoding/json
// matches them, that the exported fields of struct type t decode.
func fieldNames(t reflect.Type) map[string]bool {
	if m, ok := known.Load(t); ok {
		return m.(map[string]bool)
	}
	m := map[string]bool{}
	addFields(t, m)
	known.Store(t, m)
	return m
}

func addFields(t reflect.Type, m map[string]bool) {
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			addFields(f.Type, m)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[strings.ToLower(name)] = true
	}
}
