package console_test

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openmf/smsgw/app"
	"github.com/openmf/smsgw/app/apptest"
	"github.com/openmf/smsgw/client"
	"github.com/openmf/smsgw/config"
	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/gateway/limits"
	"github.com/openmf/smsgw/httpapi/console"
	"github.com/openmf/smsgw/internal/testutil"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
	"github.com/openmf/smsgw/provider/twilio"
	"github.com/openmf/smsgw/smpp/smsc"
)

// The console users of the tests. Their hashes have bcrypt's least cost
// (check-config warns about it) because bcrypt under the race detector
// takes seconds at cost 10.
const (
	operatorPass = "operator-secret"
	viewerPass   = "viewer-secret"
	operatorHash = "$2a$04$bqu9v3Oy04O7rEcrFjsH3.voa1jP4q/0F0N4s1J5iBrJMiwmPuEcS"
	viewerHash   = "$2a$04$UmI0xkRAnWiNM9QDCfiVhexLz41e/2JOhyvR.QpHvFYZM0.cgQzrG"
)

// gw is a running gateway with a console, its simulator and its base URL.
type gw struct {
	app  *app.App
	sim  *smsc.Server
	base string
}

// startGateway starts a gateway whose console has four users: noc
// (operator), ops (viewer), mfi-op (operator of mfi-a only) and mfi-view
// (viewer of mfi-a). tune, when given, changes the config first.
func startGateway(t *testing.T, tune func(*config.Config), opts ...smsc.Option) *gw {
	t.Helper()
	sim := smsc.NewServer(opts...)
	t.Cleanup(sim.Close)
	cfg := apptest.Config(t, sim.Addr(), t.TempDir())
	cfg.Console = &console.Config{Users: []console.User{
		{Username: "noc", PasswordHash: operatorHash, Role: console.Operator},
		{Username: "ops", PasswordHash: viewerHash, Role: console.Viewer},
		{Username: "mfi-op", PasswordHash: operatorHash, Role: console.Operator, Tenant: "mfi-a"},
		{Username: "mfi-view", PasswordHash: viewerHash, Role: console.Viewer, Tenant: "mfi-a"},
	}}
	if tune != nil {
		tune(cfg)
	}
	if err := config.Complete(cfg); err != nil {
		t.Fatal(err)
	}
	a := apptest.Start(t, cfg)
	return &gw{app: a, sim: sim, base: "http://" + a.HTTPAddr()}
}

// browser is an HTTP client that keeps cookies and does not follow
// redirects, so a test sees each answer.
type browser struct {
	t    *testing.T
	c    *http.Client
	base string
	csrf string // the session's token, read from the last page
}

func (g *gw) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: g.base, c: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	body := html.UnescapeString(string(raw)) // html/template writes + as &#43;
	if m := csrfRE.FindStringSubmatch(body); m != nil {
		b.csrf = m[1]
	}
	return resp, body
}

func (b *browser) get(path string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.base+path, nil)
	return b.do(req)
}

// post sends a form the way a browser does from a console page: with
// this origin.
func (b *browser) post(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.base)
	return b.do(req)
}

// signIn signs in and fails the test unless it worked.
func (b *browser) signIn(user, pass string) {
	b.t.Helper()
	if resp, body := b.trySignIn(user, pass); resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("sign-in as %s: %d\n%s", user, resp.StatusCode, body)
	}
	if resp, body := b.get("/console/overview"); resp.StatusCode != http.StatusOK || !strings.Contains(body, user) {
		b.t.Fatalf("overview after sign-in: %d", resp.StatusCode)
	}
}

func (b *browser) trySignIn(user, pass string) (*http.Response, string) {
	b.t.Helper()
	b.get("/console/login")
	return b.post("/console/login", url.Values{"username": {user}, "password": {pass}, "csrf": {b.csrf}, "next": {"/console/overview"}})
}

// A page needs a session; signing in sets a cookie the browser keeps from
// scripts and other sites, and signing out ends the session on the server.
func TestSignInSessionAndSignOut(t *testing.T) {
	g := startGateway(t, nil)
	b := g.browser(t)
	resp, _ := b.get("/console/messages?status=FAILED")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/login?next=%2Fconsole%2Fmessages%3Fstatus%3DFAILED" {
		t.Fatalf("without a session: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, body := b.trySignIn("noc", "wrong"); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Wrong username or password") {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	if resp, body := b.trySignIn("nobody", operatorPass); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Wrong username or password") {
		t.Fatalf("unknown user: %d", resp.StatusCode)
	}
	resp, _ = b.trySignIn("noc", operatorPass)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/overview" {
		t.Fatalf("sign-in: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var cookie string
	for _, h := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(h, "smsgw_console=") {
			cookie = h
		}
	}
	for _, attr := range []string{"Path=/console/", "HttpOnly", "SameSite=Strict", "Max-Age=28800"} {
		if !strings.Contains(cookie, attr) {
			t.Errorf("session cookie lacks %s: %q", attr, cookie)
		}
	}
	if strings.Contains(cookie, "Secure") {
		t.Errorf("cookie is Secure on plain HTTP without secure_cookies: %q", cookie)
	}
	resp, body := b.get("/console/overview")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "noc · operator") {
		t.Fatalf("overview: %d", resp.StatusCode)
	}
	for h, want := range map[string]string{"X-Frame-Options": "DENY", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"} {
		if resp.Header.Get(h) != want {
			t.Errorf("%s: %q, want %q", h, resp.Header.Get(h), want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy: %q", csp)
	}
	u, _ := url.Parse(g.base + "/console/")
	stolen := b.c.Jar.Cookies(u)
	if resp, _ := b.post("/console/logout", url.Values{"csrf": {b.csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", resp.StatusCode)
	}
	// The old cookie, replayed, opens nothing.
	b.c.Jar.SetCookies(u, stolen)
	if resp, _ := b.get("/console/overview"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a signed-out session still opens the overview: %d", resp.StatusCode)
	}
	if resp, body := b.get("/console/audit"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("audit without a session: %d %s", resp.StatusCode, body)
	}
	b.signIn("noc", operatorPass)
	if _, body := b.get("/console/audit"); !strings.Contains(body, "sign-in") || !strings.Contains(body, "sign-out") {
		t.Errorf("audit page lacks the sign-in and sign-out:\n%s", body)
	}
}

// Every POST needs the session's CSRF token and this origin; the sign-in
// form needs its own token.
func TestCSRF(t *testing.T) {
	g := startGateway(t, nil)
	b := g.browser(t)
	b.signIn("noc", operatorPass)
	pause := url.Values{"carrier": {"sim"}, "action": {"pause"}}
	if resp, body := b.post("/console/carriers", pause); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "CSRF check failed") {
		t.Fatalf("POST without a token: %d", resp.StatusCode)
	}
	pause.Set("csrf", "forged-"+b.csrf)
	if resp, _ := b.post("/console/carriers", pause); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("POST with a wrong token: %d", resp.StatusCode)
	}
	pause.Set("csrf", b.csrf)
	req, _ := http.NewRequest(http.MethodPost, g.base+"/console/carriers", strings.NewReader(pause.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if resp, _ := b.do(req); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("POST from another origin with the right token: %d", resp.StatusCode)
	}
	if g.app.Engine().CarrierPaused("sim") {
		t.Fatal("a refused POST paused the carrier")
	}
	if resp, _ := b.post("/console/carriers", pause); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST with the token: %d", resp.StatusCode)
	}
	if !g.app.Engine().CarrierPaused("sim") {
		t.Fatal("the carrier is not paused")
	}
	if _, body := b.get("/console/carriers"); !strings.Contains(body, "pause-carrier sim: done.") || !strings.Contains(body, `id="resume-sim"`) {
		t.Errorf("carriers page after pausing:\n%s", body)
	}
	// The sign-in form without its token is refused before the password
	// is looked at.
	other := g.browser(t)
	if resp, body := other.post("/console/login", url.Values{"username": {"noc"}, "password": {operatorPass}}); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "sign-in form expired") {
		t.Fatalf("sign-in without its token: %d", resp.StatusCode)
	}
}

// A viewer reads with numbers and texts hidden and is refused every
// action; an operator limited to a tenant acts on that tenant only.
func TestRoles(t *testing.T) {
	g := startGateway(t, nil)
	out, err := g.app.Engine().Accept(context.Background(), "mfi-a", []gateway.SendRequest{{To: "+254712345678", Text: "Your loan repayment of 500 is due", ClientRef: "loan-42"}})
	if err != nil || out[0].Err != nil {
		t.Fatal(err, out)
	}
	b := g.browser(t)
	b.signIn("ops", viewerPass)
	_, body := b.get("/console/messages?client_ref=loan-42")
	if !strings.Contains(body, "+2547*****678") || strings.Contains(body, "+254712345678") {
		t.Errorf("viewer's search does not mask the number:\n%s", body)
	}
	_, body = b.get("/console/message?tenant=mfi-a&id=" + out[0].ID)
	if strings.Contains(body, "+254712345678") || strings.Contains(body, "repayment") || !strings.Contains(body, "shown to operators only") {
		t.Errorf("viewer's message page shows the number or the text:\n%s", body)
	}
	for path, form := range map[string]url.Values{
		"/console/carriers": {"carrier": {"sim"}, "action": {"pause"}},
		"/console/optouts":  {"tenant": {"mfi-a"}, "number": {"+254712345678"}, "action": {"opt-out"}},
		"/console/message":  {"tenant": {"mfi-a"}, "id": {out[0].ID}, "action": {"cancel"}},
	} {
		form.Set("csrf", b.csrf)
		if resp, body := b.post(path, form); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Your role is viewer") {
			t.Errorf("viewer POST %s: %d", path, resp.StatusCode)
		}
	}
	if g.app.Engine().CarrierPaused("sim") {
		t.Fatal("a viewer paused the carrier")
	}

	op := g.browser(t)
	op.signIn("mfi-op", operatorPass)
	if resp, body := op.post("/console/carriers", url.Values{"carrier": {"sim"}, "action": {"pause"}, "csrf": {op.csrf}}); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "every tenant") {
		t.Errorf("a tenant's operator paused a carrier: %d", resp.StatusCode)
	}
	if resp, _ := op.get("/console/message?tenant=mfi-b&id=" + out[0].ID); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a tenant's operator opened another tenant's message: %d", resp.StatusCode)
	}
	_, body = op.get("/console/message?tenant=mfi-a&id=" + out[0].ID)
	if !strings.Contains(body, "+254712345678") || !strings.Contains(body, "repayment") {
		t.Errorf("an operator does not see the number and text:\n%s", body)
	}
	resp, _ := op.post("/console/optouts", url.Values{"tenant": {"mfi-a"}, "number": {"0712345678"}, "action": {"opt-out"}, "csrf": {op.csrf}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("opt-out: %d", resp.StatusCode)
	}
	_, body = op.get("/console/optouts?tenant=mfi-a&number=%2B254712345678")
	if !strings.Contains(body, "opted out</strong>") || strings.Contains(body, "not opted out") {
		t.Errorf("the number is not opted out:\n%s", body)
	}
	if !regexp.MustCompile(`<tr><td>\+254712345678</td><td>[^<]+</td><td>console:mfi-op</td></tr>`).MatchString(body) {
		t.Errorf("the opt-out list lacks the number with who put it there:\n%s", body)
	}
	if _, body := b.get("/console/optouts?tenant=mfi-a"); !strings.Contains(body, "<td>+2547*****678</td>") || strings.Contains(body, "+254712345678") {
		t.Errorf("the viewer's opt-out list does not mask the number:\n%s", body)
	}
	if _, body := op.get("/console/audit"); !strings.Contains(body, "opt-out") || !strings.Contains(body, "mfi-a +2547*****678") {
		t.Errorf("audit lacks the opt-out with its masked number:\n%s", body)
	}
	// Another tenant's viewer does not see mfi-op's actions; the gateway's do.
	if _, body := b.get("/console/audit"); !strings.Contains(body, "mfi-op") {
		t.Errorf("the gateway viewer's audit page lacks mfi-op's action")
	}
}

// Failed sign-ins back off per source and per user, whatever the password
// then is.
func TestSignInBacksOff(t *testing.T) {
	g := startGateway(t, func(c *config.Config) {
		c.Limits.Auth.Free, c.Limits.Auth.Base = 2, time.Minute
	})
	b := g.browser(t)
	for range 2 {
		if resp, _ := b.trySignIn("noc", "guess"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d", resp.StatusCode)
		}
	}
	resp, body := b.trySignIn("noc", operatorPass)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "Too many failed sign-ins") {
		t.Fatalf("after 2 failures the right password: %d %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// The live stream sends snapshots with the carriers and counters.
func TestLiveStream(t *testing.T) {
	g := startGateway(t, nil)
	b := g.browser(t)
	b.signIn("ops", viewerPass)
	req, _ := http.NewRequest(http.MethodGet, g.base+"/console/live", nil)
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("live: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	buf := make([]byte, 4096)
	n, _ := io.ReadAtLeast(resp.Body, buf, 20)
	got := string(buf[:n])
	if !strings.HasPrefix(got, "event: snapshot\ndata: {") || !strings.Contains(got, `"name":"sim"`) {
		t.Fatalf("first event: %q", got)
	}
	anon, _ := http.Get(g.base + "/console/live")
	anon.Body.Close()
	if anon.StatusCode != http.StatusUnauthorized {
		t.Fatalf("live without a session: %d", anon.StatusCode)
	}
}

// reloadFile is a gateway config with a console; %s are the SMSC's host
// and port, the store's path, the route's cost and noc's role.
const reloadFile = `listen: {grpc: "127.0.0.1:0", http: "127.0.0.1:0"}
store: {driver: sqlite, path: %s}
tenants:
  - {id: mfi-a, api_keys: ["tenant-a-key-0001"], default_region: KE, sender: MFI-A}
carriers:
  - name: sim
    smpp: {host: %s, port: %s, system_id: mfi, password: secret}
routes:
  - {prefix: "+254", carrier: sim, cost: %s, currency: KES}
console:
  users:
    - {username: noc, role: %s, password_hash: "` + operatorHash + `"}
    - {username: ops, role: operator, password_hash: "` + viewerHash + `"}
`

// An operator reloads the config file from the routes page: the page
// says what changed, or why the file was refused; a user whose role the
// file changed is signed out at once, others stay.
func TestReloadFromTheConsole(t *testing.T) {
	sim := smsc.NewServer()
	t.Cleanup(sim.Close)
	host, port, _ := strings.Cut(sim.Addr(), ":")
	dir := t.TempDir()
	path := filepath.Join(dir, "smsgw.yaml")
	write := func(cost, role string) {
		t.Helper()
		if err := os.WriteFile(path, fmt.Appendf(nil, reloadFile, filepath.Join(dir, "smsgw.db"), host, port, cost, role), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("0.8", "operator")
	cfg, err := app.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	a := apptest.StartWith(t, cfg, app.Options{ConfigPath: path})
	g := &gw{app: a, sim: sim, base: "http://" + a.HTTPAddr()}
	noc, ops := g.browser(t), g.browser(t)
	noc.signIn("noc", operatorPass)
	ops.signIn("ops", viewerPass)

	write("0.5", "operator")
	noc.get("/console/routes")
	if resp, _ := noc.post("/console/routes", url.Values{"action": {"reload"}, "csrf": {noc.csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("reload: %d", resp.StatusCode)
	}
	if _, body := noc.get("/console/routes"); !strings.Contains(body, "Config reloaded; changed: routes[0].cost.") || !strings.Contains(body, "0.5 KES") {
		t.Fatalf("routes page after the reload:\n%s", body)
	}
	// A change that needs a restart is refused whole, and the page says so.
	if err := os.WriteFile(path, []byte(strings.Replace(string(must(os.ReadFile(path))), "sender: MFI-A", "sender: MFI-A}\n  - {id: mfi-z, api_keys: [\"tenant-z-key-0009\"], default_region: KE, sender: Z", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	noc.post("/console/routes", url.Values{"action": {"reload"}, "csrf": {noc.csrf}})
	if _, body := noc.get("/console/routes"); !strings.Contains(body, "Reload refused, nothing changed") || !strings.Contains(body, "cannot change without a restart") {
		t.Fatalf("routes page after a refused reload:\n%s", body)
	}
	// noc becomes a viewer: their session ends; ops's stays.
	write("0.5", "viewer")
	ops.post("/console/routes", url.Values{"action": {"reload"}, "csrf": {ops.csrf}})
	if resp, _ := noc.get("/console/overview"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("noc's session outlived the change of role: %d", resp.StatusCode)
	}
	if _, body := ops.get("/console/audit"); strings.Count(body, "reload-config") != 3 || !strings.Contains(body, "refused: ") {
		t.Errorf("the audit trail lacks the reloads:\n%s", body)
	}
	noc.signIn("noc", operatorPass)
	if _, body := noc.get("/console/routes"); strings.Contains(body, `id="reload"`) || !strings.Contains(body, "noc · viewer") {
		t.Errorf("noc signed in again is not a viewer:\n%s", body)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// The tenants page shows spend against the caps and counts since start;
// a user limited to a tenant sees that tenant alone.
func TestTenantsPage(t *testing.T) {
	g := startGateway(t, func(c *config.Config) {
		c.Tenants[0].Fraud = &limits.FraudConfig{DailySpendCap: 10, PerRecipientPerHour: 3}
	})
	out, err := g.app.Engine().Accept(context.Background(), "mfi-a", []gateway.SendRequest{{To: "+254712345678", Text: "hello"}})
	if err != nil || out[0].Err != nil {
		t.Fatal(err, out)
	}
	b := g.browser(t)
	b.signIn("ops", viewerPass)
	_, body := b.get("/console/tenants")
	for _, want := range []string{`id="tenant-mfi-a"`, `id="tenant-mfi-b"`, "0.8 of 10 <meter", "3 an hour", "1 accepted, 0 refused", "(no daily cap)"} {
		if !strings.Contains(body, want) {
			t.Errorf("tenants page lacks %q:\n%s", want, body)
		}
	}
	mfi := g.browser(t)
	mfi.signIn("mfi-view", viewerPass)
	if _, body := mfi.get("/console/tenants"); !strings.Contains(body, `id="tenant-mfi-a"`) || strings.Contains(body, "mfi-b") {
		t.Errorf("a tenant's viewer sees another tenant:\n%s", body)
	}
}

// An operator cancels a message not sent yet, and resends a copy of one
// the carrier refused; the same form sent twice resends once.
func TestCancelAndResend(t *testing.T) {
	g := startGateway(t, nil, smsc.WithHandler(func(s *smsc.Submit) smsc.Action {
		if strings.HasSuffix(s.Dest, "000999") {
			return smsc.Action{Status: 0x0B} // ESME_RINVDSTADR
		}
		return smsc.Action{}
	}))
	eng := g.app.Engine()
	out, err := eng.Accept(context.Background(), "mfi-a", []gateway.SendRequest{
		{To: "+254712000999", Text: "refused", ClientRef: "bad"},
		{To: "+254712000123", Text: "tomorrow", NotBefore: time.Now().Add(time.Hour)},
	})
	if err != nil || out[0].Err != nil || out[1].Err != nil {
		t.Fatal(err, out)
	}
	b := g.browser(t)
	b.signIn("mfi-op", operatorPass)
	_, body := b.get("/console/message?tenant=mfi-a&id=" + out[1].ID)
	if !strings.Contains(body, `id="cancel"`) || strings.Contains(body, `id="resend"`) {
		t.Fatalf("a scheduled message's page:\n%s", body)
	}
	b.post("/console/message", url.Values{"tenant": {"mfi-a"}, "id": {out[1].ID}, "action": {"cancel"}, "csrf": {b.csrf}})
	if m, err := eng.Get(context.Background(), "mfi-a", out[1].ID); err != nil || m.Status != gateway.StatusCanceled {
		t.Fatalf("after cancel: %v %v", m.Status, err)
	}
	var m *gateway.Message
	testutil.Eventually(t, 10*time.Second, func() error {
		if m, err = eng.Get(context.Background(), "mfi-a", out[0].ID); err != nil || !m.Status.Final() {
			return fmt.Errorf("not final yet: %v", err)
		}
		return nil
	})
	_, body = b.get("/console/message?tenant=mfi-a&id=" + out[0].ID)
	token := regexp.MustCompile(`name="token" value="([^"]+)"`).FindStringSubmatch(body)
	if token == nil || strings.Contains(body, `id="cancel"`) {
		t.Fatalf("a refused message's page:\n%s", body)
	}
	form := url.Values{"tenant": {"mfi-a"}, "id": {out[0].ID}, "action": {"resend"}, "csrf": {b.csrf}, "token": {token[1]}}
	first, _ := b.post("/console/message", form)
	again, _ := b.post("/console/message", form)
	loc := first.Header.Get("Location")
	if first.StatusCode != http.StatusSeeOther || again.Header.Get("Location") != loc || strings.Contains(loc, out[0].ID) {
		t.Fatalf("resend went to %q, then %q", loc, again.Header.Get("Location"))
	}
	u, _ := url.Parse(loc)
	cp, err := eng.Get(context.Background(), "mfi-a", u.Query().Get("id"))
	if err != nil || cp.To != m.To || cp.Text != "refused" || cp.ClientRef != "console-resend:"+out[0].ID+":"+token[1] {
		t.Fatalf("the copy: %+v %v", cp, err)
	}
	if _, body := b.get("/console/audit"); strings.Count(body, "<td>resend-message</td>") != 2 || !strings.Contains(body, "<td>cancel-message</td>") || !strings.Contains(body, out[0].ID+" as "+cp.ID) {
		t.Errorf("the audit trail lacks the actions:\n%s", body)
	}
}

// The inbound page lists what clients sent (numbers and texts hidden from
// viewers), the keyword rules matched and the outbox tasks run.
func TestInboundPage(t *testing.T) {
	g := startGateway(t, nil)
	if err := g.sim.SendMO("+254712345678", "22555", "STOP"); err != nil {
		t.Fatal(err)
	}
	b := g.browser(t)
	b.signIn("ops", viewerPass)
	var body string
	testutil.Eventually(t, 10*time.Second, func() error {
		_, body = b.get("/console/inbound")
		if !strings.Contains(body, "<td>mo.optout</td><td class=\"task ok\">ok</td><td>1</td>") {
			return errors.New("the opt-out task has not run yet")
		}
		return nil
	})
	if !strings.Contains(body, "<td>+2547*****678</td>") || strings.Contains(body, "+254712345678") || !strings.Contains(body, "shown to operators only") {
		t.Errorf("the viewer's inbound page shows the number or the text:\n%s", body)
	}
	if !regexp.MustCompile(`<table id="keywords">[\s\S]*<td>1</td>`).MatchString(body) {
		t.Errorf("the keyword table lacks the message:\n%s", body)
	}
	if !strings.Contains(body, "No task is failing.") {
		t.Errorf("a failing task before any failed:\n%s", body)
	}
	// A task no handler takes is given up at once, with why.
	if _, err := g.app.Engine().EnqueueTasks(t.Context(), []gateway.Task{{Key: "console-test:1", Kind: "no-such-kind", Tenant: "mfi-b"}}); err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`<tr><td><code>console-test:1</code></td><td>no-such-kind</td><td>mfi-b</td><td>1</td><td class="task-error">no handler for task kind "no-such-kind"</td>.*given up`)
	testutil.Eventually(t, 10*time.Second, func() error {
		if _, body = b.get("/console/inbound"); !row.MatchString(body) {
			return errors.New("the failing task is not listed")
		}
		return nil
	})
	mfi := g.browser(t)
	mfi.signIn("mfi-view", viewerPass)
	if _, body := mfi.get("/console/inbound"); strings.Contains(body, "console-test:1") || !strings.Contains(body, "No task is failing.") {
		t.Errorf("a tenant's viewer sees another tenant's failing task:\n%s", body)
	}
}

var newKeyRE = regexp.MustCompile(`smsgw_[A-Za-z0-9_-]{43}`)

// An operator of a tenant makes an API key: shown once, it sends through
// the gRPC API at once; revoked, it is refused at once. Viewers can do
// neither, and both actions are in the audit trail.
func TestAPIKeysFromTheConsole(t *testing.T) {
	g := startGateway(t, nil)
	view := g.browser(t)
	view.signIn("mfi-view", viewerPass)
	if _, body := view.get("/console/tenants"); strings.Contains(body, `value="create-api-key"`) || !strings.Contains(body, "None: this tenant") {
		t.Errorf("a viewer's tenants page offers to make keys or lacks the key list:\n%s", body)
	}
	if resp, _ := view.post("/console/tenants", url.Values{"tenant": {"mfi-a"}, "action": {"create-api-key"}, "csrf": {view.csrf}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a viewer made a key: %d", resp.StatusCode)
	}

	op := g.browser(t)
	op.signIn("mfi-op", operatorPass)
	op.get("/console/tenants")
	if resp, _ := op.post("/console/tenants", url.Values{"tenant": {"mfi-b"}, "action": {"create-api-key"}, "csrf": {op.csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("an operator of mfi-a making a key for mfi-b: %d", resp.StatusCode)
	}
	if _, body := op.get("/console/tenants"); !strings.Contains(body, `no tenant "mfi-b"`) {
		t.Errorf("the refusal is not said:\n%s", body)
	}
	if resp, _ := op.post("/console/tenants", url.Values{"tenant": {"mfi-a"}, "action": {"create-api-key"}, "label": {"loans"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a key made without the CSRF token: %d", resp.StatusCode)
	}
	resp, body := op.post("/console/tenants", url.Values{"tenant": {"mfi-a"}, "action": {"create-api-key"}, "label": {"loan reminders"}, "csrf": {op.csrf}})
	key := newKeyRE.FindString(body)
	if resp.StatusCode != http.StatusOK || key == "" || !strings.Contains(body, "shown this once") {
		t.Fatalf("making a key: %d\n%s", resp.StatusCode, body)
	}
	prefix := key[:14]
	_, body = op.get("/console/tenants")
	if strings.Contains(body, key) || newKeyRE.MatchString(body) || !strings.Contains(body, prefix+"…") || !strings.Contains(body, "loan reminders") {
		t.Fatalf("the key list after making one:\n%s", body)
	}
	if strings.Count(body, `value="revoke-api-key"`) != 1 {
		t.Errorf("want one revoke button:\n%s", body)
	}

	cl, err := client.Dial(g.app.GRPCAddr(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := t.Context()
	r, err := cl.Send(ctx, &pb.SendRequest{To: "+254712345678", Text: "through a console key"})
	if err != nil {
		t.Fatalf("sending with the new key: %v", err)
	}
	if m, err := g.app.Engine().Get(ctx, "mfi-a", r.GetId()); err != nil || m.Text != "through a console key" {
		t.Fatalf("the message sent with the key is not mfi-a's: %v", err)
	}

	if resp, _ := view.post("/console/tenants", url.Values{"tenant": {"mfi-a"}, "action": {"revoke-api-key"}, "prefix": {prefix}, "csrf": {view.csrf}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a viewer revoked a key: %d", resp.StatusCode)
	}
	if resp, _ := op.post("/console/tenants", url.Values{"tenant": {"mfi-a"}, "action": {"revoke-api-key"}, "prefix": {prefix}, "csrf": {op.csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoking: %d", resp.StatusCode)
	}
	if _, err := cl.Send(ctx, &pb.SendRequest{To: "+254712345678", Text: "after revoke"}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("sending with a revoked key: %v, want Unauthenticated", err)
	}
	_, body = op.get("/console/tenants")
	if !strings.Contains(body, "by mfi-op") || strings.Contains(body, `value="revoke-api-key"`) || strings.Contains(body, key) {
		t.Errorf("the key list after revoking:\n%s", body)
	}
	if resp, _ := op.post("/console/tenants", url.Values{"tenant": {"mfi-a"}, "action": {"revoke-api-key"}, "prefix": {prefix}, "csrf": {op.csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("revoking twice: %d", resp.StatusCode)
	}
	if _, body := op.get("/console/tenants"); !strings.Contains(body, "has no key "+prefix+" in force") {
		t.Errorf("revoking twice is not refused:\n%s", body)
	}
	_, body = op.get("/console/audit")
	if !strings.Contains(body, "<td>create-api-key</td>") || strings.Count(body, "<td>revoke-api-key</td>") != 2 || strings.Contains(body, key) || !strings.Contains(body, prefix) {
		t.Errorf("the audit trail of the keys:\n%s", body)
	}
}

// The carriers page lists a breaker's transitions on this node; an
// operator's reset is one of them.
func TestBreakerHistory(t *testing.T) {
	g := startGateway(t, nil)
	b := g.browser(t)
	b.signIn("noc", operatorPass)
	if _, body := b.get("/console/carriers"); strings.Contains(body, `id="history-sim"`) {
		t.Fatalf("a history before any transition:\n%s", body)
	}
	if resp, _ := b.post("/console/carriers", url.Values{"carrier": {"sim"}, "action": {"reset-breaker"}, "csrf": {b.csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("reset: %d", resp.StatusCode)
	}
	_, body := b.get("/console/carriers")
	row := regexp.MustCompile(`(?s)id="history-sim".*?<td class="breaker closed">closed</td><td class="breaker closed">closed</td><td>reset by an operator</td>`)
	if !row.MatchString(body) {
		t.Errorf("the carriers page lacks the reset in sim's history:\n%s", body)
	}
}

// withHTTPCarrier adds a Twilio carrier no route uses: a carrier without
// binds on the carriers page.
func withHTTPCarrier(c *config.Config) {
	c.Carriers = append(c.Carriers, config.Carrier{Name: "tw", Kind: "twilio", Section: &twilio.Config{
		BaseURL: "http://127.0.0.1:9", AccountSID: "AC" + strings.Repeat("0", 32), AuthToken: "token",
		From: "+15005550006", StatusCallbackURL: "https://smsgw.example/twilio/status",
	}})
}

// Rebinding from the carriers page unbinds each bind (the simulated SMSC
// sees the unbinds) and binds again at once; the bind's history names who
// asked, the audit trail has it, and viewers, tenants' operators and HTTP
// carriers are refused.
func TestRebindFromTheConsole(t *testing.T) {
	g := startGateway(t, withHTTPCarrier)
	rebind := func(carrier string, b *browser) (*http.Response, string) {
		return b.post("/console/carriers", url.Values{"carrier": {carrier}, "action": {"rebind"}, "csrf": {b.csrf}})
	}
	viewer := g.browser(t)
	viewer.signIn("ops", viewerPass)
	if resp, body := rebind("sim", viewer); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Your role is viewer") {
		t.Fatalf("a viewer's rebind: %d", resp.StatusCode)
	}
	tenantOp := g.browser(t)
	tenantOp.signIn("mfi-op", operatorPass)
	if resp, body := rebind("sim", tenantOp); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "every tenant") {
		t.Fatalf("a tenant's operator's rebind: %d", resp.StatusCode)
	}
	if n := g.sim.Stats().Unbinds; n != 0 {
		t.Fatalf("a refused rebind unbound %d binds", n)
	}

	b := g.browser(t)
	b.signIn("noc", operatorPass)
	_, body := b.get("/console/carriers")
	if !strings.Contains(body, `id="rebind-sim"`) || strings.Contains(body, `id="rebind-tw"`) || strings.Contains(body, `id="binds-tw"`) {
		t.Fatalf("the rebind button should be on sim's row only:\n%s", body)
	}
	binds := g.sim.Stats().Binds
	if resp, _ := rebind("sim", b); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("rebind: %d", resp.StatusCode)
	}
	// apptest's carrier has two binds: two unbinds, two new binds.
	testutil.Eventually(t, 10*time.Second, func() error {
		if st := g.sim.Stats(); st.Unbinds != 2 || st.Binds != binds+2 || st.Bound != 2 {
			return fmt.Errorf("unbinds %d, binds %d (were %d), bound %d", st.Unbinds, st.Binds, binds, st.Bound)
		}
		if !g.app.Engine().Ready() {
			return errors.New("the carrier is not up again")
		}
		return nil
	})
	_, body = b.get("/console/carriers")
	if !strings.Contains(body, "rebind-carrier sim: done.") {
		t.Errorf("no flash after the rebind:\n%s", body)
	}
	for i := range 2 {
		row := regexp.MustCompile(fmt.Sprintf(`(?s)id="bind-history-sim-%d".*?<td class="state connecting">connecting</td><td>unbound: rebind asked by noc</td>`, i))
		if !row.MatchString(body) {
			t.Errorf("bind %d's history lacks the rebind by noc:\n%s", i, body)
		}
	}

	if resp, _ := rebind("tw", b); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("rebinding an HTTP carrier: %d", resp.StatusCode)
	}
	if _, body := b.get("/console/carriers"); !strings.Contains(body, "rebind-carrier tw failed") || !strings.Contains(body, "has no binds") {
		t.Errorf("rebinding an HTTP carrier does not say why it failed:\n%s", body)
	}
	if _, body := b.get("/console/audit"); strings.Count(body, "rebind-carrier") != 2 {
		t.Errorf("the audit trail lacks the two rebinds:\n%s", body)
	}
}

// The carriers page shows each bind's state, since when and why, its
// transitions (a link the SMSC dropped, then bound again) and the
// carrier's response time once messages went out.
func TestBindStatesOnTheCarriersPage(t *testing.T) {
	g := startGateway(t, nil, smsc.WithResponseDelay(time.Millisecond, 3*time.Millisecond))
	b := g.browser(t)
	b.signIn("ops", viewerPass) // a viewer reads it all
	_, body := b.get("/console/carriers")
	if !regexp.MustCompile(`(?s)id="bind-sim-0".*?<td class="state bound">bound</td>.*?<td>bound at attempt 1</td>\s*<td>0 of 64</td>\s*<td>none</td>`).MatchString(body) {
		t.Fatalf("bind 0 of sim is not shown bound:\n%s", body)
	}

	g.sim.KillConnections()
	testutil.Eventually(t, 10*time.Second, func() error {
		_, body = b.get("/console/carriers")
		for i := range 2 {
			row := regexp.MustCompile(fmt.Sprintf(`(?s)id="bind-history-sim-%d".*?<td class="state bound">bound</td><td>bound at attempt \d+</td></tr>\s*<tr>.*?<td class="state down">down</td><td>link lost`, i))
			if !row.MatchString(body) {
				return fmt.Errorf("bind %d: no link lost then bound", i)
			}
		}
		return nil
	})

	out, err := g.app.Engine().Accept(context.Background(), "mfi-a", []gateway.SendRequest{
		{To: "+254712345678", Text: "one"}, {To: "+254712345679", Text: "two"}, {To: "+254712345670", Text: "three"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		var n int
		for _, bs := range must(g.app.Engine().CarrierBinds("sim")) {
			n += bs.Responses.Count
			if bs.Responses.Count > 0 && bs.Responses.Mean <= 0 {
				return fmt.Errorf("bind %d: %d responses, mean %v", bs.Index, bs.Responses.Count, bs.Responses.Mean)
			}
		}
		if n != 3 {
			return fmt.Errorf("%d responses measured", n)
		}
		return nil
	})
	if _, body := b.get("/console/carriers"); !regexp.MustCompile(`mean \d+\.\d ms, p99 \d+\.\d ms <small>\(\d responses?\)</small>`).MatchString(body) {
		t.Errorf("no response time on the page:\n%s", body)
	}
}

// taskID finds a failing task's number in its row's form.
func taskID(t *testing.T, body, key string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<code>` + regexp.QuoteMeta(key) + `</code>.*?name="task" value="(\d+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no form for task %s:\n%s", key, body)
	}
	return m[1]
}

// An operator retries a given-up outbox task now (it runs again and,
// succeeding, leaves the list) and drops one still retrying (given up,
// saying by whom). Viewers have no buttons and are refused; a tenant's
// operator cannot touch another tenant's task; every action is audited.
func TestFailingTaskActions(t *testing.T) {
	g := startGateway(t, nil)
	var fail atomic.Bool
	fail.Store(true)
	var runs atomic.Int32
	eng := g.app.Engine()
	if err := eng.HandleTasks("console-give-up", func(context.Context, gateway.Task) error {
		runs.Add(1)
		if fail.Load() {
			return gateway.GiveUp(errors.New("HTTP 410 from the MFI's endpoint"))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := eng.HandleTasks("console-retrying", func(context.Context, gateway.Task) error {
		return errors.New("HTTP 503 from the endpoint")
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.EnqueueTasks(t.Context(), []gateway.Task{
		{Key: "console-test:given-up", Kind: "console-give-up", Tenant: "mfi-a"},
		{Key: "console-test:retrying", Kind: "console-retrying", Tenant: "mfi-b"},
	}); err != nil {
		t.Fatal(err)
	}
	noc := g.browser(t)
	noc.signIn("noc", operatorPass)
	var body string
	testutil.Eventually(t, 10*time.Second, func() error {
		_, body = noc.get("/console/inbound")
		if !strings.Contains(body, "console-test:retrying") || !regexp.MustCompile(`(?s)console-test:given-up</code>.*?given up`).MatchString(body) {
			return errors.New("the two tasks are not listed as failing yet")
		}
		return nil
	})
	givenUp, retrying := taskID(t, body, "console-test:given-up"), taskID(t, body, "console-test:retrying")
	if strings.Contains(body, `id="drop-task-`+givenUp+`"`) || !strings.Contains(body, `id="drop-task-`+retrying+`"`) {
		t.Errorf("drop is offered for the given-up task or not for the retrying one:\n%s", body)
	}

	view := g.browser(t)
	view.signIn("ops", viewerPass)
	if _, body := view.get("/console/inbound"); strings.Contains(body, `value="retry-task"`) || !strings.Contains(body, "console-test:given-up") {
		t.Errorf("a viewer's inbound page offers task actions or lacks the tasks:\n%s", body)
	}
	if resp, _ := view.post("/console/inbound", url.Values{"task": {givenUp}, "action": {"retry-task"}, "csrf": {view.csrf}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a viewer retried a task: %d", resp.StatusCode)
	}
	mfi := g.browser(t)
	mfi.signIn("mfi-op", operatorPass)
	mfi.get("/console/inbound")
	if resp, _ := mfi.post("/console/inbound", url.Values{"task": {retrying}, "action": {"drop-task"}, "csrf": {mfi.csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("mfi-a's operator dropping mfi-b's task: %d", resp.StatusCode)
	}
	if _, body := mfi.get("/console/inbound"); !strings.Contains(body, "no task "+retrying+" of tenant mfi-a") {
		t.Errorf("the refusal of another tenant's task is not said:\n%s", body)
	}
	if resp, _ := noc.post("/console/inbound", url.Values{"task": {givenUp}, "action": {"retry-task"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a retry without the CSRF token: %d", resp.StatusCode)
	}

	// The retrying task runs every second or so: a drop that meets a run
	// is refused ("running now") and is sent again.
	testutil.Eventually(t, 10*time.Second, func() error {
		noc.post("/console/inbound", url.Values{"task": {retrying}, "action": {"drop-task"}, "csrf": {noc.csrf}})
		if _, body = noc.get("/console/inbound"); !strings.Contains(body, "drop-task task "+retrying+": done.") {
			return errors.New("the drop was not taken")
		}
		return nil
	})
	dropped := regexp.MustCompile(`(?s)console-test:retrying</code>.*?given up by console user noc \(last error: HTTP 503 from the endpoint\).*?given up`)
	if !dropped.MatchString(body) {
		t.Errorf("the dropped task is not listed as given up by noc:\n%s", body)
	}

	fail.Store(false)
	before := runs.Load()
	noc.post("/console/inbound", url.Values{"task": {givenUp}, "action": {"retry-task"}, "csrf": {noc.csrf}})
	if _, body = noc.get("/console/inbound"); !strings.Contains(body, "retry-task task "+givenUp+": done.") {
		t.Errorf("the retry's outcome is not said:\n%s", body)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if _, body = noc.get("/console/inbound"); strings.Contains(body, "console-test:given-up") {
			return errors.New("the retried task is still failing")
		}
		return nil
	})
	if runs.Load() != before+1 {
		t.Errorf("the given-up task ran %d times after its retry, want once", runs.Load()-before)
	}

	_, body = noc.get("/console/audit")
	for _, want := range []string{"retry-task", "drop-task", "task " + retrying} {
		if !strings.Contains(body, want) {
			t.Errorf("the audit page lacks %q:\n%s", want, body)
		}
	}
}

// A key made with a lifetime shows when it expires, works until then (the
// expiry itself is grpcapi's TestStoredKeysExpire), and is audited with
// it; a lifetime not offered is refused.
func TestAPIKeyWithExpiry(t *testing.T) {
	g := startGateway(t, nil)
	op := g.browser(t)
	op.signIn("mfi-op", operatorPass)
	if _, body := op.get("/console/tenants"); !strings.Contains(body, `<option value="30 days">in 30 days</option>`) {
		t.Fatalf("the key form offers no lifetimes:\n%s", body)
	}
	if resp, _ := op.post("/console/tenants", url.Values{"tenant": {"mfi-a"}, "action": {"create-api-key"}, "expires": {"3 days"}, "csrf": {op.csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("a key with a lifetime not offered: %d", resp.StatusCode)
	}
	if _, body := op.get("/console/tenants"); !strings.Contains(body, `unknown expiry "3 days"`) || newKeyRE.MatchString(body) {
		t.Errorf("the refused lifetime is not said, or a key was made:\n%s", body)
	}
	before := time.Now()
	resp, body := op.post("/console/tenants", url.Values{"tenant": {"mfi-a"}, "action": {"create-api-key"}, "label": {"pilot"}, "expires": {"7 days"}, "csrf": {op.csrf}})
	after := time.Now()
	key := newKeyRE.FindString(body)
	if resp.StatusCode != http.StatusOK || key == "" {
		t.Fatalf("making a key for 7 days: %d\n%s", resp.StatusCode, body)
	}
	_, body = op.get("/console/tenants")
	day := func(t time.Time) string { return t.AddDate(0, 0, 7).UTC().Format("2006-01-02") }
	expires := regexp.MustCompile(`<td>pilot</td><td>[^<]+</td><td>mfi-op</td><td>(\d{4}-\d\d-\d\d) \d\d:\d\d:\d\dZ</td><td>no</td>`).FindStringSubmatch(body)
	if expires == nil || (expires[1] != day(before) && expires[1] != day(after)) {
		t.Errorf("the key's expiry is not shown 7 days ahead:\n%s", body)
	}
	cl, err := client.Dial(g.app.GRPCAddr(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Send(t.Context(), &pb.SendRequest{To: "+254712345678", Text: "through a key for 7 days"}); err != nil {
		t.Fatalf("sending with a key not yet expired: %v", err)
	}
	if _, body := op.get("/console/audit"); !regexp.MustCompile(`create-api-key</td><td>mfi-a smsgw_\S+ "pilot" expires \d{4}-`).MatchString(body) {
		t.Errorf("the audit entry lacks the expiry:\n%s", body)
	}
}
