package guard

import (
	"crypto/sha256"
	"crypto/subtle"
)

// Equal compares a secret a caller sent with the configured one in time
// that depends on neither: both are hashed first, so neither the position
// of the first wrong byte nor the length of the secret shows in how long a
// refusal takes.
func Equal(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}
