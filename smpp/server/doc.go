// Package server is smsgw's SMPP 3.4 server: downstream applications
// (ESMEs: a core-banking notifier, a reseller's platform, a NOC's test
// tools) bind to smsgw as to a carrier, and their messages take the same
// path as every other interface's — tenant, validation, opt-outs, fraud
// limits, routing, receipts.
//
// Invariants:
//
//   - A submit_sm (data_sm, submit_multi) is answered ESME_ROK, with smsgw's message
//     id, only after gateway.Engine.Accept returned that id: the message
//     is durable. Every other answer means nothing was stored, so the
//     ESME may resend. A crash before the answer may make the ESME resend
//     an accepted message (at-least-once, as with any SMSC).
//   - The parts of a concatenated message (UDH 8- or 16-bit reference, or
//     SAR TLVs) are held in memory, unanswered, until every part is in;
//     the message is then accepted whole and each part answered with
//     "ID.k". Parts still incomplete after reassembly_wait are sent on
//     their own (UDH kept) and answered then.
//   - A bind has a window: one more unanswered submit than the account's
//     window is answered ESME_RTHROTTLED, as is a submit over the
//     account's rate or the tenant's. Nothing throttled is stored.
//   - Receipts are read from the event log through a cursor per account
//     (ReceiptCursor), the same way Kannel's dlr-url follower reads it;
//     the cursor moves past a batch only once the ESME answered every
//     deliver_sm of it ESME_ROK. A receipt unanswered, refused or cut off
//     by a disconnect or a restart is sent again, on any receiver bind of
//     the account (at-least-once).
//   - Malformed input never stops the server: an unknown command or a
//     body that does not parse gets generic_nack; a command_length that
//     cannot be trusted gets generic_nack and the connection is closed,
//     since the stream cannot be resynchronized.
//   - Passwords are held as bcrypt hashes and compared in constant time;
//     an unknown system_id costs and answers the same as a wrong password
//     (ESME_RINVPASWD); failures back off per address and system_id
//     (internal/guard).
//
// Goroutines: per connection a reader (answers binds, enquire_link,
// unbind, throttling and refusals at once), an accepter (one
// Engine.Accept per batch of queued submits) and a writer; per account
// with a receiver bind, a receipt follower (and an MO follower when the
// account has an mo route) that lives until Stop. Lock order: account.mu
// before session.mu; reassembler.mu is never held with either.
package server
