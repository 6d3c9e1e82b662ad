package app

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openmf/smsgw/config"
	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/provider/africastalking"
	"github.com/openmf/smsgw/provider/twilio"
	"github.com/openmf/smsgw/provider/vonage"
	"github.com/openmf/smsgw/smpp"
)

// ConnectorKind is everything the gateway needs to know of one kind of
// carrier connector: the key of its section in a carrier of the config
// file, the type that section decodes into (which validates itself), and
// how to build the connector. Adding a kind is its own package plus one
// line in ConnectorKinds.
type ConnectorKind struct {
	config.Kind
	New func(name string, s config.Section, env ConnectorEnv) (gateway.Connector, error)
}

// ConnectorEnv is what the composition root hands every connector it
// builds.
type ConnectorEnv struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// BindSlots caps a carrier's binds across the nodes sharing a store;
	// nil on a single node.
	BindSlots gateway.BindSlots
}

// ConnectorKinds is the registration list of carrier kinds; Options can
// replace it (a test's fake kind).
var ConnectorKinds = []ConnectorKind{
	Kind("smpp", func(name string, c *smpp.Config, env ConnectorEnv) (gateway.Connector, error) {
		return smpp.NewPool(name, *c, smpp.Options{Logger: env.Logger, Registerer: env.Registerer, BindSlots: env.BindSlots})
	}),
	Kind("twilio", func(name string, c *twilio.Config, env ConnectorEnv) (gateway.Connector, error) {
		return twilio.New(name, *c, twilio.Options{Logger: env.Logger, Registerer: env.Registerer})
	}),
	Kind("vonage", func(name string, c *vonage.Config, env ConnectorEnv) (gateway.Connector, error) {
		return vonage.New(name, *c, vonage.Options{Logger: env.Logger, Registerer: env.Registerer})
	}),
	Kind("africastalking", func(name string, c *africastalking.Config, env ConnectorEnv) (gateway.Connector, error) {
		return africastalking.New(name, *c, africastalking.Options{Logger: env.Logger, Registerer: env.Registerer})
	}),
}

// Kind makes a ConnectorKind from a constructor over the kind's own config
// type T, so the list above stays typed: the section is a *T.
func Kind[T any, P interface {
	*T
	config.Section
}](name string, build func(name string, c *T, env ConnectorEnv) (gateway.Connector, error)) ConnectorKind {
	return ConnectorKind{
		Kind: config.Kind{Name: name, Section: func() config.Section { return P(new(T)) }},
		New: func(carrier string, s config.Section, env ConnectorEnv) (gateway.Connector, error) {
			c, ok := s.(P)
			if !ok {
				return nil, fmt.Errorf("a %s carrier needs a %T section, not %T", name, P(nil), s)
			}
			return build(carrier, (*T)(c), env)
		},
	}
}

// Kinds is what the config loader needs of a list of connector kinds.
func Kinds(list []ConnectorKind) config.Kinds {
	out := make(config.Kinds, len(list))
	for i, k := range list {
		out[i] = k.Kind
	}
	return out
}

// LoadConfig reads a config file whose carriers are of the registered
// kinds.
func LoadConfig(path string) (*config.Config, error) {
	return config.Load(path, Kinds(ConnectorKinds))
}

// newConnector builds a carrier's connector from its kind's entry.
func newConnector(kinds []ConnectorKind, c config.Carrier, env ConnectorEnv) (gateway.Connector, error) {
	for _, k := range kinds {
		if k.Name == c.Kind {
			return k.New(c.Name, c.Section, env)
		}
	}
	return nil, fmt.Errorf("unknown carrier kind %q", c.Kind)
}
