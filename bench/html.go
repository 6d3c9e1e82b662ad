package bench

import (
	"fmt"
	"html"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
)

// WriteHTML writes the report as one self-contained page: the summary, the
// carriers, and time-series plots as inline SVG (no script, no fonts, no
// CDN), so it can be attached to a ticket or opened offline in a NOC.
func (r *Report) WriteHTML(w io.Writer) error {
	return htmlPage.Execute(w, r)
}

type line struct {
	name  string
	color string
	y     func(Sample) float64
}

// plot draws series lines against time, with the scenario's marks as
// vertical rules. Values are drawn as they are; the y axis starts at 0.
func plot(title, unit string, series []Sample, marks []Mark, lines []line) template.HTML {
	const (
		W, H                   = 860, 260
		left, right, top, bott = 64, 16, 28, 34
	)
	pw, ph := float64(W-left-right), float64(H-top-bott)
	tmax, ymax := 0.0, 0.0
	for _, s := range series {
		tmax = math.Max(tmax, s.T)
		for _, l := range lines {
			ymax = math.Max(ymax, l.y(s))
		}
	}
	ymax = niceCeil(ymax)
	if tmax <= 0 {
		tmax = 1
	}
	x := func(t float64) float64 { return float64(left) + t/tmax*pw }
	y := func(v float64) float64 { return float64(top) + ph - v/ymax*ph }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`, W, H, W, H, html.EscapeString(title))
	fmt.Fprintf(&b, `<text x="%d" y="18" class="t">%s</text>`, left, html.EscapeString(title))
	for i := 0; i <= 4; i++ {
		v := ymax * float64(i) / 4
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="g"/><text x="%d" y="%.1f" class="yl">%s</text>`,
			left, W-right, y(v), y(v), left-6, y(v)+4, html.EscapeString(axisLabel(v, unit)))
	}
	step := niceCeil(tmax / 8)
	for i := 0; float64(i)*step <= tmax+1e-9; i++ {
		t := float64(i) * step
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="xl">%ss</text>`, x(t), H-bott+16, tickLabel(t, step))
	}
	for _, m := range marks {
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" class="m"/><text x="%.1f" y="%d" class="ml">%s</text>`,
			x(m.T), x(m.T), top, H-bott, x(m.T)+3, top+10, html.EscapeString(m.What))
	}
	lx := float64(W - right - 150*len(lines))
	for i, l := range lines {
		var pts strings.Builder
		for _, s := range series {
			fmt.Fprintf(&pts, "%.1f,%.1f ", x(s.T), y(l.y(s)))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.6" points="%s"/>`, l.color, strings.TrimSpace(pts.String()))
		fmt.Fprintf(&b, `<rect x="%.0f" y="8" width="10" height="10" fill="%s"/><text x="%.0f" y="17" class="lg">%s</text>`,
			lx+float64(i)*150, l.color, lx+float64(i)*150+14, html.EscapeString(l.name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every text in it is escaped above
}

// tickLabel prints an axis value with as many decimals as the step has,
// so 3 × 0.2 reads 0.6, not 0.6000000000000001.
func tickLabel(v, step float64) string {
	decimals := 0
	if step < 1 {
		decimals = int(math.Ceil(-math.Log10(step) - 1e-9))
	}
	return strconv.FormatFloat(v, 'f', decimals, 64)
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten, for axis ends.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func axisLabel(v float64, unit string) string {
	switch {
	case v >= 10000:
		return fmt.Sprintf("%.0fk%s", v/1000, unit)
	case v == math.Trunc(v):
		return fmt.Sprintf("%.0f%s", v, unit)
	default: // rounded off the float noise of ymax × i/4
		return strconv.FormatFloat(math.Round(v*1e6)/1e6, 'f', -1, 64) + unit
	}
}

var htmlPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"ms": fmtMS,
	"throughput": func(r *Report) template.HTML {
		return plot("Throughput (messages per second)", "/s", r.Series, r.Marks, []line{
			{"accepted", "#1f77b4", func(s Sample) float64 { return float64(s.Accepted) }},
			{"submitted", "#ff7f0e", func(s Sample) float64 { return float64(s.Submitted) }},
			{"receipts", "#2ca02c", func(s Sample) float64 { return float64(s.Receipts) }},
		})
	},
	"acceptLatency": func(r *Report) template.HTML {
		return plot("Accept latency per second", "ms", r.Series, r.Marks, []line{
			{"p50", "#1f77b4", func(s Sample) float64 { return s.AcceptP50 }},
			{"p99", "#d62728", func(s Sample) float64 { return s.AcceptP99 }},
		})
	},
	"e2eLatency": func(r *Report) template.HTML {
		return plot("End-to-end latency (call to receipt) per second", "ms", r.Series, r.Marks, []line{
			{"p50", "#2ca02c", func(s Sample) float64 { return s.EndP50 }},
			{"p99", "#9467bd", func(s Sample) float64 { return s.EndP99 }},
		})
	},
	"process": func(r *Report) template.HTML {
		return plot("Gateway CPU (% of one core) and resident memory (MiB)", "", r.Series, r.Marks, []line{
			{"cpu %", "#8c564b", func(s Sample) float64 { return s.CPUPercent }},
			{"rss MiB", "#e377c2", func(s Sample) float64 { return s.RSSMiB }},
		})
	},
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>smsbench: {{.Name}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:920px}
table{border-collapse:collapse;margin:8px 0 18px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
svg{display:block;margin:10px 0 22px;font-size:11px}
.t{font-weight:600;font-size:13px}.g{stroke:#e5e5e5}.yl{text-anchor:end;fill:#555}.xl{text-anchor:middle;fill:#555}
.m{stroke:#d62728;stroke-dasharray:4 3}.ml{fill:#d62728}.lg{fill:#333}
.bad{color:#b00;font-weight:600}
</style></head><body>
<h1>smsbench: {{.Name}}</h1>
{{with .Description}}<p>{{.}}</p>{{end}}
<p>Load as run: {{.LoadSummary}}<br>
Run <code>{{.Run}}</code> started {{.Started.Format "2006-01-02 15:04:05 UTC"}} on {{.Machine.GoVersion}} {{.Machine.OS}}/{{.Machine.Arch}}, {{.Machine.CPUs}} CPUs{{with .Machine.CPUModel}} ({{.}}){{end}}.</p>
<h2>Summary</h2>
<table>
<tr><th>messages</th><th>sent</th><th>accepted</th><th>refused</th><th>parts</th><th>submitted</th><th>delivered</th><th>undelivered</th><th>unfinished</th></tr>
<tr><td></td><td>{{.Sent}}</td><td>{{.Accepted}}</td><td>{{.Refused}}</td><td>{{.Parts}}</td><td>{{.Submitted}}</td><td>{{.Delivered}}</td><td>{{.Undelivered}}</td><td>{{.Unfinished}}</td></tr>
</table>
<table>
<tr><th>at the carriers</th><th>lost</th><th>duplicated</th><th>extra copies</th></tr>
{{if .Ledger}}<tr><td></td><td{{if .Lost}} class="bad"{{end}}>{{.Lost}}</td><td{{if .Duplicated}} class="bad"{{end}}>{{.Duplicated}}</td><td>{{.ExtraCopies}}</td></tr>
{{else}}<tr><td>not counted: the carriers ran elsewhere</td><td>–</td><td>–</td><td>–</td></tr>{{end}}
</table>
<table>
<tr><th>throughput</th><th>accepted/s</th><th>submitted/s</th><th>receipts/s</th><th>load</th><th>with drain</th></tr>
<tr><td></td><td>{{printf "%.0f" .AcceptedPerSec}}</td><td>{{printf "%.0f" .SubmittedPerSec}}</td><td>{{printf "%.0f" .ReceiptsPerSec}}</td><td>{{printf "%.1f" .LoadSeconds}} s</td><td>{{printf "%.1f" .TotalSeconds}} s</td></tr>
</table>
<table>
<tr><th>latency</th><th>n</th><th>p50</th><th>p95</th><th>p99</th><th>max</th></tr>
{{with .Accept}}<tr><td>accept</td><td>{{.Count}}</td><td>{{ms .P50}}</td><td>{{ms .P95}}</td><td>{{ms .P99}}</td><td>{{ms .Max}}</td></tr>{{end}}
{{with .Submit}}<tr><td>submit ({{$.SubmitSource}})</td><td>{{.Count}}</td><td>{{ms .P50}}</td><td>{{ms .P95}}</td><td>{{ms .P99}}</td><td>{{ms .Max}}</td></tr>{{end}}
{{with .EndToEnd}}<tr><td>end to end</td><td>{{.Count}}</td><td>{{ms .P50}}</td><td>{{ms .P95}}</td><td>{{ms .P99}}</td><td>{{ms .Max}}</td></tr>{{end}}
</table>
{{with .Gateway}}{{if .Measured}}<p>Gateway{{if .InProcess}} process (shared with the simulated carriers and the load generator){{end}}:
CPU {{printf "%.1f" .CPUSeconds}} s ({{printf "%.0f" .CPUPercent}}% of one core on average), resident memory max {{printf "%.0f" .RSSMaxMiB}} MiB, at the end {{printf "%.0f" .RSSEndMiB}} MiB.</p>{{end}}{{end}}
<h2>Over time</h2>
{{if lt (len .Series) 2}}<p>The run was too short to chart ({{len .Series}} sample{{if ne (len .Series) 1}}s{{end}}); the tables above have its figures.</p>
{{else}}{{throughput .}}
{{acceptLatency .}}
{{e2eLatency .}}
{{if .Gateway.Measured}}{{process .}}{{end}}{{end}}
{{with .Carriers}}<h2>Carriers</h2>
<table><tr><th>carrier</th><th>submits</th><th>accepted parts</th><th>throttled</th><th>rejected</th><th>receipts sent</th><th>redelivered</th><th>MO sent</th><th>link drops</th><th>max in flight</th><th>binds</th></tr>
{{range .}}<tr><td>{{.Name}} <small>{{.Addr}}</small></td><td>{{.Submits}}</td><td>{{.Accepted}}</td><td>{{.Throttled}}</td><td>{{.Rejected}}</td><td>{{.ReceiptsSent}}</td><td>{{.Redelivered}}</td><td>{{.MOSent}}</td><td>{{.LinkDrops}}</td><td>{{.MaxInFlight}}</td><td>{{.BindsAccepted}}</td></tr>
{{end}}</table>{{end}}
{{with .Marks}}<h2>Timeline</h2><ul>{{range .}}<li>{{printf "%.1f" .T}} s: {{.What}}</li>{{end}}</ul>{{end}}
{{with .Errors}}<h2>Errors</h2><ul>{{range $k, $v := .}}<li>{{$v}} × {{$k}}</li>{{end}}</ul>{{end}}
</body></html>
`))
