// Package config reads smsgw's one YAML file. It is strict: an unknown key,
// a missing value or a reference to something not configured is an error,
// and Load reports every problem at once with its path
// (carriers[0].smpp.binds: must be ≥ 1), so an operator fixes a file in one
// pass. Secrets may be written as ${ENV_VAR}; an unset variable is an error.
//
// The package sits beside gateway rather than in it because it names every
// implementation's own config section (store, smpp, routing), and gateway
// must not import them.
package config
