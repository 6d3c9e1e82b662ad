// Package bench measures smsgw end to end and is the logic behind the
// smsbench command: a farm of simulated carriers (smpp/smsc) on loopback, a
// load generator over gRPC Send, SendBatch or Kannel's sendsms, scenario
// files that run both (optionally with the gateway in-process), and reports
// as text, JSON and a self-contained HTML page. Figures are recorded with
// the command that made them (RESULTS.md), never asserted by timed tests.
//
// How a message is followed: its text starts with a token naming the run
// and its sequence number (Token). The load generator times the call; the
// gateway's StreamEvents gives SUBMITTED and the final status by message id;
// the farm's carriers read the token back from the first part of every
// submit_sm they accept and count it in the Ledger. An accepted message the
// ledger never saw is lost, one it saw twice is duplicated; neither count
// trusts the gateway's own account.
//
// Invariants:
//   - A carrier counts a token only when its own handler accepted the
//     submit_sm (throttling, TPS caps and rejections are decided there, not by
//     the simulator's options), so the ledger is what the carrier took.
//   - Percentiles come from log-scale histograms 2% wide (Hist): memory is
//     fixed whatever the run's length.
//   - Timers, samplers and the event stream stop before Run or RunLoad
//     returns; the in-process gateway is stopped before the farm closes, so
//     it unbinds rather than sees its carriers vanish.
//
// Nothing here prints: progress and summaries go to the io.Writer the
// caller gives, logs to the injected slog.Logger.
package bench
