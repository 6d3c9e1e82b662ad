package app

import (
	"context"
	"fmt"
	"net"
	"net/http"

	"github.com/openmf/smsgw/config"
	"github.com/openmf/smsgw/gateway"
	smppserver "github.com/openmf/smsgw/smpp/server"
)

// smppServer is the SMPP server interface: ESMEs bind to smsgw on its own
// listener when the config has an smpp_server section.
type smppServer struct {
	srv   *smppserver.Server
	limit func(net.Listener) net.Listener // caps its connections
}

func usesSMPPServer(cfg *config.Config) bool { return cfg.SMPPServer != nil }

func newSMPPServer(cfg *config.Config, env InterfaceEnv) (Interface, error) {
	srv, err := smppserver.New(*cfg.SMPPServer, env.Engine, smppserver.Options{
		Logger: env.Logger.With("api", "smpp"), Registerer: env.Registerer, Auth: env.Auth,
	})
	if err != nil {
		return nil, err
	}
	// Every account's binds, and as many connections again that have not
	// bound yet (each is closed after bind_timeout).
	conns := 0
	for _, a := range cfg.SMPPServer.Accounts {
		conns += a.MaxBinds
	}
	conns = 2*conns + 16
	return &smppServer{srv: srv, limit: func(l net.Listener) net.Listener {
		return env.Listeners.Limit("smpp_server", l, conns)
	}}, nil
}

// Routes: the server has a listener of its own.
func (s *smppServer) Routes() map[string]http.Handler { return nil }

// TaskHandlers: receipts are delivered by the server's own followers.
func (s *smppServer) TaskHandlers() map[string]gateway.TaskHandler { return nil }

// Reload: accounts and the listener need a restart (the app refuses a
// changed smpp_server section before asking).
func (s *smppServer) Reload(*config.Config) (func(), error) { return func() {}, nil }

// Start opens the SMPP listener, its connections capped at twice the
// accounts' binds (connections still binding count too).
func (s *smppServer) Start() error {
	lis, err := net.Listen("tcp", s.srv.Listen())
	if err != nil {
		return fmt.Errorf("app: smpp_server.listen: %w", err)
	}
	s.srv.Serve(s.limit(lis))
	return nil
}

// Stop unbinds the ESMEs after answering what they sent.
func (s *smppServer) Stop(ctx context.Context) error { return s.srv.Stop(ctx) }

// SMPPServer is the gateway's SMPP server, nil when the config has none.
func (a *App) SMPPServer() *smppserver.Server {
	for _, i := range a.interfaces {
		if s, ok := i.(*smppServer); ok {
			return s.srv
		}
	}
	return nil
}

// SMPPAccounts implements grpcapi.Operator: the SMPP server's accounts
// and their binds, none when the config has no smpp_server.
func (a *App) SMPPAccounts() []smppserver.AccountState {
	if s := a.SMPPServer(); s != nil {
		return s.Accounts()
	}
	return nil
}
