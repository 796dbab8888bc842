// Package intake turns an order request into a durable record on
// orders.requests.v1 and decides its HTTP answer. It is shared by the
// ingress's POST /api/v1/orders and catalog-api's POST /api/v1/carts/{id}/checkout,
// so both answer the same way for the same request.
//
// # Using it
//
//	producer, _ := kafka.NewProducer(cfg.Kafka, logger, intake.ProducerOpts(cfg.Kafka, cfg.Intake)...)
//	in, _ := intake.New(cfg.Intake, intake.Deps{Kafka: cfg.Kafka, Redis: cfg.Redis, Producer: producer,
//		RDB: rdb, Logger: logger, Metrics: env.Metrics, Tracer: env.Tracer})
//	defer in.Close(ctx) // then flush and close the producer
//
//	if p := intake.ValidateKey(key); p != nil { problem.Write(w, r, p); return }   // 400
//	order, p := intake.Parse(body, cfg.Intake.DefaultCurrency)                      // 400 listing every field
//	if p != nil { problem.Write(w, r, p); return }
//	acc, err := in.Submit(ctx, intake.Submission{Scope: sub /* "" = customerId */, Key: key, Order: order})
//	if err != nil { /* a *problem.Problem: 409, 422, 429 or 503 with Retry-After */ }
//	ingress.WriteAccepted(w, acc) // 202, Location, {"orderId", "status":"ACCEPTED"}
//
// Config is registered like any settings group (Register/Validate); every
// service that embeds it reads the same variables.
//
// # What Submit guarantees
//
//   - It returns an Accepted only after every in-sync replica acknowledged the
//     record (idempotent producer, acks=all), or when Redis shows the same
//     key already accepted with the same body (a replay).
//   - orderId = schemas.OrderID(scope, key); the record's key is
//     schemas.RequestKey(scope, key), its partition kafka.PartitionFor(orderId),
//     its value schemas.OrderRequest with BodyHash (see BodyHash), its headers
//     CloudEvents binary mode plus traceparent.
//   - Idempotency (IETF Idempotency-Key draft), fast path in Redis: the same key
//     with another body is 422, while the first is in flight 409, after
//     acceptance a replay. When Redis is unavailable the request is accepted in
//     degraded mode (outcome "degraded"): the order-processor's dedupe store
//     decides, first write wins. A failed produce releases the key at once.
//   - Overload and outages answer fast: 429 over the global or per-scope rate,
//     503 when PRODUCE_MAX_IN_FLIGHT records await acknowledgement, when the
//     Kafka circuit breaker is open, or when the ack takes longer than
//     PRODUCE_TIMEOUT — each with Retry-After. Retrying with the same key is
//     always safe.
//
// Lookup reads what Redis knows of an order (the orderview projection, else
// the intake's own record as ACCEPTED); Cancel produces a cancel command.
// Redis layout: "<REDIS_KEY_PREFIX>idem:<orderId>" (see idem.go); the status
// projection's layout is package orderview.
package intake
