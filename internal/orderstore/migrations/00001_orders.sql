-- The order projection of orders.state.v1 / orders.events.v1, written only by
-- the order-processor's sink. Kafka is the source of truth: these tables can
-- be dropped and rebuilt by replaying the topics (delete the sink's rows in
-- sink_offsets and it starts from the beginning).

-- +goose Up
CREATE TABLE orders (
    order_id         uuid        PRIMARY KEY,
    customer_id      text        NOT NULL,
    status           text        NOT NULL,
    version          bigint      NOT NULL CHECK (version > 0),
    currency         char(3)     NOT NULL,
    total_amount     bigint      CHECK (total_amount >= 0),  -- minor units; set once CONFIRMED
    reason           text,
    shipping_address jsonb       NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    persisted_at     timestamptz NOT NULL DEFAULT now()
);
-- GET /api/v1/orders?customerId=…: newest first, keyset pagination.
CREATE INDEX orders_customer_created ON orders (customer_id, created_at DESC, order_id DESC);

CREATE TABLE order_lines (
    order_id   uuid    NOT NULL REFERENCES orders (order_id) ON DELETE CASCADE,
    line_no    integer NOT NULL CHECK (line_no BETWEEN 1 AND 100),
    product_id text    NOT NULL,
    quantity   integer NOT NULL CHECK (quantity BETWEEN 1 AND 9999),
    unit_price bigint  CHECK (unit_price >= 0),  -- minor units of orders.currency; set once priced
    line_total bigint  CHECK (line_total >= 0),
    PRIMARY KEY (order_id, line_no)
);

-- One row per status an order reached, from orders.events.v1. A status is
-- reached at most once, so (order_id, status) makes replays harmless.
CREATE TABLE order_status_history (
    order_id    uuid        NOT NULL,
    status      text        NOT NULL,
    version     bigint      NOT NULL,
    reason      text,
    event_id    text        NOT NULL,  -- ce_id
    event_type  text        NOT NULL,  -- ce_type
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id, status)
);

-- The sink's consumed position per (consumer, topic, partition), written in
-- the same transaction as the rows: next_offset is the offset after the last
-- record applied (-1: nothing applied yet, start from the beginning).
CREATE TABLE sink_offsets (
    consumer    text        NOT NULL,
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    next_offset bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, topic, partition)
);

-- +goose Down
DROP TABLE sink_offsets;
DROP TABLE order_status_history;
DROP TABLE order_lines;
DROP TABLE orders;
