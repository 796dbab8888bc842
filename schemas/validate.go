package schemas

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Files holds the JSON Schema 2020-12 documents of every record (json/*.json).
//
//go:embed json/*.json
var Files embed.FS

// SchemaBase is the base URI of the documents' $id; a file json/X has $id SchemaBase+X.
const SchemaBase = "https://schemas.orderpipe.io/"

// Schema file names.
const (
	SchemaOrderRequest     = "order-request.v1.json"
	SchemaOrderCommand     = "order-command.v1.json"
	SchemaOrderPlaced      = "order-placed.v1.json"
	SchemaOrderConfirmed   = "order-confirmed.v1.json"
	SchemaOrderRejected    = "order-rejected.v1.json"
	SchemaOrderCancelled   = "order-cancelled.v1.json"
	SchemaOrderEvent       = "order-event.v1.json"
	SchemaOrderState       = "order-state.v1.json"
	SchemaInventoryCommand = "inventory-command.v1.json"
	SchemaInventoryResult  = "inventory-result.v1.json"
	SchemaStockSnapshot    = "stock-snapshot.v1.json"
	SchemaProduct          = "product.v1.json"
	SchemaHeaders          = "cloudevents-headers.v1.json"
)

// schemaByType maps a ce_type to the schema file of its value.
var schemaByType = map[string]string{
	TypeOrderRequested:   SchemaOrderRequest,
	TypeOrderCancelReq:   SchemaOrderCommand,
	TypeOrderPlaced:      SchemaOrderPlaced,
	TypeOrderConfirmed:   SchemaOrderConfirmed,
	TypeOrderRejected:    SchemaOrderRejected,
	TypeOrderCancelled:   SchemaOrderCancelled,
	TypeOrderState:       SchemaOrderState,
	TypeInventoryCommand: SchemaInventoryCommand,
	TypeInventoryResult:  SchemaInventoryResult,
	TypeStockSnapshot:    SchemaStockSnapshot,
	TypeProduct:          SchemaProduct,
}

// SchemaFor returns the schema file of a record whose ce_type is ceType.
func SchemaFor(ceType string) (string, bool) {
	s, ok := schemaByType[ceType]
	return s, ok
}

// Types lists every ce_type of the contract, sorted.
func Types() []string {
	out := make([]string, 0, len(schemaByType))
	for t := range schemaByType {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Validator checks record values and headers against the contract. Build one
// with NewValidator and share it; it is safe for concurrent use.
type Validator struct {
	compiled map[string]*jsonschema.Schema
}

// ValidatorOption tunes NewValidator.
type ValidatorOption func(*validatorConfig)

type validatorConfig struct{ strict bool }

// Strict makes every object reject properties its schema does not declare
// (unevaluatedProperties: false). Producers' tests use it to prove that
// nothing they emit is undocumented; consumers must not, because producers
// may add optional properties at any time.
func Strict() ValidatorOption { return func(c *validatorConfig) { c.strict = true } }

// NewValidator compiles every schema in Files.
func NewValidator(opts ...ValidatorOption) (*Validator, error) {
	var cfg validatorConfig
	for _, o := range opts {
		o(&cfg)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	names, err := fs.Glob(Files, "json/*.json")
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		b, err := Files.ReadFile(name)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("schemas: %s: %w", name, err)
		}
		if cfg.strict {
			closeObjects(doc)
		}
		if err := c.AddResource(SchemaBase+path.Base(name), doc); err != nil {
			return nil, fmt.Errorf("schemas: %s: %w", name, err)
		}
	}
	v := &Validator{compiled: make(map[string]*jsonschema.Schema, len(names))}
	for _, name := range names {
		s, err := c.Compile(SchemaBase + path.Base(name))
		if err != nil {
			return nil, fmt.Errorf("schemas: compile %s: %w", name, err)
		}
		v.compiled[path.Base(name)] = s
	}
	return v, nil
}

// closeObjects adds unevaluatedProperties: false to every schema object
// that declares properties.
func closeObjects(v any) {
	switch x := v.(type) {
	case map[string]any:
		if _, ok := x["properties"]; ok {
			if _, set := x["unevaluatedProperties"]; !set {
				x["unevaluatedProperties"] = false
			}
		}
		for k, child := range x {
			switch k {
			case "const", "enum", "if", "not": // values, and conditions that must keep matching
				continue
			}
			closeObjects(child)
		}
	case []any:
		for _, child := range x {
			closeObjects(child)
		}
	}
}

// Validate checks a JSON value against the schema file (e.g. SchemaOrderPlaced).
func (v *Validator) Validate(schema string, value []byte) error {
	s, ok := v.compiled[schema]
	if !ok {
		return fmt.Errorf("schemas: no schema %q", schema)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(value))
	if err != nil {
		return fmt.Errorf("schemas: %s: value is not JSON: %w", schema, err)
	}
	if err := s.Validate(inst); err != nil {
		return fmt.Errorf("schemas: %s: %w", schema, err)
	}
	return nil
}

// ValidateRecord checks a record's value against the schema its ce_type names.
func (v *Validator) ValidateRecord(ceType string, value []byte) error {
	s, ok := SchemaFor(ceType)
	if !ok {
		return fmt.Errorf("schemas: unknown ce_type %q", ceType)
	}
	return v.Validate(s, value)
}

// ValidateHeaders checks a record's headers (last value per key) against the
// CloudEvents header contract.
func (v *Validator) ValidateHeaders(headers map[string]string) error {
	b, err := json.Marshal(headers)
	if err != nil {
		return err
	}
	return v.Validate(SchemaHeaders, b)
}
