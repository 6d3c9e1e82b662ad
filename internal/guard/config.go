package guard

import "fmt"

// Config is the `limits` section's interface part: the bounds of each
// listener, the failed-login back-off and the origins browsers may call
// from. Every field has a working default.
type Config struct {
	HTTP   ListenerConfig `yaml:"http"`   // the HTTP listener (Fineract, /metrics, webhooks)
	Kannel ListenerConfig `yaml:"kannel"` // Kannel's sendsms listener (with Frontline)
	GRPC   ListenerConfig `yaml:"grpc"`   // the gRPC listener; max_body_bytes is the largest message
	Auth   AuthConfig     `yaml:"auth"`
	// CORSOrigins are the browser origins allowed to call the HTTP and
	// Kannel listeners ("*" for any); empty, the default, refuses every
	// cross-origin request.
	CORSOrigins []string `yaml:"cors_origins"`
}

// SetDefaults fills every zero field.
func (c *Config) SetDefaults() {
	c.HTTP = c.HTTP.WithDefaults(DefaultHTTP)
	c.Kannel = c.Kannel.WithDefaults(DefaultKannel)
	c.GRPC = c.GRPC.WithDefaults(DefaultGRPC)
	c.Auth.setDefaults()
}

// Validate reports every problem, each with its path under the section.
func (c *Config) Validate() []error {
	var errs []error
	for _, l := range []struct {
		name string
		cfg  ListenerConfig
	}{{"http", c.HTTP}, {"kannel", c.Kannel}, {"grpc", c.GRPC}} {
		for _, err := range l.cfg.Validate() {
			errs = append(errs, fmt.Errorf("%s.%w", l.name, err))
		}
	}
	for _, err := range c.Auth.Validate() {
		errs = append(errs, fmt.Errorf("auth.%w", err))
	}
	return errs
}
