// Package bench measures smsgw end to end: a real gateway (gRPC, SQLite
// store, SMPP binds) against the SMSC simulator on loopback, counting a
// message only when its delivery receipt has been matched. The smsbench load
// tool and its scenarios grow here; figures are recorded with the command
// that made them, never asserted by timed tests.
package bench
