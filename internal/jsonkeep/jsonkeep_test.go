package jsonkeep_test

import (
	"encoding/json"
	"testing"

	"github.com/switchman-bot/switchman/internal/jsonkeep"
)

// thing is a type as the store's types use the package.
type thing struct {
	Name  string `json:"name"`
	Note  string `json:"note,omitempty"`
	Count int    `json:",omitempty"`
	Skip  string `json:"-"`

	unknown jsonkeep.Unknown
}

type thingJSON thing

func (t *thing) UnmarshalJSON(data []byte) error {
	u, err := jsonkeep.Decode(data, (*thingJSON)(t))
	t.unknown = u
	return err
}

func (t thing) MarshalJSON() ([]byte, error) { return jsonkeep.Encode(thingJSON(t), t.unknown) }

func TestKeepsUnknownMembers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stored string
		change func(*thing)
		want   string
	}{
		{"none unknown", `{"name":"a","note":"n"}`, func(*thing) {}, `{"name":"a","note":"n"}`},
		{"unknown kept", `{"name":"a","approver":"ana","gates":[1,{"x":null}]}`, func(t *thing) { t.Name = "b" },
			`{"approver":"ana","gates":[1,{"x":null}],"name":"b"}`},
		// A member this version knows and clears is left out, not
		// written back from what was read.
		{"known cleared", `{"name":"a","note":"n","new":true}`, func(t *thing) { t.Note = "" }, `{"name":"a","new":true}`},
		// encoding/json matches names whatever their case: such a
		// member is a known one.
		{"known in another case", `{"Name":"a","NOTE":"n","count":2}`, func(t *thing) { t.Note, t.Count = "", 0 }, `{"name":"a"}`},
		// Braces, quotes and commas inside strings are no members.
		{"punctuation in strings", `{"name":"a \"}{, \"x\":1","note":"{\"y\":[2]}"}`, func(*thing) {},
			`{"name":"a \"}{, \"x\":1","note":"{\"y\":[2]}"}`},
		{"a name with escapes", `{"name":"a","n\u0061me2":1,"n\u0061me":"b"}`, func(*thing) {}, `{"name":"b","name2":1}`},
		{"a field with no name of its own", `{"name":"a","Count":3,"Skip":"s"}`, func(*thing) {}, `{"Count":3,"Skip":"s","name":"a"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v thing
			if err := json.Unmarshal([]byte(tc.stored), &v); err != nil {
				t.Fatal(err)
			}
			tc.change(&v)
			got, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// TestKeptInSlices: values in a slice keep theirs, as the hosts of a
// deploy record do; a copy of a value is still comparable and equal.
func TestKeptInSlices(t *testing.T) {
	var vs []thing
	if err := json.Unmarshal([]byte(`[{"name":"a","x":1},{"name":"b"},null]`), &vs); err != nil {
		t.Fatal(err)
	}
	c := vs[0]
	if c != vs[0] {
		t.Error("a copy is not equal to its value")
	}
	got, err := json.Marshal(vs)
	if err != nil {
		t.Fatal(err)
	}
	if want := `[{"name":"a","x":1},{"name":"b"},{"name":""}]`; string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestDecodeError(t *testing.T) {
	var v thing
	if err := json.Unmarshal([]byte(`{"name":1}`), &v); err == nil {
		t.Error("a member of the wrong type: got nil error")
	}
}
