// Package httpapi serves smsgw's HTTP listener: Prometheus metrics and the
// health endpoints today; the Kannel sendsms and Fineract message-gateway
// interfaces join it on the same mux.
//
// /healthz answers 200 while the process runs (liveness); /readyz answers
// 200 only when the gateway can send now (store open, at least one carrier
// bound), so a load balancer stops sending traffic during an outage.
package httpapi
