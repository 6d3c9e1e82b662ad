package app

import (
	"context"
	"net/http"

	"github.com/openmf/smsgw/config"
	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/grpcapi"
	"github.com/openmf/smsgw/httpapi/console"
	"github.com/openmf/smsgw/internal/guard"
	"github.com/openmf/smsgw/routing"
	smppserver "github.com/openmf/smsgw/smpp/server"
)

// consoleGateway is the app as the web console reads and drives it: the
// config in force, the carriers' state and the router's breakers.
type consoleGateway struct{ a *App }

var _ console.Gateway = consoleGateway{}

func (g consoleGateway) Carriers() []grpcapi.CarrierState { return g.a.Carriers() }

func (g consoleGateway) ExplainRoute(tenant, to, from string) (*grpcapi.Explanation, error) {
	return g.a.ExplainRoute(tenant, to, from)
}

func (g consoleGateway) Routes() []routing.Route     { return g.a.config().Routes }
func (g consoleGateway) Tenants() []gateway.Tenant   { return g.a.config().EngineTenants() }
func (g consoleGateway) ResetBreaker(carrier string) { g.a.router.ResetBreaker(carrier) }
func (g consoleGateway) Reload() ([]string, error)   { return g.a.Reload() }

func (g consoleGateway) BreakerHistory(carrier string) []routing.BreakerChange {
	return g.a.router.BreakerHistory(carrier)
}

func (g consoleGateway) SMPPAccounts() []smppserver.AccountState { return g.a.SMPPAccounts() }

func (g consoleGateway) TenantLimits(tenant string) ([]grpcapi.TenantLimits, error) {
	return g.a.TenantLimits(tenant)
}

// webConsole is the console as one of the app's interfaces: its routes on
// the HTTP listener, its users reloaded with the config.
type webConsole struct{ c *console.Console }

func (a *App) newConsole(cfg *config.Config, auth *guard.Backoff) (Interface, error) {
	c, err := console.New(console.Options{Config: *cfg.Console, Engine: a.engine, Store: a.store, Gateway: consoleGateway{a}, Keys: a.keys,
		Gatherer: a.registry, Auth: auth, Logger: a.log})
	if err != nil {
		return nil, err
	}
	return webConsole{c}, nil
}

func (w webConsole) Routes() map[string]http.Handler              { return w.c.Routes() }
func (w webConsole) TaskHandlers() map[string]gateway.TaskHandler { return nil }
func (w webConsole) Start() error                                 { return nil }

// Stop ends the live streams so the HTTP listener can shut down.
func (w webConsole) Stop(context.Context) error {
	w.c.Stop()
	return nil
}

// Reload puts the new console users in force (removing the console section
// needs a restart, which Reload refused before asking).
func (w webConsole) Reload(cfg *config.Config) (func(), error) {
	if cfg.Console == nil {
		return func() {}, nil
	}
	return w.c.Reload(*cfg.Console)
}
