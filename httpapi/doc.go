// Package httpapi serves smsgw's HTTP listener: Prometheus metrics, the
// health endpoints, cloud providers' delivery-report webhooks at
// /webhooks/{name}/ (provider.Mount), and the routes the composition root
// adds (Options.Routes), such as Fineract's message-gateway API
// (httpapi/messagegateway). Kannel's sendsms interface (httpapi/kannel)
// listens on a port of its own.
//
// /healthz answers 200 while the process runs (liveness); /readyz answers
// 200 only while Options.Ready reports nil, else 503 with its reason, so a
// load balancer stops sending traffic during an outage. The app's Ready is
// "at least one carrier is bound" for a single node, "the store is open"
// for a node sharing its store with others.
package httpapi
