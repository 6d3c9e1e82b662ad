// Package smsc is an in-process SMSC simulator: the SMPP server side that
// smsgw's tests, the bench tool and `smsgw simulate-smsc` talk to instead of a
// carrier.
//
// It follows the net/http/httptest pattern: NewServer listens on 127.0.0.1:0
// and serves at once, Addr tells the client where to dial, Close tears it
// down. Faults are injected per submit_sm through a Handler, and everything
// the simulator saw is kept for assertions (Stats, Submits, Delivers).
//
// The package is deliberately self-contained (it imports gosmpp's pdu and data
// packages but not smsgw's smpp package): the receipt text it sends is
// formatted here from SMPP 3.4 Appendix B, so the client-side parser is tested
// against an independent writer, and package smpp's own tests may import smsc
// without an import cycle.
//
// Concurrency: every connection has one reading goroutine and one writing
// goroutine; writes from the reader, from delayed-response timers and from
// SendMO are queued to the writer, which batches them in a bufio.Writer and
// flushes when its queue is empty. Recording is a mutex-guarded append.
// Lock order: Server.mu before a session's mu (Stats and receiver selection
// read session state under Server.mu); neither is held while sending on a
// connection, and handlers and timers run with no lock held.
package smsc
