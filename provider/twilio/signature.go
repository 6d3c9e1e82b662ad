package twilio

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/url"
	"slices"
)

// SignatureHeader carries Twilio's signature of a callback.
const SignatureHeader = "X-Twilio-Signature"

// Signature computes what Twilio puts in X-Twilio-Signature for a form POST
// to fullURL: base64(HMAC-SHA1(authToken, fullURL + name1 + value1 + …)),
// the POST parameters sorted by name; a repeated name's values are sorted
// and de-duplicated, as Twilio's Python validator does. Exported
// so tests and tools sign callbacks the way Twilio does.
func Signature(authToken, fullURL string, params url.Values) string {
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(fullURL))
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		vs := slices.Clone(params[k])
		slices.Sort(vs)
		for _, v := range slices.Compact(vs) {
			mac.Write([]byte(k))
			mac.Write([]byte(v))
		}
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// ValidSignature reports whether sig is Twilio's signature of params posted
// to fullURL. Twilio's own validators also accept the URL with its default
// port added or removed, because which form Twilio signs depends on how the
// URL was configured; so do we. The comparison is constant-time.
func ValidSignature(authToken, fullURL string, params url.Values, sig string) bool {
	if sig == "" {
		return false
	}
	ok := false
	for _, u := range urlVariants(fullURL) {
		want := Signature(authToken, u, params)
		if subtle.ConstantTimeCompare([]byte(want), []byte(sig)) == 1 {
			ok = true
		}
	}
	return ok
}

// urlVariants is fullURL, then fullURL without its port if it has one, or
// with the scheme's default port if it has none.
func urlVariants(fullURL string) []string {
	out := []string{fullURL}
	u, err := url.Parse(fullURL)
	if err != nil || u.Host == "" {
		return out
	}
	v := *u
	if port := u.Port(); port != "" {
		v.Host = u.Hostname()
	} else {
		p := "443"
		if u.Scheme == "http" {
			p = "80"
		}
		v.Host = net.JoinHostPort(u.Hostname(), p)
	}
	return append(out, v.String())
}
