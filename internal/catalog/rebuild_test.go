package catalog

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/testenv"
	"github.com/orderpipe/orderpipe/schemas"
)

// An import lands every good line on the topics (bad lines reported, not
// fatal); a rebuild recreates the projection from scratch: a lost index and
// a stray key are repaired, carts are left alone.
func TestImportThenRebuild(t *testing.T) {
	t.Parallel()
	k, r := servers(t)
	h := startCatalog(t, testConfig(k, r))
	ctx := context.Background()

	var b strings.Builder
	b.WriteString("productId,name,categoryId,priceAmount,currency,stock\n")
	for i := range 250 {
		cat := []string{"a", "b"}[i%2]
		b.WriteString(fmtID("p", i) + ",Imported " + fmtID("item", i) + "," + cat + ",1999,USD,7\n")
	}
	b.WriteString("p-bad,No Price,a,,USD,1\n")
	b.WriteString(fmtID("p", 0) + ",Imported Twice,a,2999,USD,7\n") // a later line wins
	var progress int
	sum, err := Import(ctx, k, strings.NewReader(b.String()), ImportOptions{Format: FormatCSV, Source: "t.csv",
		Progress: func(ImportProgress) { progress++ }})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Lines != 252 || sum.Products != 251 || sum.Adjustments != 251 || len(sum.Bad) != 1 || sum.Bad[0].Line != 252 || progress == 0 {
		t.Fatalf("summary: %+v (progress reports %d)", sum, progress)
	}
	cmds := testenv.ReadAll(t, k, kafka.TopicNames(k.TopicPrefix).InventoryCommands)
	if len(cmds) != 251 || kafka.Header(cmds[0], kafka.HeaderType) != schemas.TypeInventoryCommand {
		t.Fatalf("%d adjust commands", len(cmds))
	}
	eventually(t, 30*time.Second, "import projected", func() bool {
		return len(walk(t, h, "pageSize=200")) == 250 && field(h.get("/api/v1/products/p-00000").Body, "name") == "Imported Twice"
	})
	cart := h.do("POST", "/api/v1/carts", "", nil).Body["id"].(string)

	rdb := redis.NewClient(mustParse(t, r.URL))
	t.Cleanup(func() { _ = rdb.Close() })
	store := NewStore(rdb, r.KeyPrefix)
	if err := rdb.Del(ctx, store.k+"ix:all", store.k+"ix:c:b").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, store.k+"p:ghost", "junk", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got := len(walk(t, h, "pageSize=200&categoryId=b")); got != 0 {
		t.Fatalf("index deleted, yet %d listed", got)
	}

	st, err := Rebuild(ctx, k, r, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if st.Products != 251 || st.KeysDeleted == 0 {
		t.Fatalf("rebuild stats: %+v", st)
	}
	if n, _ := rdb.Exists(ctx, store.k+"p:ghost").Result(); n != 0 {
		t.Fatal("a stray key survived the rebuild")
	}
	eventually(t, 10*time.Second, "listings whole again", func() bool {
		return len(walk(t, h, "pageSize=200")) == 250 && len(walk(t, h, "categoryId=b&pageSize=200")) == 125
	})
	if got := h.get("/api/v1/carts/" + cart); got.Status != 200 {
		t.Fatalf("rebuild touched carts: %d", got.Status)
	}
	if field(h.get("/api/v1/products/p-00000").Body, "name") != "Imported Twice" {
		t.Fatal("replay order: the last record of a product must win")
	}
}
