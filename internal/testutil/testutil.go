// Package testutil holds the helpers every test package of smsgw shares.
package testutil

import (
	"testing"
	"time"
)

// Eventually polls f until it returns nil, failing the test with f's last
// error once timeout has passed. Tests wait with it instead of sleeping.
func Eventually(tb testing.TB, timeout time.Duration, f func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("after %v: %v", timeout, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
