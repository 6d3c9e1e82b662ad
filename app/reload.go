package app

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/openmf/smsgw/config"
	"github.com/openmf/smsgw/routing"
)

// liveFields are the parts of the config file Reload applies while the
// gateway runs, as paths with "[]" for any index; a change anywhere else
// needs a restart. Tenants are changed in place: adding, removing or
// renaming one needs a restart too.
var liveFields = []string{
	"routes",
	"keywords",
	"tenants[].api_keys",
	"tenants[].sender",
	"tenants[].senders",
	"tenants[].rate",
	"tenants[].burst",
	"tenants[].weight",
	"tenants[].opt_out",
	"tenants[].fraud",
	"tenants[].fineract",
	"admin.api_keys",
	"webhooks.allow_hosts",
	"console.users",
	"console.secure_cookies",
}

var index = regexp.MustCompile(`\[\d+\]`)

// live says whether a changed path is under one of liveFields.
func live(path string) bool {
	p := index.ReplaceAllString(path, "[]")
	return slices.ContainsFunc(liveFields, func(f string) bool {
		return p == f || strings.HasPrefix(p, f+".") || strings.HasPrefix(p, f+"[")
	})
}

// Reload reads the config file again and applies it while the gateway
// runs: routes, keyword rules, tenants' senders, rates and opt-out wording,
// API keys added or revoked (gRPC, admin, Fineract), Fineract bridges and
// the webhook allow-list. Nothing is dropped: binds stay up and messages in
// flight go on. A file with any error, or with a change that needs a
// restart, or with a keyword action nothing in this gateway runs (a
// kannel: service on a gateway started without Kannel), is refused whole,
// naming each field, and the config in force stays. It returns the paths
// that changed.
func (a *App) Reload() ([]string, error) {
	if a.path == "" {
		return nil, errors.New("app: reload: this gateway was not started from a config file")
	}
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	cfg, err := config.Load(a.path, Kinds(a.kinds))
	if err != nil {
		return nil, fmt.Errorf("app: reload: %w", err)
	}
	changed := config.Diff(a.cfg, cfg)
	var errs []error
	for _, p := range changed {
		if !live(p) {
			errs = append(errs, fmt.Errorf("%s cannot change without a restart", p))
		}
	}
	table, err := routing.NewTable(cfg.Routes)
	if err != nil {
		errs = append(errs, err)
	}
	kw, err := cfg.KeywordTable()
	if err != nil {
		errs = append(errs, err)
	}
	for i, k := range cfg.Keywords {
		if kind := k.TaskKind(); kind != "" && !a.taskKinds[kind] {
			errs = append(errs, fmt.Errorf("keywords[%d] (%s): its %s action needs a restart: this gateway was started without it", i, cmp.Or(k.Name, k.Keyword), kind))
		}
	}
	var applies []func()
	for _, i := range a.interfaces {
		apply, err := i.Reload(cfg)
		if err != nil {
			errs = append(errs, err)
		}
		applies = append(applies, apply)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("app: reload %s refused, nothing changed: %w", a.path, errors.Join(errs...))
	}

	// Everything is built: swap it all in, the one step that can still
	// refuse first.
	if err := a.engine.SetTenants(cfg.EngineTenants()); err != nil {
		return nil, fmt.Errorf("app: reload %s refused, nothing changed: %w", a.path, err)
	}
	for _, apply := range applies {
		apply()
	}
	a.router.Swap(table)
	a.engine.SetKeywords(kw)
	a.keys.Set(apiKeys(cfg))
	a.webhooks.SetAllowHosts(cfg.Webhooks.AllowHosts)
	a.cfg = cfg
	a.log.Info("config reloaded", "path", a.path, "changed", changed)
	return changed, nil
}
