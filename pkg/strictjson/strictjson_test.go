package strictjson

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)
	okDeep := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	for _, tc := range []struct {
		doc, dupKey string
		depth       bool
	}{
		{`{"a":1,"b":{"a":2},"c":[{"a":1},{"a":2}]}`, "", false},
		{`{"a":1,"a":2}`, "a", false},
		{`{"customerId":"x","customerid":"y"}`, "customerid", false},
		{`{"customerId":"x","CUSTOMERID":"y"}`, "CUSTOMERID", false},
		{`{"k":1,"\u212a":2}`, "\u212a", false}, // KELVIN SIGN folds to k, as encoding/json matches it
		{`{"a":1,"\u0061":2}`, "a", false},
		{`{"x":{"lines":[{"productId":"p","productId":"q"}]}}`, "productId", false},
		{`{"1":0,"2":0,"3":0,"4":0,"5":0,"6":0,"7":0,"8":0,"9":0,"10":0,"3":1}`, "3", false},
		{`{"1":0,"2":0,"3":0,"4":0,"5":0,"6":0,"7":0,"8":0,"9":0,"10":0,"11":1}`, "", false},
		{deep, "", true},
		{okDeep, "", false},
		{`{"a":` + strings.Repeat(`{"a":`, MaxDepth) + `1` + strings.Repeat("}", MaxDepth+1), "", true},
		{`not json`, "", false},
		{`"str\"ing"`, "", false},
	} {
		err := Check([]byte(tc.doc))
		var e *Error
		switch {
		case tc.dupKey == "" && !tc.depth && err != nil:
			t.Errorf("%.60s: %v; want nil", tc.doc, err)
		case tc.dupKey != "" && (!errors.As(err, &e) || e.Key != tc.dupKey):
			t.Errorf("%.60s: %v; want duplicate %q", tc.doc, err, tc.dupKey)
		case tc.depth && (!errors.As(err, &e) || !e.Depth):
			t.Errorf("%.60s: %v; want a depth error", tc.doc, err)
		}
	}
}

// FuzzCheck: never panics; anything it refuses is valid JSON; anything
// without a repeated name that encoding/json reads into a map reads the
// same member count as its raw members.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{`{"a":1,"a":2}`, `{"a":[1,{"b":"\u0062","B":2}]}`, `[[[[]]]]`, `{"\ud800":1,"\ud800":2}`, `{"a":"\\","b":"\"}"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := Check(b)
		if err != nil && !json.Valid(b) {
			t.Fatalf("refused invalid JSON %q: %v", b, err)
		}
		var m map[string]json.RawMessage
		if err == nil && json.Unmarshal(b, &m) == nil && m != nil {
			seen := map[string]bool{}
			for k := range m {
				if seen[fold(k)] {
					t.Fatalf("%q: names %v fold together but Check passed", b, m)
				}
				seen[fold(k)] = true
			}
		}
	})
}
