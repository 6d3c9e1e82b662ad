package kannel

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/openmf/smsgw/internal/guard"
)

// Status formats (gw/bb_http.c httpd_serve): chosen by the path's
// extension, else by the Accept header.
const (
	statusText = iota
	statusHTML
	statusXML
)

// KannelVersion is the bearerbox version /status names on its first line,
// the Kannel release whose HTTP interface smsgw speaks: monitoring tools
// (kannel_exporter and the like) read the version from that line and
// refuse a page without it. The Build line names smsgw and its version.
const KannelVersion = "1.4.5"

// status serves /status like Kannel's bearerbox admin interface (gw/bb_http.c
// httpd_serve and httpd_status, gw/bearerbox.c bb_print_status), so
// monitoring scripts that parse it keep working. With a status password
// configured, ?password= must be it or the admin password, else the
// answer is "Denied" (still 200, as in Kannel). The Content-Type follows
// the Accept header, as httpd_serve sets it: /status.xml asked without
// "Accept: text/xml" is served as text/plain, as Kannel does.
func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	format, ct := statusText, "text/plain"
	accept := strings.Join(r.Header.Values("Accept"), ",")
	switch {
	case strings.Contains(accept, "text/html"):
		format, ct = statusHTML, "text/html"
	case strings.Contains(accept, "text/xml"):
		format, ct = statusXML, "text/xml"
	}
	switch {
	case strings.HasSuffix(r.URL.Path, ".txt"):
		format = statusText
	case strings.HasSuffix(r.URL.Path, ".html"):
		format = statusHTML
	case strings.HasSuffix(r.URL.Path, ".xml"):
		format = statusXML
	}
	var body string
	if !s.statusAllowed(r) {
		body = "Denied"
	} else {
		body = s.printStatus(format)
	}
	var header, footer string
	switch format {
	case statusHTML:
		header = "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2//EN\">\n<html>\n<title>Kannel</title>\n<body>\n<p>"
		footer, ct = "</p>\n</body></html>\n", "text/html"
	case statusXML:
		header, footer = "<?xml version=\"1.0\"?>\n<gateway>\n", "</gateway>\n"
	default:
		ct = "text/plain"
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(header + body + footer))
}

// statusAllowed is gw/bb_http.c httpd_check_authorization for /status:
// open without a status password, else ?password= must be it or the admin
// password when one is set (compared in constant time; an empty admin
// password opens nothing). Wrong passwords count towards the failed-login
// back-off, and a source backing off is denied unchecked.
func (s *Server) statusAllowed(r *http.Request) bool {
	if s.cfg.StatusPassword == "" {
		return true
	}
	src := guard.Source(r.RemoteAddr)
	if s.opts.Auth.Check("kannel", src, "") != nil {
		return false
	}
	pw := r.URL.Query().Get("password")
	ok := guard.Equal(pw, s.cfg.StatusPassword)
	if s.cfg.AdminPassword != "" && guard.Equal(pw, s.cfg.AdminPassword) {
		ok = true
	}
	if !ok {
		s.opts.Auth.Fail("kannel", src, "")
	}
	return ok
}

// dhms splits a duration as Kannel's uptime: days, hours, minutes, seconds.
func dhms(d time.Duration) (int64, int64, int64, int64) {
	t := int64(d / time.Second)
	return t / 3600 / 24, t / 3600 % 24, t / 60 % 60, t % 60
}

// sysInfo is what gwlib/utils.c version_report_string reports of the
// machine, read once when the server is built.
type sysInfo struct {
	host, ip, compiler, system, machine string
}

func readSysInfo() sysInfo {
	host, _ := os.Hostname()
	ip := "127.0.0.1"
	if addrs, err := net.LookupHost(host); err == nil && len(addrs) > 0 {
		ip = addrs[0]
	}
	return sysInfo{host: host, ip: ip, compiler: runtime.Version(), system: runtime.GOOS, machine: runtime.GOARCH}
}

// versionReport is version_report_string for smsgw: the bearerbox line,
// then the build, system and host lines (Kannel's libxml, SSL and database
// lines have no smsgw counterpart).
func (s *Server) versionReport() string {
	i := s.sys
	return fmt.Sprintf("Kannel bearerbox version `%s'.\nBuild `smsgw %s', compiler `%s'.\n"+
		"System %s, release -, version -, machine %s.\nHostname %s, IP %s.\nUsing native malloc.\n",
		KannelVersion, s.opts.Version, i.compiler, i.system, i.machine, i.host, i.ip)
}

// Counters read for the bearerbox lines (the App's Counters: counters and
// gauges of the metrics registry, summed over their labels).
const (
	counterInbound   = "smsgw_gateway_inbound_total"
	counterSubmitted = "smsgw_gateway_submitted_parts_total"
	counterReceipts  = "smsgw_gateway_receipts_total"
	gaugeQueue       = "smsgw_gateway_queue_depth"
)

func (s *Server) printStatus(format int) string {
	now := s.opts.Now()
	s.sample(now)
	m := map[string]float64{}
	if s.opts.Counters != nil {
		var err error
		if m, err = s.opts.Counters(); err != nil {
			s.log.Warn("status: counters", "err", err)
		}
	}
	smsIn, smsOut := int64(m[counterInbound]), int64(m[counterSubmitted])
	dlrIn, dlrOut := int64(m[counterReceipts]), s.dlrSent.Load()
	queued := int64(m[gaugeQueue])
	up := now.Sub(s.started)
	d, h, mi, sec := dhms(up)
	g := s.loads.rates(now, "", up)
	args := []any{s.versionReport(), "running", d, h, mi, sec,
		0, 0, 0, 0, // WDP
		smsIn, 0, smsOut, queued, queued,
		g[loadSMSIn][0], g[loadSMSIn][1], g[loadSMSIn][2], g[loadSMSOut][0], g[loadSMSOut][1], g[loadSMSOut][2],
		dlrIn, dlrOut,
		g[loadDLRIn][0], g[loadDLRIn][1], g[loadDLRIn][2], g[loadDLROut][0], g[loadDLROut][1], g[loadDLROut][2],
		0, "smsgw"}
	var b strings.Builder
	switch format {
	case statusXML:
		fmt.Fprintf(&b, "<version>%s</version>\n"+
			"<status>%s, uptime %dd %dh %dm %ds</status>\n"+
			"\t<wdp>\n\t\t<received><total>%d</total><queued>%d</queued></received>\n\t\t<sent><total>%d</total><queued>%d</queued></sent>\n\t</wdp>\n"+
			"\t<sms>\n\t\t<received><total>%d</total><queued>%d</queued></received>\n\t\t<sent><total>%d</total><queued>%d</queued></sent>\n\t\t<storesize>%d</storesize>\n\t\t"+
			"<inbound>%.2f,%.2f,%.2f</inbound>\n\t\t<outbound>%.2f,%.2f,%.2f</outbound>\n\t\t</sms>\n"+
			"\t<dlr>\n\t\t<received><total>%d</total></received>\n\t\t<sent><total>%d</total></sent>\n\t\t"+
			"<inbound>%.2f,%.2f,%.2f</inbound>\n\t\t<outbound>%.2f,%.2f,%.2f</outbound>\n\t\t<queued>%d</queued>\n\t\t<storage>%s</storage>\n\t</dlr>\n",
			args...)
	case statusHTML:
		fmt.Fprintf(&b, "%s</p>\n\n"+
			" <p>Status: %s, uptime %dd %dh %dm %ds</p>\n\n"+
			" <p>WDP: received %d (%d queued), sent %d (%d queued)</p>\n\n"+
			" <p>SMS: received %d (%d queued), sent %d (%d queued), store size %d<br>\n"+
			" SMS: inbound (%.2f,%.2f,%.2f) msg/sec, outbound (%.2f,%.2f,%.2f) msg/sec</p>\n\n"+
			" <p>DLR: received %d, sent %d<br>\n"+
			" DLR: inbound (%.2f,%.2f,%.2f) msg/sec, outbound (%.2f,%.2f,%.2f) msg/sec<br>\n"+
			" DLR: %d queued, using %s storage</p>\n\n",
			args...)
	default:
		fmt.Fprintf(&b, "%s\n\nStatus: %s, uptime %dd %dh %dm %ds\n\n"+
			"WDP: received %d (%d queued), sent %d (%d queued)\n\n"+
			"SMS: received %d (%d queued), sent %d (%d queued), store size %d\n"+
			"SMS: inbound (%.2f,%.2f,%.2f) msg/sec, outbound (%.2f,%.2f,%.2f) msg/sec\n\n"+
			"DLR: received %d, sent %d\n"+
			"DLR: inbound (%.2f,%.2f,%.2f) msg/sec, outbound (%.2f,%.2f,%.2f) msg/sec\n"+
			"DLR: %d queued, using %s storage\n\n",
			args...)
	}
	s.boxStatus(&b, format, up)
	s.smscStatus(&b, format, now)
	if format == statusHTML {
		b.WriteString("<p>") // bb_print_status's HTML footer
	}
	return b.String()
}

// boxStatus is gw/bb_boxc.c boxc_status with this interface as the one
// smsbox, queueing the dlr-url and sms-service calls not made yet: scripts
// that alarm on "No boxes connected" stay quiet, and the queue shows
// callbacks piling up.
func (s *Server) boxStatus(b *strings.Builder, format int, up time.Duration) {
	d, h, m, sec := dhms(up)
	q := max(s.boxQueued.Load(), 0)
	switch format {
	case statusXML:
		fmt.Fprintf(b, "<boxes>\n\t<box>\n\t\t<type>smsbox</type>\n\t\t<id></id>\n\t\t<IP>127.0.0.1</IP>\n"+
			"\t\t<queue>%d</queue>\n\t\t<status>on-line %dd %dh %dm %ds</status>\n\t\t<ssl>no</ssl>\n\t</box></boxes>\n", q, d, h, m, sec)
	case statusHTML:
		fmt.Fprintf(b, "<p>Box connections:<br>\n&nbsp;&nbsp;&nbsp;&nbsp;smsbox:(none), IP 127.0.0.1 (%d queued), "+
			"(on-line %dd %dh %dm %ds)  <br>\n</p>\n\n", q, d, h, m, sec)
	default:
		fmt.Fprintf(b, "Box connections:\n    smsbox:(none), IP 127.0.0.1 (%d queued), (on-line %dd %dh %dm %ds)  \n\n\n",
			q, d, h, m, sec)
	}
}

// smscStatus is gw/bb_smscconn.c smsc2_status over the carriers: the
// carrier's name as smsc-id and admin-id, its connection name, how long it
// has been up, its counters and their loads (0.00 while it is not online,
// as in Kannel).
func (s *Server) smscStatus(b *strings.Builder, format int, now time.Time) {
	cs := s.carriersCounted()
	type line struct {
		c     Carrier
		state string
		r     [loadKinds][3]float64
	}
	lines := make([]line, len(cs))
	for i, c := range cs {
		lines[i].c = c
		lines[i].state = "re-connecting"
		if since, ok := s.upSince(c.ID); ok && c.Up {
			lines[i].state = fmt.Sprintf("online %ds", int64(now.Sub(since)/time.Second))
			lines[i].r = s.loads.rates(now, c.ID, now.Sub(s.started))
		}
		if lines[i].c.Name == "" {
			lines[i].c.Name = strings.ToUpper(c.Kind)
		}
	}
	if format == statusXML {
		fmt.Fprintf(b, "<smscs><count>%d</count>\n\t", len(cs))
		for _, l := range lines {
			c, r := l.c, l.r
			fmt.Fprintf(b, "<smsc>\n\t\t<name>%s</name>\n\t\t<admin-id>%s</admin-id>\n\t\t<id>%s</id>\n\t\t<status>%s</status>\n"+
				"\t\t<failed>%d</failed>\n\t\t<queued>%d</queued>\n"+
				"\t\t<sms>\n\t\t\t<received>%d</received>\n\t\t\t<sent>%d</sent>\n"+
				"\t\t\t<inbound>%.2f,%.2f,%.2f</inbound>\n\t\t\t<outbound>%.2f,%.2f,%.2f</outbound>\n\t\t</sms>\n"+
				"\t\t<dlr>\n\t\t\t<received>%d</received>\n\t\t\t<sent>%d</sent>\n"+
				"\t\t\t<inbound>%.2f,%.2f,%.2f</inbound>\n\t\t\t<outbound>%.2f,%.2f,%.2f</outbound>\n\t\t</dlr>\n\t</smsc>\n",
				xmlEscape(c.Name), xmlEscape(c.ID), xmlEscape(c.ID), l.state, c.Failed, c.Queued,
				c.Received, c.Sent, r[loadSMSIn][0], r[loadSMSIn][1], r[loadSMSIn][2], r[loadSMSOut][0], r[loadSMSOut][1], r[loadSMSOut][2],
				c.ReceivedDLR, 0, r[loadDLRIn][0], r[loadDLRIn][1], r[loadDLRIn][2], r[loadDLROut][0], r[loadDLROut][1], r[loadDLROut][2])
		}
		b.WriteString("</smscs>\n")
		return
	}
	lb, ws, bo, bc, para := "\n", "    ", "", "", ""
	if format == statusHTML {
		lb, ws, bo, bc, para = "<br>\n", "&nbsp;&nbsp;&nbsp;&nbsp;", "<b>", "</b>", "<p>"
	}
	fmt.Fprintf(b, "%sSMSC connections:%s", para, lb)
	for _, l := range lines {
		c, r := l.c, l.r
		fmt.Fprintf(b, "%s%s%s%s[%s]%s%s (%s, rcvd: sms %d (%.2f,%.2f,%.2f) / dlr %d (%.2f,%.2f,%.2f), "+
			"sent: sms %d (%.2f,%.2f,%.2f) / dlr %d (%.2f,%.2f,%.2f), failed %d, queued %d msgs)%s",
			ws, bo, c.ID, bc, c.ID, ws, c.Name, l.state,
			c.Received, r[loadSMSIn][0], r[loadSMSIn][1], r[loadSMSIn][2],
			c.ReceivedDLR, r[loadDLRIn][0], r[loadDLRIn][1], r[loadDLRIn][2],
			c.Sent, r[loadSMSOut][0], r[loadSMSOut][1], r[loadSMSOut][2],
			0, r[loadDLROut][0], r[loadDLROut][1], r[loadDLROut][2],
			c.Failed, c.Queued, lb)
	}
	if para != "" {
		b.WriteString("</p>")
	}
	b.WriteString("\n\n")
}

// TrackLoads samples the counters every interval until ctx ends, so that
// /status can show Kannel's loads (messages per second over the last
// minute, the last five minutes and the whole uptime, as gw/load.c's
// intervals 60, 300 and -1) and how long each carrier has been online.
func (s *Server) TrackLoads(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	s.sample(s.opts.Now())
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.sample(s.opts.Now())
		}
	}
}

// sample records the counters the loads are computed from and notes when
// each carrier came up.
func (s *Server) sample(now time.Time) {
	m := map[string]float64{}
	if s.opts.Counters != nil {
		m, _ = s.opts.Counters()
	}
	s.loads.add(now, "", [loadKinds]int64{int64(m[counterInbound]), int64(m[counterSubmitted]),
		int64(m[counterReceipts]), s.dlrSent.Load()})
	s.upMu.Lock()
	defer s.upMu.Unlock()
	for _, c := range s.carriersCounted() {
		s.loads.add(now, c.ID, [loadKinds]int64{c.Received, c.Sent, c.ReceivedDLR, 0})
		switch _, ok := s.up[c.ID]; {
		case c.Up && !ok:
			s.up[c.ID] = now
		case !c.Up && ok:
			delete(s.up, c.ID)
		}
	}
}

// carriersCounted is the carriers with their counters.
func (s *Server) carriersCounted() []Carrier {
	if s.opts.Carriers == nil {
		return nil
	}
	cs := s.opts.Carriers()
	if s.opts.CarrierCounters == nil {
		return cs
	}
	counted := s.opts.CarrierCounters()
	for i := range cs {
		cs[i].CarrierCounters = counted[cs[i].ID]
	}
	return cs
}

// upSince is when the carrier was first seen up since it last was down.
func (s *Server) upSince(carrier string) (time.Time, bool) {
	s.upMu.Lock()
	defer s.upMu.Unlock()
	t, ok := s.up[carrier]
	return t, ok
}

var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;")

func xmlEscape(s string) string { return xmlEscaper.Replace(s) }
