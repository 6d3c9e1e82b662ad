//go:build !unix

package store

import (
	"fmt"
	"os"
)

// lockFile opens path without locking where flock is unavailable; running
// two gateways on one SQLite file there is the operator's mistake to avoid.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: lock: %w", err)
	}
	return f, nil
}
