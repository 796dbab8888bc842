package streams_test

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/streams"
	"github.com/orderpipe/orderpipe/streams/storetest"
)

func TestMemoryStoreContract(t *testing.T) {
	storetest.Run(t, storetest.Subject[string]{
		Open:  func(*testing.T) streams.Store[string] { return streams.NewMemoryStore[string]() },
		Value: func(i int) string { return fmt.Sprintf("value-%d", i) },
	})
}

// viaRuntime is a Store whose every write goes through a task's
// transactional view and is committed — so into the changelog — and whose
// Reopen is a new owner restoring the task from that changelog.
type viaRuntime struct {
	d   *streams.TestDriver
	def *streams.StoreDef[string]
	t   *testing.T
}

func (s *viaRuntime) view() *streams.StoreView[string] { return s.def.Of(s.d.Task(0)) }

func (s *viaRuntime) Get(k string) (string, bool, error) { return s.view().Get(k) }

func (s *viaRuntime) Set(k, v string) error { s.view().Put(k, v); return s.d.Commit() }

func (s *viaRuntime) Delete(k string) error { s.view().Delete(k); return s.d.Commit() }

func (s *viaRuntime) Range(fn func(string, string) bool) error { return s.view().Range(fn) }

func (s *viaRuntime) Len() int {
	n := 0
	_ = s.view().Range(func(string, string) bool { n++; return true })
	return n
}

func (s *viaRuntime) Close() error { return nil }

// TestChangelogStoreContract runs the store contract on the runtime's view:
// values committed through it land in the changelog, and a restore from the
// changelog gives the same store back.
func TestChangelogStoreContract(t *testing.T) {
	storetest.Run(t, storetest.Subject[string]{
		Open: func(t *testing.T) streams.Store[string] {
			def := streams.NewStore("kv", streams.JSON[string](1))
			topo := streams.NewTopology("contract", kafka.ByProduct).
				Input("in", func(*streams.Task, *kgo.Record) error { return nil }).Store(def)
			d, err := streams.NewTestDriver(topo, 1)
			if err != nil {
				t.Fatal(err)
			}
			return &viaRuntime{d: d, def: def, t: t}
		},
		Reopen: func(t *testing.T, s streams.Store[string]) streams.Store[string] {
			v := s.(*viaRuntime)
			if err := v.d.Restart(); err != nil {
				t.Fatal(err)
			}
			return v
		},
		Value: func(i int) string { return fmt.Sprintf("value-%d", i) },
	})
}
