package vonage

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"hash"
	"net/url"
	"slices"
	"strings"
)

// Signature computes Vonage's `sig` of a signed request's parameters (sig
// itself excluded): the parameters sorted by name, each written as
// "&name=value" with '&' and '=' in values replaced by '_', then MD5 with
// the secret appended (md5hash), or an HMAC keyed with the secret (md5,
// sha1, sha256, sha512); lower-case hex. Exported so tests and tools sign
// receipts the way Vonage does.
func Signature(method, secret string, params url.Values) string {
	var h hash.Hash
	switch method {
	case SignMD5:
		h = hmac.New(md5.New, []byte(secret))
	case SignSHA1:
		h = hmac.New(sha1.New, []byte(secret))
	case SignSHA256:
		h = hmac.New(sha256.New, []byte(secret))
	case SignSHA512:
		h = hmac.New(sha512.New, []byte(secret))
	default:
		h = md5.New()
	}
	names := make([]string, 0, len(params))
	for k := range params {
		if k != "sig" {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	clean := strings.NewReplacer("&", "_", "=", "_")
	for _, k := range names {
		h.Write([]byte("&" + k + "=" + clean.Replace(params.Get(k))))
	}
	if method == SignMD5Hash || method == "" {
		h.Write([]byte(secret))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ValidSignature reports whether params carry a `sig` that Signature
// reproduces; hex case is ignored (Vonage's HMAC methods send upper case)
// and the comparison is constant-time.
func ValidSignature(method, secret string, params url.Values) bool {
	sig := strings.ToLower(params.Get("sig"))
	if sig == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(Signature(method, secret, params)), []byte(sig)) == 1
}
