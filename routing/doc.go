// Package routing decides which carriers may take a message and in what
// order, and keeps a circuit breaker per carrier.
//
// A Table is built once from configuration and never changed: a reload
// builds a new Table and the Router swaps it atomically, so a Plan in
// progress always sees one consistent table, and breakers (which belong to
// carriers, not to tables) survive reloads.
//
// Ordering: longest matching prefix first; within a prefix, cost, then
// priority (higher first); candidates equal in all three are ordered by a
// weighted random draw seeded by the message's key, so traffic splits by
// weight while a retried message keeps its order. Routes of shorter
// matching prefixes follow as fallbacks. A carrier appears once, at its best
// position. Routes whose filters (tenant, sender, hours) do not match, open
// breakers and carriers with no bind up are left out, and Explain says why.
//
// Pinned carriers: a query with Pinned (a reply's inbound carrier, a
// caller's smsc=) is planned through that carrier alone, at the price of
// the route that lists it, or at cost 0 while it is up where no usable
// route does; the other carriers' routes show as "pinned to ..." in
// Explain. The engine's dispatcher asks for candidates and decides nothing
// about pinning.
//
// Whether a carrier runs here and is up is the engine's to say: it owns the
// connectors and hands the Router its answer (UseCarrierStates, called by
// gateway.New). Options.Up serves a Router used before or without an engine.
package routing
