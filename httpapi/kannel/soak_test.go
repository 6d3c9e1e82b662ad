//go:build soak

package kannel_test

import (
	"os"
	"strconv"
	"testing"
)

// TestKannelSoak is the 10,000-request version of the load test (make
// soak); SMSGW_SOAK_N changes the count.
func TestKannelSoak(t *testing.T) {
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("SMSGW_SOAK_N")); err == nil && v > 0 {
		n = v
	}
	loadTest(t, startRig(t), n, 64)
}
