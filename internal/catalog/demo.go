package catalog

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/schemas"
)

// Demo catalog shape.
const (
	DemoProducts = 3000
	demoSource   = "demo-seed-v1"
)

var (
	demoCategories = []string{"electronics", "kitchen", "garden", "toys", "books", "sports", "clothing", "beauty", "office", "pets", "tools", "grocery"}
	demoAdjectives = []string{"Classic", "Compact", "Deluxe", "Eco", "Ergonomic", "Foldable", "Heavy-Duty", "Lightweight", "Modern", "Portable", "Premium", "Rustic", "Smart", "Vintage", "Wireless", "Waterproof"}
	demoColours    = []string{"Black", "Blue", "Copper", "Green", "Grey", "Ivory", "Orange", "Red", "Silver", "Teal", "White", "Yellow"}
	demoNouns      = map[string][]string{
		"electronics": {"Headphones", "Speaker", "Charger", "Keyboard", "Mouse", "Monitor", "Webcam", "Router"},
		"kitchen":     {"Kettle", "Toaster", "Blender", "Skillet", "Knife Set", "Mug", "Teapot", "Cutting Board"},
		"garden":      {"Hose", "Rake", "Planter", "Shears", "Lantern", "Bird Feeder", "Trowel", "Sprinkler"},
		"toys":        {"Puzzle", "Robot", "Kite", "Train Set", "Plush Bear", "Building Blocks", "Yo-Yo", "Drone"},
		"books":       {"Cookbook", "Atlas", "Novel", "Field Guide", "Sketchbook", "Journal", "Comic", "Dictionary"},
		"sports":      {"Yoga Mat", "Dumbbell", "Football", "Racket", "Water Bottle", "Jump Rope", "Helmet", "Backpack"},
		"clothing":    {"Hoodie", "Scarf", "Sneakers", "Raincoat", "Beanie", "Gloves", "T-Shirt", "Socks"},
		"beauty":      {"Hair Dryer", "Brush", "Mirror", "Razor", "Lotion", "Perfume", "Nail Kit", "Face Mask"},
		"office":      {"Desk Lamp", "Stapler", "Notebook", "Pen Set", "Chair", "Whiteboard", "Organizer", "Calculator"},
		"pets":        {"Dog Bed", "Cat Tree", "Leash", "Feeder", "Chew Toy", "Aquarium", "Litter Box", "Collar"},
		"tools":       {"Drill", "Hammer", "Saw", "Wrench Set", "Tape Measure", "Level", "Screwdriver", "Ladder"},
		"grocery":     {"Coffee Beans", "Olive Oil", "Honey", "Green Tea", "Pasta", "Chocolate", "Granola", "Spice Rack"},
	}
)

// DemoCatalog returns the demo products and their initial stock: about one
// product in twenty is scarce (1 to 5 in stock: a doorbuster), about one in
// fifty is sold out. It is deterministic: the same ids, names and prices on
// every run.
func DemoCatalog(n int) []ImportItem {
	rng := rand.New(rand.NewPCG(2026, 11)) //nolint:gosec // G404: demo data, deterministic on purpose
	items := make([]ImportItem, 0, n)
	for i := range n {
		cat := demoCategories[i%len(demoCategories)]
		nouns := demoNouns[cat]
		name := fmt.Sprintf("%s %s %s", demoAdjectives[rng.IntN(len(demoAdjectives))], demoColours[rng.IntN(len(demoColours))], nouns[rng.IntN(len(nouns))])
		price := int64(rng.IntN(498)+2)*100 + 99 // x.99 prices from 2.99 to 499.99
		var stock int64
		switch r := rng.IntN(100); {
		case r < 2:
			stock = 0
		case r < 7:
			stock = int64(1 + rng.IntN(5))
		default:
			stock = int64(20 + rng.IntN(480))
		}
		id := fmt.Sprintf("prod-%05d", i+1)
		items = append(items, ImportItem{Line: i + 1, Stock: &stock, Product: schemas.Product{
			ProductID: id, SKU: fmt.Sprintf("SKU-%s-%05d", cat[:3], i+1), Name: name,
			Description: fmt.Sprintf("%s from the %s aisle. Demo product %d.", name, cat, i+1),
			CategoryID:  cat, Price: schemas.Money{Amount: price, Currency: "USD"}, Active: true,
		}})
	}
	return items
}

// SeedDemo loads the demo catalog (DemoProducts products and their initial
// stock, as Adjust commands with fixed adjustmentIds) unless
// catalog.products.v1 already holds records: running `orderpipe dev` again
// keeps what the stack already has.
func SeedDemo(ctx context.Context, kc config.Kafka, out io.Writer) error {
	cl, err := kafka.NewProducer(kc, nil, kgo.MaxBufferedRecords(2*DemoProducts+100))
	if err != nil {
		return err
	}
	defer cl.Close()
	names := kafka.TopicNames(kc.TopicPrefix)
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, names.CatalogProducts)
	if err != nil {
		return fmt.Errorf("demo seed: %w", err)
	}
	var existing int64
	ends.Each(func(o kadm.ListedOffset) { existing += max(o.Offset, 0) })
	if existing > 0 {
		fmt.Fprintf(out, "demo catalog: %s already has %d records; not seeding\n", names.CatalogProducts, existing)
		return nil
	}
	items := DemoCatalog(DemoProducts)
	scarce := 0
	for _, it := range items {
		if *it.Stock <= 5 {
			scarce++
		}
	}
	start := time.Now()
	sum, err := produceItems(ctx, cl, NewRecords(kc.TopicPrefix), func(fn func(ImportItem, error) error) error {
		for _, it := range items {
			if err := fn(it, nil); err != nil {
				return err
			}
		}
		return nil
	}, ImportOptions{Source: demoSource, Now: time.Now})
	if err != nil {
		return fmt.Errorf("demo seed: %w", err)
	}
	fmt.Fprintf(out, "demo catalog: %d products in %d categories (%d scarce or sold out) and their stock, in %s\n",
		sum.Products, len(demoCategories), scarce, time.Since(start).Round(time.Millisecond))
	return nil
}
