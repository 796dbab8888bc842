package saga_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/orders/saga"
	"github.com/orderpipe/orderpipe/schemas"
)

// TestEffectsMatchTheContract runs every way an order can go and validates
// each event, command and state the saga emits against its JSON Schema with
// the strict validator (nothing undocumented, nothing missing).
func TestEffectsMatchTheContract(t *testing.T) {
	v, err := schemas.NewValidator(schemas.Strict())
	if err != nil {
		t.Fatal(err)
	}
	var all []saga.Effects
	collect := func(fx saga.Effects) { all = append(all, fx) }

	s, fx := saga.Place(request(), nil, t0, timeout)
	collect(fx)
	confirmed := s
	for _, r := range []saga.Result{reserved(1, "beans", 2, 1850), reserved(2, "grinder", 1, 0), reserved(3, "beans", 3, 1850)} {
		confirmed, fx, err = confirmed.Answer(r, t0.Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		collect(fx)
	}
	_, fx, err = s.Answer(rejected(2, "grinder", 1, schemas.ReasonInactiveProduct), t0)
	if err != nil {
		t.Fatal(err)
	}
	collect(fx)
	_, fx = s.Cancel(saga.Cancel{CommandID: "c"}, t0) // no reason
	collect(fx)
	_, fx = s.Cancel(saga.Cancel{CommandID: "c", Reason: "changed my mind"}, t0)
	collect(fx)
	_, fx = s.Timeout(t0.Add(timeout))
	collect(fx)
	_, fx = saga.Place(request(), &saga.Held{CommandID: "c"}, t0, timeout)
	collect(fx)

	seen := map[string]int{}
	check := func(ceType string, value any) {
		b, err := json.Marshal(value)
		if err != nil {
			t.Fatal(err)
		}
		seen[ceType]++
		if err := v.ValidateRecord(ceType, b); err != nil {
			t.Errorf("%s: %v\n%s", ceType, err, b)
		}
	}
	for _, fx := range all {
		for _, ev := range fx.Events {
			check(ev.Type, ev)
			if err := v.Validate(schemas.SchemaOrderEvent, mustJSON(t, ev)); err != nil {
				t.Errorf("order-event union: %v", err)
			}
		}
		for _, c := range fx.Commands {
			check(schemas.TypeInventoryCommand, c)
		}
		if fx.State != nil {
			check(schemas.TypeOrderState, *fx.State)
		}
	}
	for _, typ := range []string{schemas.TypeOrderPlaced, schemas.TypeOrderConfirmed, schemas.TypeOrderRejected,
		schemas.TypeOrderCancelled, schemas.TypeOrderState, schemas.TypeInventoryCommand} {
		if seen[typ] == 0 {
			t.Errorf("no %s was checked", typ)
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
