// Package smpp connects smsgw to carriers over SMPP 3.4, on top of
// github.com/linxGnu/gosmpp v0.3.1. The version is pinned because this
// package works around what that version gets wrong for a gateway: its
// request window stores a request only after writing it, so a fast
// submit_sm_resp can be lost (we keep our own window and pending map,
// filled before the write); by default it answers every deliver_sm itself
// before handing it over (we run it in OnAllPDU mode and answer once the
// sink stored it); its own rebinding is disabled (each bind reconnects
// itself, with backoff, and waits longer after a refused bind); its bind
// exchange has no deadline and its connector neither TLS nor a transmitter
// address range (we bring our own connector); and it leaves the encoding of
// a deliver_sm nil for a data_coding it does not know (such an MO is
// reported undecodable).
//
// Pool is the gateway.Connector of one carrier: N binds (transceivers, or
// transmitter + receiver pairs), optionally over TLS and capped
// cluster-wide by gateway.BindSlots, a window per bind, a TPS limiter and a
// throttle pause per carrier, keep-alive and rebinding with backoff,
// concatenated MO reassembly, and the command_status → decision table. The
// text itself (encoding, segmentation, UDH, receipt text, message id
// formats) is package smstext, which has no I/O and no SMPP session; this
// package maps receipt stat words and message_state values to gateway
// statuses (StatusOfStat, StatusOfState). The SMSC simulator its tests run
// against lives in smpp/smsc.
//
// # Invariants
//
//   - A submit_sm's pending entry (sequence number → waiter) is stored
//     before the PDU is handed to gosmpp, so a submit_sm_resp that arrives
//     before gosmpp's own bookkeeping is still matched; we never use
//     gosmpp's request window, whose write-then-store race loses responses.
//   - Our window is a semaphore per bind, taken before the TPS limiter and
//     released after the response (or error): never more than `window`
//     submit_sm are unanswered on a bind.
//   - Every pending submit ends exactly once: by its response, a
//     generic_nack, a write error, response_timeout, the bind closing
//     (ErrConnectionLost) or Stop (ErrStopped). Whoever removes the entry
//     from the map delivers the outcome.
//   - Nothing the carrier sends is acknowledged automatically (gosmpp's
//     OnAllPDU mode). A deliver_sm (receipt or MO) is answered ESME_ROK only
//     after the gateway.Sink returned nil for it; a sink error answers
//     ESME_RX_T_APPN so the carrier resends, and a deliver_sm that can never
//     be stored (no receipt id, undecodable text) is answered ESME_RX_P_APPN.
//     The sink runs on a worker goroutine in batches, never on a read loop.
//   - The part count is the one smstext.Count gave at accept time:
//     Pool.Submit cuts the text with smstext.Segment and returns exactly one
//     PartResult per part asked. A carrier mode that would change the count
//     is not used for that text (16-bit UDH falls back to the 8-bit UDH,
//     Latin-1 to UCS-2); message_payload sends one submit_sm and gives its
//     carrier id to every part asked.
//   - Every part of a multi-part message asks for the same receipts
//     (registered_delivery 1 unless the message's SubmitOptions say
//     otherwise, as a Kannel dlr-mask does) and carries the same
//     concatenation reference. A binary message (gateway.EncodingBinary)
//     is one submit_sm carrying the caller's UDH and octets as given.
//     References are allocated per destination (never one held by another
//     recent message to that number), start from a hash of the message id
//     (so a resend after a restart most likely reuses the one the handset
//     saw) and are remembered per message (so a resend reuses it).
//   - The parts of a concatenated MO (8-bit or 16-bit UDH, SAR) are held
//     unanswered until the joined message was stored; the deliver_sm_resp
//     of every part, carrier resends included, carries the outcome of that
//     one store. After mo_timeout the parts received are stored as one
//     message whose text marks each missing part "[part k of n missing]".
//     A part repeating one of a message stored within mo_timeout is
//     answered at once and not stored again; the joined message's
//     CarrierRef (hash of sender, recipient, reference, count and text)
//     lets the store skip a whole resent message.
//   - A throttling answer (ESME_RTHROTTLED, ESME_RMSGQFUL) holds every
//     submit of the carrier for throttle_pause and the part is sent again
//     (up to throttleRetries times) before a Retry goes back to the engine:
//     throttling never drops a part.
//
// # Concurrency and lock order
//
// Pool.mu guards the lifecycle state and the in-flight count; bind.mu
// guards the pending map; refTable.mu the reference table; Pool.tpsMu
// holds reading the clock and reserving a TPS token together. None is held
// while calling gosmpp, the sink or another of these locks, so there is no
// lock order to respect (bindStatus.mu, a bind's state and history, is a
// leaf like them). gosmpp runs its callbacks (OnAllPDU, OnClosed, OnSubmitError)
// on its own goroutines; they only touch the pending map, atomics, the
// bind's status and the sink queue. gosmpp may report one close twice; only
// the first OnClosed of a link counts. The MO assembler belongs to the sink worker goroutine alone.
//
// # Lifecycle
//
// NewPool validates; Start returns at once and binds in the background.
// Each bind owns its connection lifecycle: it takes a cluster slot first
// (Options.BindSlots, held until Stop), then every connection is a fresh
// gosmpp Session with gosmpp's own rebinding disabled. A failed dial or a
// lost link (no answer to enquire_link within enquire_link +
// response_timeout, an unbind from the SMSC) is retried with exponential
// backoff and jitter from 100ms up to rebind_interval; a refused bind waits
// at least rebind_interval and up to 12 times it, counted in
// smsgw_smpp_bind_attempts_total{result="refused"}. Rebind (an operator's,
// through gateway.Engine.RebindCarrier) takes each bound bind out of
// rotation, waits up to response_timeout for its submits in flight, closes
// its links (unbind) through the same path as a lost link, so what is
// still unanswered fails with ErrConnectionLost, and binds again without
// the backoff. Each bind records its state, since when and why, its last 20
// transitions and its recent response times (Pool.Binds). Stop refuses new
// submits, waits for in-flight ones within its ctx, unbinds (those still in
// flight fail with ErrStopped, a Retry) and ends the background work.
package smpp
