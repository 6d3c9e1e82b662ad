package console_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/openmf/smsgw/config"
	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/internal/testutil"
	"github.com/openmf/smsgw/smpp"
	"github.com/openmf/smsgw/smpp/smsc"
)

// ScreenshotsEnv names the folder the browser test writes a PNG of each
// page to; `make test` sets it (under bin/, never committed). Unset, the
// screenshots are taken and dropped.
const ScreenshotsEnv = "SMSGW_CONSOLE_SCREENSHOTS"

// chromiumPath finds Debian's chromium (`make chromium-installed` installs
// it). The binary itself, not the /usr/bin/chromium wrapper script, which
// adds flags of its own.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/lib/chromium/chromium", "chromium", "chromium-browser"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatal("chromium is not installed: run `make chromium-installed` (Debian's chromium package)")
	return ""
}

// page is one Chromium tab on a gateway's console.
type page struct {
	t    *testing.T
	ctx  context.Context
	base string
	dir  string // screenshots; "" drops them
}

// openChromium starts a headless Chromium with a fresh profile and
// nothing that reaches out to the network on its own (the test machine
// has none: Chromium's background fetches would stall it).
func openChromium(t *testing.T, base string) *page {
	t.Helper()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	p := &page{t: t, ctx: ctx, base: base, dir: os.Getenv(ScreenshotsEnv)}
	if p.dir != "" {
		if err := os.MkdirAll(p.dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The first call starts the browser, and a deadline on its context
	// would stop the browser with it: wait for it beside instead.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx, chromedp.Navigate(base+"/console/login")) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("start Chromium: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Chromium did not start within 30s")
	}
	return p
}

// step bounds one action, so a step that cannot happen fails the test
// instead of hanging it.
func (p *page) step() (context.Context, context.CancelFunc) {
	return context.WithTimeout(p.ctx, 20*time.Second)
}

// do runs actions in order within a deadline.
func (p *page) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

// get runs one action that answers a value.
func get[T any](p *page, what string, a chromedp.Action[T]) T {
	p.t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// until polls a JavaScript condition on the page until it holds.
func (p *page) until(what, js string) {
	p.t.Helper()
	get(p, what, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(15*time.Second), chromedp.WithPollingInterval(50*time.Millisecond)))
}

// text is the text of the first element matching sel.
func (p *page) text(sel string) string {
	p.t.Helper()
	return get(p, "read "+sel, chromedp.Text(chromedp.CSS(sel)))
}

// shot writes the page as name.png.
func (p *page) shot(name string) {
	p.t.Helper()
	p.until("page loaded for "+name, `document.readyState === "complete" && document.body.scrollWidth > 0`)
	png := get(p, "screenshot "+name, chromedp.FullScreenshot(100))
	if p.dir != "" {
		if err := os.WriteFile(filepath.Join(p.dir, name+".png"), png, 0o644); err != nil {
			p.t.Fatal(err)
		}
	}
}

// landOn waits until the browser is on an address containing what (a
// form's GET has landed) and that page is ready: waiting for an element
// alone could match the page being left, and polling it across the
// navigation fails.
func (p *page) landOn(what string) {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
		loc, err := chromedp.Run(ctx, chromedp.Location())
		cancel()
		if err == nil && strings.Contains(loc, what) {
			break
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("the browser is on %q (%v), not on an address with %q", loc, err, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.do("ready after landing on "+what, chromedp.WaitReady(chromedp.CSS("main")))
}

func (p *page) open(path string) {
	p.t.Helper()
	p.do("open "+path, chromedp.Navigate(p.base+path), chromedp.WaitReady(chromedp.CSS("main")))
}

func (p *page) signIn(user, pass string) {
	p.t.Helper()
	p.open("/console/login")
	p.do("sign in as "+user,
		chromedp.SendKeys(chromedp.CSS("#username"), user),
		chromedp.SendKeys(chromedp.CSS("#password"), pass),
		chromedp.Click(chromedp.CSS("#sign-in")),
		chromedp.WaitVisible(chromedp.CSS("#who")))
}

// The console in a real browser: sign in, watch a carrier go down and
// come back on the overview, find a failed message and read why, opt a
// number out, pause a carrier, and see a viewer refused an operator
// action; a screenshot of each page.
func TestConsoleInABrowser(t *testing.T) {
	refuse := smsc.WithHandler(func(s *smsc.Submit) smsc.Action {
		if strings.HasSuffix(s.Dest, "000999") {
			return smsc.Action{Status: 0x0B} // ESME_RINVDSTADR
		}
		return smsc.Action{}
	})
	g := startGateway(t, func(c *config.Config) {
		c.Carriers[0].Section.(*smpp.Config).RebindInterval = 100 * time.Millisecond
	}, refuse)
	p := openChromium(t, g.base)
	p.shot("login")
	p.signIn("noc", operatorPass)
	if who := p.text("#who"); !strings.Contains(who, "noc · operator") {
		t.Fatalf("signed in as %q", who)
	}

	// A carrier goes down and comes back, as the overview's live table shows.
	p.open("/console/overview")
	up := `document.querySelector('#carriers tr[data-carrier="sim"] .state').textContent === "up" && document.getElementById("live-state").textContent.startsWith("Live")`
	p.until("the overview shows sim up, live", up)
	addr := g.sim.Addr()
	g.sim.Close()
	p.until("the overview shows sim down", `document.querySelector('#carriers tr[data-carrier="sim"] .state').textContent.startsWith("down") && document.getElementById("binds-up").textContent === "0"`)
	p.shot("overview-carrier-down")
	sim, err := smsc.Listen(addr, refuse)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	p.until("the overview shows sim up again", up)

	// A failed message, found by its client ref, says why.
	out, err := g.app.Engine().Accept(context.Background(), "mfi-a", []gateway.SendRequest{
		{To: "+254712000999", Text: "Loan 7 approved", ClientRef: "loan-7"},
		{To: "+254712000123", Text: "Loan 8 approved", ClientRef: "loan-8"},
	})
	if err != nil || out[0].Err != nil || out[1].Err != nil {
		t.Fatal(err, out)
	}
	p.open("/console/overview")
	p.until("the overview counts the accepted messages", `+document.getElementById("total-accepted").textContent >= 2`)
	p.shot("overview")
	testutil.Eventually(t, 10*time.Second, func() error {
		m, err := g.app.Engine().Get(context.Background(), "mfi-a", out[0].ID)
		if err != nil || !m.Status.Final() {
			return fmt.Errorf("loan-7 not final yet: %v", err)
		}
		return nil
	})
	p.open("/console/messages")
	p.do("search for loan-7",
		chromedp.SendKeys(chromedp.CSS("#client_ref"), "loan-7"),
		chromedp.Click(chromedp.CSS("#search")))
	// The page before the search lists messages too: wait for the search's.
	p.landOn("client_ref=loan-7")
	p.do("the search's results", chromedp.WaitVisible(chromedp.CSS("#results tbody a")))
	p.shot("messages")
	p.do("open the message", chromedp.Click(chromedp.CSS("#results tbody a")), chromedp.WaitVisible(chromedp.CSS("#timeline")))
	if why := p.text("#why"); !strings.Contains(why, "ESME_RINVDSTADR") {
		t.Errorf("the failed message's why: %q", why)
	}
	if st := p.text("#status"); st != "REJECTED" && st != "FAILED" {
		t.Errorf("the failed message's status: %q", st)
	}
	p.shot("message")

	// Opt a number out.
	p.open("/console/optouts?tenant=mfi-a")
	p.do("opt a number out",
		chromedp.SendKeys(chromedp.CSS("#ch-number"), "0712000123"),
		chromedp.Click(chromedp.CSS("#opt-out")),
		chromedp.WaitVisible(chromedp.CSS("#flash")))
	if f := p.text("#flash"); !strings.Contains(f, "opt-out mfi-a +2547*****123: done") {
		t.Errorf("flash after opting out: %q", f)
	}
	p.open("/console/optouts?tenant=mfi-a&number=%2B254712000123")
	if st := p.text("#optout-state"); !strings.Contains(st, "is opted out of mfi-a") {
		t.Errorf("after opting out: %q", st)
	}
	p.shot("optouts")

	// Pause the carrier, then resume it.
	p.open("/console/carriers")
	p.do("pause sim", chromedp.Click(chromedp.CSS("#pause-sim")), chromedp.WaitVisible(chromedp.CSS("#resume-sim")))
	if !g.app.Engine().CarrierPaused("sim") {
		t.Fatal("the carrier is not paused")
	}
	// "paused", and once the engine has noted it down, since when.
	if st := p.text("#carrier-sim .state"); st != "paused" && !strings.HasPrefix(st, "paused since ") {
		t.Errorf("carriers page says %q", st)
	}
	p.shot("carriers-paused")
	p.do("resume sim", chromedp.Click(chromedp.CSS("#resume-sim")), chromedp.WaitVisible(chromedp.CSS("#pause-sim")))

	p.open("/console/routes?to=%2B254712000123&tenant=mfi-a")
	if ex := p.text("#explanation"); !strings.Contains(ex, "sim") {
		t.Errorf("the explanation does not name the carrier: %q", ex)
	}
	p.shot("routes")
	p.open("/console/inbound")
	p.shot("inbound")
	p.open("/console/tenants")
	p.shot("tenants")
	p.open("/console/audit")
	audit := p.text("#audit")
	for _, want := range []string{"pause-carrier", "resume-carrier", "opt-out"} {
		if !strings.Contains(audit, want) {
			t.Errorf("the audit page lacks %s", want)
		}
	}
	p.shot("audit")

	// A viewer sees no action and is refused one sent anyway.
	p.do("sign out", chromedp.Click(chromedp.CSS(".who button")), chromedp.WaitVisible(chromedp.CSS("#username")))
	p.signIn("ops", viewerPass)
	p.open("/console/carriers")
	buttons := get(p, "count action buttons", chromedp.Evaluate[int](`document.querySelectorAll("#carrier-sim button").length`))
	if buttons != 0 {
		t.Errorf("a viewer sees %d action buttons", buttons)
	}
	// The request a viewer could craft by hand: a form with their own
	// session's token (scripts from devtools are not bound by the page's
	// Content-Security-Policy).
	get(p, "post a pause as a viewer", chromedp.Evaluate[bool](`(() => {
		const f = document.createElement("form");
		f.method = "post"; f.action = "/console/carriers";
		for (const [k, v] of [["csrf", document.querySelector("input[name=csrf]").value], ["carrier", "sim"], ["action", "pause"]]) {
			const i = document.createElement("input"); i.type = "hidden"; i.name = k; i.value = v; f.appendChild(i);
		}
		document.body.appendChild(f); f.submit(); return true;
	})()`))
	p.do("wait for the refusal", chromedp.WaitVisible(chromedp.CSS("#refused")))
	if r := p.text("#refused"); !strings.Contains(r, "Your role is viewer") {
		t.Errorf("the viewer's refusal says %q", r)
	}
	if g.app.Engine().CarrierPaused("sim") {
		t.Fatal("a viewer paused the carrier")
	}
	p.shot("viewer-refused")
}
