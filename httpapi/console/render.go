package console

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"
)

// pageNames are the templates under templates/, each rendered inside
// layout.html.
var pageNames = []string{"login", "error", "overview", "carriers", "routes", "messages", "message", "inbound", "optouts", "audit", "tenants"}

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	// past says whether a time (an API key's expiry) has come; zero never does.
	"past": func(t time.Time) bool { return !t.IsZero() && !time.Now().Before(t) },
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return time.Since(t).Round(time.Second).String() + " ago"
	},
	"money":  func(v float64) string { return fmt.Sprintf("%.4g", v) },
	"lower":  strings.ToLower,
	"list":   func(s ...string) []string { return s },
	"mul100": func(v float64) float64 { return 100 * v },
	"ms":     func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) },
}

func parsePages() (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// view is what every page template gets.
type view struct {
	Title string
	Page  string
	User  *User // nil on the sign-in page
	CSRF  string
	Flash string
	D     any // the page's own data
}

// Operator says whether the signed-in user may act.
func (v view) Operator() bool { return v.User != nil && v.User.Role == Operator }

// GatewayOperator says whether the user may take gateway-wide actions.
func (v view) GatewayOperator() bool { return v.Operator() && v.User.Tenant == "" }

// render writes a page; the status code, if not 200, is written already.
func (c *Console) render(w http.ResponseWriter, _ *http.Request, ss *session, page, title string, data any) {
	v := view{Title: title, Page: page, D: data}
	if ss != nil {
		u := ss.user
		v.User, v.CSRF, v.Flash = &u, ss.csrf, ss.takeFlash()
	}
	var buf bytes.Buffer
	if err := c.pages[page].Execute(&buf, v); err != nil {
		c.log.Error("console page failed", "page", page, "err", err)
		http.Error(w, "the page could not be drawn; the log says why", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

// finish ends an action: the flash says what happened on the page the
// browser is sent back to (post, redirect, get).
func (c *Console) finish(w http.ResponseWriter, r *http.Request, ss *session, back, flash string) {
	ss.setFlash(flash)
	http.Redirect(w, r, back, http.StatusSeeOther)
}
