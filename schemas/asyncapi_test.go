package schemas_test

import (
	"os"
	"path"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/orderpipe/orderpipe/schemas"
)

type asyncAPIDoc struct {
	AsyncAPI string `yaml:"asyncapi"`
	Channels map[string]struct {
		Address  string                       `yaml:"address"`
		Messages map[string]map[string]string `yaml:"messages"`
		Bindings struct {
			Kafka struct {
				Topic string `yaml:"topic"`
			} `yaml:"kafka"`
		} `yaml:"bindings"`
	} `yaml:"channels"`
	Operations map[string]struct {
		Action  string            `yaml:"action"`
		Channel map[string]string `yaml:"channel"`
	} `yaml:"operations"`
	Components struct {
		Messages map[string]struct {
			Headers struct {
				AllOf []struct {
					Ref        string `yaml:"$ref"`
					Properties struct {
						CEType struct {
							Const string `yaml:"const"`
						} `yaml:"ce_type"`
					} `yaml:"properties"`
				} `yaml:"allOf"`
			} `yaml:"headers"`
			Payload struct {
				SchemaFormat string `yaml:"schemaFormat"`
				Schema       struct {
					Ref string `yaml:"$ref"`
				} `yaml:"schema"`
			} `yaml:"payload"`
		} `yaml:"messages"`
	} `yaml:"components"`
}

// TestAsyncAPIDescribesEveryTopicAndType: the AsyncAPI document names every
// contract topic, has a message for every ce_type whose payload is that
// type's schema file and whose headers pin ce_type, and its references
// resolve. (It was also checked against the official AsyncAPI 3.0.0 JSON
// Schema when written.)
func TestAsyncAPIDescribesEveryTopicAndType(t *testing.T) {
	raw, err := os.ReadFile("asyncapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc asyncAPIDoc
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.AsyncAPI != "3.0.0" {
		t.Fatalf("asyncapi %q, want 3.0.0", doc.AsyncAPI)
	}
	topics := map[string]bool{}
	for id, ch := range doc.Channels {
		if ch.Bindings.Kafka.Topic != "" {
			topics[ch.Bindings.Kafka.Topic] = true
			if ch.Address != "{prefix}"+ch.Bindings.Kafka.Topic {
				t.Errorf("channel %s: address %q does not match topic %q", id, ch.Address, ch.Bindings.Kafka.Topic)
			}
		}
		for name, m := range ch.Messages {
			ref := strings.TrimPrefix(m["$ref"], "#/components/messages/")
			if _, ok := doc.Components.Messages[ref]; !ok {
				t.Errorf("channel %s message %s: unresolved %q", id, name, m["$ref"])
			}
		}
	}
	for _, want := range []string{"orders.requests.v1", "orders.commands.v1", "orders.events.v1", "orders.state.v1",
		"inventory.commands.v1", "inventory.results.v1", "inventory.stock.v1", "catalog.products.v1"} {
		if !topics[want] {
			t.Errorf("no channel for topic %s", want)
		}
	}
	for id, op := range doc.Operations {
		ch := strings.TrimPrefix(op.Channel["$ref"], "#/channels/")
		if _, ok := doc.Channels[ch]; !ok || (op.Action != "send" && op.Action != "receive") {
			t.Errorf("operation %s: action %q channel %q", id, op.Action, op.Channel["$ref"])
		}
	}
	byType := map[string]string{}
	for id, m := range doc.Components.Messages {
		for _, part := range m.Headers.AllOf {
			if part.Ref != "" && part.Ref != "./json/"+schemas.SchemaHeaders {
				t.Errorf("message %s: headers reference %q", id, part.Ref)
			}
			if c := part.Properties.CEType.Const; c != "" {
				byType[c] = m.Payload.Schema.Ref
			}
		}
		if ref := m.Payload.Schema.Ref; ref != "" {
			if _, err := schemas.Files.ReadFile(path.Join("json", path.Base(ref))); err != nil {
				t.Errorf("message %s: payload %q: %v", id, ref, err)
			}
			if !strings.HasPrefix(m.Payload.SchemaFormat, "application/schema+json;version=draft-2020-12") {
				t.Errorf("message %s: schemaFormat %q", id, m.Payload.SchemaFormat)
			}
		}
	}
	for _, ty := range schemas.Types() {
		want, _ := schemas.SchemaFor(ty)
		if got := byType[ty]; got != "./json/"+want {
			t.Errorf("ce_type %s: AsyncAPI payload %q, want ./json/%s", ty, got, want)
		}
	}
	if extra := slices.DeleteFunc(mapKeys(byType), func(k string) bool { _, ok := schemas.SchemaFor(k); return ok }); len(extra) > 0 {
		t.Errorf("AsyncAPI names ce_types the Go contract does not: %v", extra)
	}
}

func mapKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
