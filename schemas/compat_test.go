package schemas_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/orderpipe/orderpipe/schemas"
)

// Published schemas are frozen in compat/v1. A schema change must keep
// every existing consumer working AND every record already on a topic valid
// (compacted topics and replays keep old records forever), so against its
// frozen copy a schema may only add optional properties, add enum values and
// add branches to a union. After a compatible change, refresh the frozen
// copies with: go test ./schemas -run TestSchemasStayCompatible -freeze
var freeze = flag.Bool("freeze", false, "copy the current schemas over their frozen copies in compat/v1 (only if compatible)")

const frozenDir = "compat/v1"

type schemaSet map[string]any // file name → decoded document

func loadSet(fsys fs.FS, dir string) (schemaSet, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	set := schemaSet{}
	for _, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		set[path.Base(n)] = doc
	}
	return set, nil
}

// compatChecker compares an old (published) schema set with a new one.
type compatChecker struct {
	old, new schemaSet
	breaks   []string
	seen     map[string]bool
}

func checkCompatible(old, new schemaSet) []string {
	c := &compatChecker{old: old, new: new, seen: map[string]bool{}}
	files := make([]string, 0, len(old))
	for f := range old {
		files = append(files, f)
	}
	sort.Strings(files)
	for _, f := range files {
		n, ok := new[f]
		if !ok {
			c.report(f, "", "published schema removed")
			continue
		}
		oid, _ := obj(old[f])["$id"].(string)
		nid, _ := obj(n)["$id"].(string)
		if oid != nid {
			c.report(f, "", fmt.Sprintf("$id changed from %q to %q", oid, nid))
		}
		c.compare(f, "", f, old[f], f, n)
	}
	return c.breaks
}

func (c *compatChecker) report(file, at, msg string) {
	if at == "" {
		at = "/"
	}
	c.breaks = append(c.breaks, fmt.Sprintf("%s %s: %s", file, at, msg))
}

func obj(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// resolve follows $ref (relative to file) to the schema it names.
func (c *compatChecker) resolve(set schemaSet, file string, node any) (string, any) {
	for range 32 {
		ref, ok := obj(node)["$ref"].(string)
		if !ok {
			return file, node
		}
		target, ptr, _ := strings.Cut(ref, "#")
		if target != "" {
			file = path.Base(target)
		}
		node = set[file]
		for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
			if tok == "" {
				continue
			}
			node = obj(node)[strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)]
		}
	}
	return file, node
}

var boundKeywords = []string{"const", "format", "pattern", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
	"minLength", "maxLength", "minItems", "maxItems", "multipleOf", "contentEncoding"}

func (c *compatChecker) compare(where, at, oldFile string, oldNode any, newFile string, newNode any) {
	oldFile, oldNode = c.resolve(c.old, oldFile, oldNode)
	newFile, newNode = c.resolve(c.new, newFile, newNode)
	key := fmt.Sprintf("%s|%p|%p", at, oldNode, newNode)
	if c.seen[key] {
		return
	}
	c.seen[key] = true
	o, n := obj(oldNode), obj(newNode)
	if o == nil {
		return
	}
	if n == nil {
		c.report(where, at, "schema removed")
		return
	}
	if ot, nt := types(o["type"]), types(n["type"]); !slices.Equal(ot, nt) {
		c.report(where, at, fmt.Sprintf("type changed from %v to %v", ot, nt))
	}
	for _, k := range boundKeywords {
		if ov, nv := o[k], n[k]; !reflect.DeepEqual(ov, nv) {
			c.report(where, at, fmt.Sprintf("%s changed from %v to %v", k, ov, nv))
		}
	}
	if oe, ok := o["enum"].([]any); ok {
		ne, _ := n["enum"].([]any)
		for _, v := range oe {
			if !slices.ContainsFunc(ne, func(x any) bool { return reflect.DeepEqual(x, v) }) {
				c.report(where, at, fmt.Sprintf("enum value %v removed", v))
			}
		}
	} else if _, ok := n["enum"]; ok {
		c.report(where, at, "enum added to an open value")
	}
	oreq, nreq := strs(o["required"]), strs(n["required"])
	for _, r := range nreq {
		if !slices.Contains(oreq, r) {
			c.report(where, at, fmt.Sprintf("required property %q added", r))
		}
	}
	for _, r := range oreq {
		if !slices.Contains(nreq, r) {
			c.report(where, at, fmt.Sprintf("property %q no longer required", r))
		}
	}
	for _, k := range []string{"additionalProperties", "unevaluatedProperties"} {
		if closed(o[k]) != closed(n[k]) && closed(n[k]) {
			c.report(where, at, k+" closed")
		}
	}
	oprops, nprops := obj(o["properties"]), obj(n["properties"])
	for name, op := range oprops {
		np, ok := nprops[name]
		if !ok {
			c.report(where, at, fmt.Sprintf("property %q removed", name))
			continue
		}
		c.compare(where, at+"/"+name, oldFile, op, newFile, np)
	}
	for _, k := range []string{"items", "if", "then", "else", "not"} {
		if ov, ok := o[k]; ok {
			nv, ok := n[k]
			if !ok {
				c.report(where, at, k+" removed")
				continue
			}
			c.compare(where, at+"/"+k, oldFile, ov, newFile, nv)
		} else if _, ok := n[k]; ok {
			c.report(where, at, k+" added")
		}
	}
	for _, k := range []string{"allOf", "oneOf", "anyOf"} {
		ob, _ := o[k].([]any)
		nb, _ := n[k].([]any)
		if k == "allOf" && len(nb) != len(ob) || len(nb) < len(ob) {
			c.report(where, at, fmt.Sprintf("%s has %d branches, was %d", k, len(nb), len(ob)))
			continue
		}
		for i := range ob {
			c.compare(where, fmt.Sprintf("%s/%s[%d]", at, k, i), oldFile, ob[i], newFile, nb[i])
		}
	}
}

func types(v any) []string {
	var out []string
	switch t := v.(type) {
	case string:
		out = []string{t}
	case []any:
		out = strs(t)
	}
	sort.Strings(out)
	return out
}

func strs(v any) []string {
	a, _ := v.([]any)
	out := make([]string, 0, len(a))
	for _, x := range a {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func closed(v any) bool { b, ok := v.(bool); return ok && !b }

// TestSchemasStayCompatible fails when a schema change would break existing
// consumers or make records already on a topic invalid.
func TestSchemasStayCompatible(t *testing.T) {
	current, err := loadSet(schemas.Files, "json")
	if err != nil {
		t.Fatal(err)
	}
	frozen, err := loadSet(os.DirFS("."), frozenDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(frozen) == 0 {
		t.Fatalf("no frozen schemas in %s", frozenDir)
	}
	for _, b := range checkCompatible(frozen, current) {
		t.Errorf("incompatible: %s", b)
	}
	for f := range current {
		if _, ok := frozen[f]; !ok {
			t.Logf("%s is not frozen yet (run with -freeze once it is published)", f)
		}
	}
	if *freeze && !t.Failed() {
		names, _ := fs.Glob(schemas.Files, "json/*.json")
		for _, n := range names {
			b, _ := schemas.Files.ReadFile(n)
			if err := os.WriteFile(filepath.Join(frozenDir, path.Base(n)), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("froze %d schemas into %s", len(names), frozenDir)
	}
}

// TestCompatibilityCheckCatchesBreaks proves the check above can fail: each
// mutation breaks a consumer or an old record and must be reported; the
// compatible changes must not be.
func TestCompatibilityCheckCatchesBreaks(t *testing.T) {
	base, err := loadSet(schemas.Files, "json")
	if err != nil {
		t.Fatal(err)
	}
	clone := func() schemaSet {
		b, _ := json.Marshal(base)
		var s schemaSet
		_ = json.Unmarshal(b, &s)
		return s
	}
	props := func(s schemaSet, file string) map[string]any { return obj(obj(s[file])["properties"]) }
	defs := func(s schemaSet) map[string]any { return obj(obj(s["common.v1.json"])["$defs"]) }
	addRequired := func(s schemaSet, file, name string) {
		o := obj(s[file])
		o["required"] = append(o["required"].([]any), name)
	}
	cases := []struct {
		name   string
		mutate func(schemaSet)
		want   string // substring of a reported break; "" = compatible
	}{
		{"remove a property", func(s schemaSet) { delete(props(s, "order-confirmed.v1.json"), "total") }, `property "total" removed`},
		{"add a required property", func(s schemaSet) {
			props(s, "order-placed.v1.json")["channel"] = map[string]any{"type": "string"}
			addRequired(s, "order-placed.v1.json", "channel")
		}, `required property "channel" added`},
		{"make a property optional", func(s schemaSet) {
			o := obj(s["order-rejected.v1.json"])
			o["required"] = slices.DeleteFunc(o["required"].([]any), func(v any) bool { return v == "reason" })
		}, `"reason" no longer required`},
		{"retype a property", func(s schemaSet) { props(s, "order-state.v1.json")["reason"] = map[string]any{"type": "integer"} }, "type changed"},
		{"retype a shared definition", func(s schemaSet) { obj(defs(s)["version"])["type"] = "string" }, "type changed"},
		{"remove an enum value", func(s schemaSet) {
			d := obj(defs(s)["rejectionReason"])
			d["enum"] = slices.DeleteFunc(d["enum"].([]any), func(v any) bool { return v == "timeout" })
		}, "enum value timeout removed"},
		{"tighten a pattern", func(s schemaSet) { obj(defs(s)["currency"])["pattern"] = "^(USD|EUR)$" }, "pattern changed"},
		{"lower a bound", func(s schemaSet) { obj(defs(s)["lines"])["maxItems"] = 50.0 }, "maxItems changed"},
		{"close an object", func(s schemaSet) { obj(s["order-placed.v1.json"])["additionalProperties"] = false }, "additionalProperties closed"},
		{"drop an event type from the union", func(s schemaSet) {
			o := obj(s["order-event.v1.json"])
			o["oneOf"] = o["oneOf"].([]any)[:3]
		}, "oneOf has 3 branches, was 4"},
		{"delete a published schema", func(s schemaSet) { delete(s, "order-cancelled.v1.json") }, "published schema removed"},
		{"drop a conditional requirement", func(s schemaSet) { delete(obj(s["order-state.v1.json"]), "allOf") }, "allOf has 0 branches"},
		{"add an optional property", func(s schemaSet) { props(s, "order-placed.v1.json")["channel"] = map[string]any{"type": "string"} }, ""},
		{"add an enum value", func(s schemaSet) {
			d := obj(defs(s)["rejectionReason"])
			d["enum"] = append(d["enum"].([]any), "fraud_suspected")
		}, ""},
		{"add an event type to the union", func(s schemaSet) {
			o := obj(s["order-event.v1.json"])
			o["oneOf"] = append(o["oneOf"].([]any), map[string]any{"$ref": "order-cancelled.v1.json"})
		}, ""},
		{"edit a description", func(s schemaSet) { obj(s["order-state.v1.json"])["description"] = "changed" }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := clone()
			tc.mutate(s)
			breaks := checkCompatible(base, s)
			if tc.want == "" {
				if len(breaks) > 0 {
					t.Fatalf("a compatible change was reported: %v", breaks)
				}
				return
			}
			if !slices.ContainsFunc(breaks, func(b string) bool { return strings.Contains(b, tc.want) }) {
				t.Fatalf("want a break containing %q, got %v", tc.want, breaks)
			}
		})
	}
}
