-- order_lines rows are written only in the statement that writes their
-- order (the sink's upsert), so they cannot be orphaned; the foreign key's
-- per-row check and parent-row lock cost the sink more than a third of its
-- write time (docs/benchmarks.md). Rebuild the tables with TRUNCATE … CASCADE
-- of all four, not DELETE FROM orders.

-- +goose Up
ALTER TABLE order_lines DROP CONSTRAINT order_lines_order_id_fkey;

-- +goose Down
ALTER TABLE order_lines ADD CONSTRAINT order_lines_order_id_fkey
    FOREIGN KEY (order_id) REFERENCES orders (order_id) ON DELETE CASCADE;
