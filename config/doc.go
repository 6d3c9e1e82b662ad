// Package config reads smsgw's one YAML file. It is strict: an unknown key,
// a missing value or a reference to something not configured is an error,
// and Load reports every problem at once with its path
// (carriers[0].smpp.binds: must be ≥ 1), so an operator fixes a file in one
// pass. Secrets may be written as ${ENV_VAR}; an unset variable is an error.
//
// The package is part of the composition root, with app: it names every
// implementation's own config section (store, smpp, routing, the
// interfaces), so it sits above them all, and the domain (gateway and its
// subpackages) never imports it. A package owns its YAML struct and its
// Validate; config embeds those structs as they are, with no field-by-field
// mirrors.
package config
