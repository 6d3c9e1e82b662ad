// Package limits holds the engine's abuse controls: the auto-reply limit
// (no inbound flood turns into a flood of paid replies) and each tenant's
// fraud and spend controls (destinations allowed, high-risk ranges denied,
// daily and monthly spend caps, per-recipient and per-prefix velocity),
// which stop SMS pumping before a message is stored as sendable.
//
// It imports nothing of this module: the gateway calls it with numbers,
// tenants and costs, and decides what a refusal does to a message. Every
// table it keeps in memory is bounded. docs/security.md lists each
// control with its default, its metric and how to tune it.
package limits
