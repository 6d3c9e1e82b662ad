package config

import (
	"bytes"
	"fmt"
	"net"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/openmf/smsgw/httpapi/console"
)

// secretKeys are the keys whose values are credentials: written in the
// file, they end up in backups, tickets and version control.
var secretKeys = map[string]bool{
	"password": true, "api_keys": true, "app_keys": true, "api_key": true, "secret": true,
	"api_secret": true, "auth_token": true, "callback_token": true, "signature_secret": true,
	"client_secret": true, "admin_password": true, "status_password": true,
}

// wholeEnvRef is a value that is nothing but one ${VAR} reference.
var wholeEnvRef = regexp.MustCompile(`^\$\{[A-Za-z_][A-Za-z0-9_]*\}$`)

// dsnPassword finds a password in a PostgreSQL DSN, in URL or key=value form.
var dsnPassword = regexp.MustCompile(`(?i)(password=\S|://[^/@:]*:[^@]+@)`)

// MinKeyLength is the shortest API key check-config does not warn about:
// 128 bits of base64 is 22 characters; 8, the least the loader takes,
// can be guessed.
const MinKeyLength = 24

// Warnings lists what `smsgw check-config` points out in a valid config
// without refusing it (--strict refuses it): secrets written in the file
// (raw, the file as read) instead of ${ENV} references, short API keys,
// listeners off the loopback interface without TLS, and /metrics or
// Kannel's /status reachable off the box without a password. Each names
// its path and what to do.
func Warnings(c *Config, raw []byte) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(raw)).Decode(&root); err == nil {
		plainSecrets(&root, "", add)
	}
	for i, t := range c.Tenants {
		for j, k := range t.APIKeys {
			if len(k) < MinKeyLength {
				add("tenants[%d].api_keys[%d]: %d characters; use at least %d random ones (openssl rand -base64 32)", i, j, len(k), MinKeyLength)
			}
		}
		if t.Fineract != nil {
			for j, k := range t.Fineract.AppKeys {
				if len(k) < MinKeyLength {
					add("tenants[%d].fineract.app_keys[%d]: %d characters; use at least %d random ones", i, j, len(k), MinKeyLength)
				}
			}
		}
	}
	for j, k := range c.Admin.APIKeys {
		if len(k) < MinKeyLength {
			add("admin.api_keys[%d]: %d characters; use at least %d random ones (openssl rand -base64 32)", j, len(k), MinKeyLength)
		}
	}
	if !loopback(c.Listen.GRPC) && c.Listen.GRPCTLS == nil {
		add("listen.grpc: %s is reachable off this host without TLS: API keys and messages cross the network in clear; set listen.grpc_tls", c.Listen.GRPC)
	}
	if !loopback(c.Listen.HTTP) {
		add("listen.http: %s is reachable off this host in clear text (Fineract's app keys, provider webhooks) and serves /metrics to anyone; put a TLS proxy in front and restrict /metrics to the monitoring network", c.Listen.HTTP)
	}
	if cc := c.Console; cc != nil {
		for i, u := range cc.Users {
			if cost := u.HashCost(); cost < console.GoodHashCost {
				add("console.users[%d].password_hash: bcrypt cost %d; use %d or more (smsgw hash-password), cheaper hashes are quick to guess from a stolen config", i, cost, console.GoodHashCost)
			}
		}
		if !loopback(c.Listen.HTTP) && !cc.SecureCookies {
			add("console.secure_cookies: false while listen.http (%s) is reachable off this host: serve the console through a TLS proxy and set it, or console sessions cross the network in clear", c.Listen.HTTP)
		}
	}
	if k := c.Kannel; k != nil && !loopback(k.Listen) {
		add("kannel.listen: %s is reachable off this host in clear text: sendsms passwords travel in URLs; keep it on the loopback interface or behind a TLS proxy", k.Listen)
		if k.StatusPassword == "" {
			add("kannel.status_password: empty, so /status is open to anyone who reaches kannel.listen")
		}
	}
	if sc := c.SMPPServer; sc != nil && !loopback(sc.Listen) && sc.TLS == nil {
		add("smpp_server.listen: %s is reachable off this host without TLS: bind passwords and messages cross the network in clear; set smpp_server.tls or keep it on a private link", sc.Listen)
	}
	return out
}

// plainSecrets walks the file and reports secret keys whose value is
// written in it rather than taken from the environment.
func plainSecrets(n *yaml.Node, path string, add func(string, ...any)) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			plainSecrets(c, path, add)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i].Value, n.Content[i+1]
			p := k
			if path != "" {
				p = path + "." + k
			}
			if secretKeys[k] || k == "dsn" {
				reportPlain(v, p, k == "dsn", add)
				continue
			}
			plainSecrets(v, p, add)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			plainSecrets(c, fmt.Sprintf("%s[%d]", path, i), add)
		}
	}
}

func reportPlain(v *yaml.Node, path string, dsn bool, add func(string, ...any)) {
	switch v.Kind {
	case yaml.ScalarNode:
		switch {
		case v.Value == "" || wholeEnvRef.MatchString(v.Value):
		case dsn && (strings.Contains(v.Value, "${") || !dsnPassword.MatchString(v.Value)):
		case dsn:
			add("%s: line %d holds a database password; write it as ${ENV_VAR} (or use a .pgpass file)", path, v.Line)
		default:
			add("%s: line %d holds a secret in the file; write it as ${ENV_VAR} and set the variable in the service's environment", path, v.Line)
		}
	case yaml.SequenceNode:
		for i, c := range v.Content {
			reportPlain(c, fmt.Sprintf("%s[%d]", path, i), dsn, add)
		}
	}
}

// loopback says whether a listen address is reachable from this host only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
