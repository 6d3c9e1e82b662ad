package console

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/openmf/smsgw/internal/guard"
	"github.com/openmf/smsgw/internal/mask"
)

// The cookies. The session cookie's path is /console/, so no other path of
// the listener ever receives it.
const (
	sessionCookie = "smsgw_console"
	loginCookie   = "smsgw_console_login" // the sign-in form's CSRF token
	csrfField     = "csrf"
)

// setHeaders makes every console answer uncacheable, unframeable and
// limited to the console's own scripts and styles.
func setHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin") // "no-referrer" would make POSTs carry "Origin: null"
	h.Set("Cache-Control", "no-store")
}

// secureRequest says whether cookies set in answer to r must be Secure.
func (c *Console) secureRequest(r *http.Request) bool {
	return r.TLS != nil || c.secure.Load()
}

func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/console/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.secureRequest(r)})
}

// sameOrigin says whether a request that changes something came from a
// console page: its Origin (or, without one, its Referer) names this host.
// Browsers send one of them on every POST; a request with neither is not
// from a browser and still needs the CSRF token.
func sameOrigin(r *http.Request) bool {
	src := r.Header.Get("Origin")
	if src == "" {
		src = r.Header.Get("Referer")
	}
	if src == "" {
		return true
	}
	u, err := url.Parse(src)
	return err == nil && u.Host == r.Host
}

// page wraps a handler with the console's checks, in this order: a live
// session (else the sign-in page), on POST the same origin and the
// session's CSRF token, then the role (operator actions), then, for
// gateway-wide actions, a user not limited to a tenant.
func (c *Console) page(need Role, gatewayWide bool, h func(http.ResponseWriter, *http.Request, *session)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setHeaders(w)
		var ss *session
		if ck, err := r.Cookie(sessionCookie); err == nil {
			ss = c.sessions.get(ck.Value)
		}
		if ss == nil {
			if r.Method == http.MethodGet && r.URL.Path != "/console/live" {
				http.Redirect(w, r, "/console/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.refuse(w, r, nil, http.StatusUnauthorized, "Your session has ended; sign in again.")
			return
		}
		if r.Method == http.MethodPost {
			if !sameOrigin(r) || !guard.Equal(r.PostFormValue(csrfField), ss.csrf) {
				c.log.Warn("console request refused: CSRF check failed", "user", ss.user.Username, "path", r.URL.Path, "source", guard.Source(r.RemoteAddr))
				c.refuse(w, r, ss, http.StatusForbidden, "This form is stale or did not come from the console (CSRF check failed). Reload the page and try again.")
				return
			}
		}
		if need == Operator && ss.user.Role != Operator {
			c.refuse(w, r, ss, http.StatusForbidden, "Your role is viewer: only an operator may do this.")
			return
		}
		if gatewayWide && ss.user.Tenant != "" {
			c.refuse(w, r, ss, http.StatusForbidden, "This action changes the gateway for every tenant: only an operator not limited to a tenant may do it.")
			return
		}
		h(w, r, ss)
	})
}

// refuse answers an error page (or plain text to the live stream).
func (c *Console) refuse(w http.ResponseWriter, r *http.Request, ss *session, code int, msg string) {
	if r.URL.Path == "/console/live" {
		http.Error(w, msg, code)
		return
	}
	w.WriteHeader(code)
	c.render(w, r, ss, "error", "Refused", map[string]any{"Code": code, "Message": msg})
}

// loginPage shows the sign-in form with a fresh sign-in CSRF token, kept
// in a cookie the form must match (the double-submit pattern: there is no
// session yet to keep it in).
func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	setHeaders(w)
	c.showLogin(w, r, http.StatusOK, "")
}

func (c *Console) showLogin(w http.ResponseWriter, r *http.Request, code int, msg string) {
	token := randomToken()
	c.setCookie(w, r, loginCookie, token, 600)
	w.WriteHeader(code)
	c.render(w, r, nil, "login", "Sign in", map[string]any{"LoginCSRF": token, "Error": msg, "Next": safeNext(r.FormValue("next"))})
}

// safeNext is where to go after signing in: a console path, never
// another site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/console/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return "/console/overview"
	}
	return next
}

// login checks a sign-in under the failed-login back-off (per source
// address and per username). An unknown user costs the same bcrypt
// comparison as a known one, so timing does not tell which names exist.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	setHeaders(w)
	ck, err := r.Cookie(loginCookie)
	if err != nil || !sameOrigin(r) || !guard.Equal(r.PostFormValue(csrfField), ck.Value) {
		c.showLogin(w, r, http.StatusForbidden, "The sign-in form expired or did not come from this console. Try again.")
		return
	}
	name, pass := r.PostFormValue("username"), r.PostFormValue("password")
	src := guard.Source(r.RemoteAddr)
	if err := c.opts.Auth.Check("console", src, name); err != nil {
		var be *guard.BackoffError
		errors.As(err, &be)
		w.Header().Set("Retry-After", strconv.Itoa(int(be.RetryAfter.Seconds()+0.999)))
		c.showLogin(w, r, http.StatusTooManyRequests, "Too many failed sign-ins from this address or for this user: "+err.Error()+".")
		return
	}
	u, known := (*c.users.Load())[name]
	hash := c.dummy
	if known {
		hash = []byte(u.PasswordHash)
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(pass)) != nil || !known {
		c.opts.Auth.Fail("console", src, name)
		c.log.Warn("console sign-in refused", "user", mask.Text(clip(name)), "source", src)
		c.showLogin(w, r, http.StatusUnauthorized, "Wrong username or password.")
		return
	}
	c.opts.Auth.Pass(name)
	token, ss := c.sessions.create(u)
	c.setCookie(w, r, sessionCookie, token, int(c.opts.Config.SessionTTL.Seconds()))
	c.setCookie(w, r, loginCookie, "", -1)
	c.audit.record(r.Context(), ss.user, src, "sign-in", "", "")
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

// logout ends the session.
func (c *Console) logout(w http.ResponseWriter, r *http.Request, ss *session) {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		c.sessions.end(ck.Value)
	}
	c.setCookie(w, r, sessionCookie, "", -1)
	c.audit.record(r.Context(), ss.user, guard.Source(r.RemoteAddr), "sign-out", "", "")
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
}

// clip bounds what a caller typed before it reaches a log line.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
