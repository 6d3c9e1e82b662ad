package kannel

import (
	"fmt"
	"net/http"
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

// status serves /status like Kannel's bearerbox admin interface (gw/bb_http.c
// httpd_status and gw/bearerbox.c bb_print_status): the same lines, so
// monitoring scripts that grep them keep working. With a status password
// configured, ?password= must be it or the admin password, else the
// answer is "Denied" (still 200, as in Kannel). smsgw has no WDP and no
// separate store, so those counters are 0; the per-second loads are not
// computed and show 0.00.
func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	format := statusText
	accept := strings.Join(r.Header.Values("Accept"), ",")
	switch {
	case strings.Contains(accept, "text/html"):
		format = statusHTML
	case strings.Contains(accept, "text/xml"):
		format = statusXML
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
	if pw := r.URL.Query().Get("password"); s.cfg.StatusPassword != "" && !guard.Equal(pw, s.cfg.StatusPassword) && !guard.Equal(pw, s.cfg.AdminPassword) {
		body = "Denied"
	} else {
		body = s.printStatus(format)
	}
	var header, footer, ct string
	switch format {
	case statusHTML:
		header = "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2//EN\">\n<html>\n<title>Kannel</title>\n<body>\n<p>"
		footer, ct = "</p>\n</body></html>\n", "text/html"
	case statusXML:
		header, footer, ct = "<?xml version=\"1.0\"?>\n<gateway>\n", "</gateway>\n", "text/xml"
	default:
		ct = "text/plain"
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(header + body + footer))
}

// counts are the numbers bb_print_status shows.
type counts struct {
	smsReceived, smsSent, dlrReceived, dlrSent int64
}

func (s *Server) counts() counts {
	c := counts{dlrSent: s.dlrSent.Load()}
	if s.opts.Counters == nil {
		return c
	}
	m, err := s.opts.Counters()
	if err != nil {
		s.log.Warn("status: counters", "err", err)
		return c
	}
	c.smsReceived = int64(m["smsgw_gateway_inbound_total"])
	c.smsSent = int64(m["smsgw_gateway_submitted_parts_total"])
	c.dlrReceived = int64(m["smsgw_gateway_receipts_total"])
	return c
}

// dhms splits a duration as Kannel's uptime: days, hours, minutes, seconds.
func dhms(d time.Duration) (int64, int64, int64, int64) {
	t := int64(d / time.Second)
	return t / 3600 / 24, t / 3600 % 24, t / 60 % 60, t % 60
}

func (s *Server) printStatus(format int) string {
	version := fmt.Sprintf("smsgw bearerbox version `%s'.", s.opts.Version)
	up := s.opts.Now().Sub(s.started)
	d, h, m, sec := dhms(up)
	c := s.counts()
	var b strings.Builder
	switch format {
	case statusXML:
		fmt.Fprintf(&b, "<version>%s</version>\n<status>running, uptime %dd %dh %dm %ds</status>\n"+
			"\t<wdp>\n\t\t<received><total>0</total><queued>0</queued></received>\n\t\t<sent><total>0</total><queued>0</queued></sent>\n\t</wdp>\n"+
			"\t<sms>\n\t\t<received><total>%d</total><queued>0</queued></received>\n\t\t<sent><total>%d</total><queued>0</queued></sent>\n\t\t<storesize>0</storesize>\n\t\t"+
			"<inbound>0.00,0.00,0.00</inbound>\n\t\t<outbound>0.00,0.00,0.00</outbound>\n\t\t</sms>\n"+
			"\t<dlr>\n\t\t<received><total>%d</total></received>\n\t\t<sent><total>%d</total></sent>\n\t\t"+
			"<inbound>0.00,0.00,0.00</inbound>\n\t\t<outbound>0.00,0.00,0.00</outbound>\n\t\t<queued>0</queued>\n\t\t<storage>smsgw</storage>\n\t</dlr>\n",
			version, d, h, m, sec, c.smsReceived, c.smsSent, c.dlrReceived, c.dlrSent)
	case statusHTML:
		fmt.Fprintf(&b, "%s</p>\n\n <p>Status: running, uptime %dd %dh %dm %ds</p>\n\n"+
			" <p>WDP: received 0 (0 queued), sent 0 (0 queued)</p>\n\n"+
			" <p>SMS: received %d (0 queued), sent %d (0 queued), store size 0<br>\n"+
			" SMS: inbound (0.00,0.00,0.00) msg/sec, outbound (0.00,0.00,0.00) msg/sec</p>\n\n"+
			" <p>DLR: received %d, sent %d<br>\n"+
			" DLR: inbound (0.00,0.00,0.00) msg/sec, outbound (0.00,0.00,0.00) msg/sec<br>\n"+
			" DLR: 0 queued, using smsgw storage</p>\n\n",
			version, d, h, m, sec, c.smsReceived, c.smsSent, c.dlrReceived, c.dlrSent)
	default:
		fmt.Fprintf(&b, "%s\n\nStatus: running, uptime %dd %dh %dm %ds\n\n"+
			"WDP: received 0 (0 queued), sent 0 (0 queued)\n\n"+
			"SMS: received %d (0 queued), sent %d (0 queued), store size 0\n"+
			"SMS: inbound (0.00,0.00,0.00) msg/sec, outbound (0.00,0.00,0.00) msg/sec\n\n"+
			"DLR: received %d, sent %d\n"+
			"DLR: inbound (0.00,0.00,0.00) msg/sec, outbound (0.00,0.00,0.00) msg/sec\n"+
			"DLR: 0 queued, using smsgw storage\n\n",
			version, d, h, m, sec, c.smsReceived, c.smsSent, c.dlrReceived, c.dlrSent)
	}
	s.boxStatus(&b, format, up)
	s.smscStatus(&b, format)
	return b.String()
}

// boxStatus is gw/bb_boxc.c boxc_status with this interface as the one
// smsbox: scripts that alarm on "No boxes connected" stay quiet.
func (s *Server) boxStatus(b *strings.Builder, format int, up time.Duration) {
	d, h, m, sec := dhms(up)
	switch format {
	case statusXML:
		fmt.Fprintf(b, "<boxes>\n\t<box>\n\t\t<type>smsbox</type>\n\t\t<id></id>\n\t\t<IP>127.0.0.1</IP>\n"+
			"\t\t<status>on-line %dd %dh %dm %ds</status>\n\t\t<ssl>no</ssl>\n\t</box></boxes>\n", d, h, m, sec)
	case statusHTML:
		fmt.Fprintf(b, "<p>Box connections:<br>\n&nbsp;&nbsp;&nbsp;&nbsp;smsbox:(none), IP 127.0.0.1 (on-line %dd %dh %dm %ds)  <br>\n</p>\n\n", d, h, m, sec)
	default:
		fmt.Fprintf(b, "Box connections:\n    smsbox:(none), IP 127.0.0.1 (on-line %dd %dh %dm %ds)  \n\n\n", d, h, m, sec)
	}
}

// smscStatus is gw/bb_smscconn.c smsc2_status over the carriers.
func (s *Server) smscStatus(b *strings.Builder, format int) {
	var cs []Carrier
	if s.opts.Carriers != nil {
		cs = s.opts.Carriers()
	}
	state := func(c Carrier) string {
		if c.Up {
			return fmt.Sprintf("online %ds", int64(c.Online/time.Second))
		}
		return "re-connecting"
	}
	switch format {
	case statusXML:
		fmt.Fprintf(b, "<smscs><count>%d</count>\n\t", len(cs))
		for _, c := range cs {
			fmt.Fprintf(b, "<smsc>\n\t\t<name>%s</name>\n\t\t<id>%s</id>\n\t\t<status>%s</status>\n\t\t<received>%d</received>"+
				"\n\t\t<sent>%d</sent>\n\t\t<failed>%d</failed>\n\t\t<queued>%d</queued>\n\t</smsc>\n",
				xmlEscape(strings.ToUpper(c.Kind)), xmlEscape(c.ID), state(c), c.Received, c.Sent, c.Failed, c.Queued)
		}
		b.WriteString("</smscs>\n")
	default:
		lb, ws, bo, bc, para := "\n", "    ", "", "", ""
		if format == statusHTML {
			lb, ws, bo, bc, para = "<br>\n", "&nbsp;&nbsp;&nbsp;&nbsp;", "<b>", "</b>", "<p>"
		}
		fmt.Fprintf(b, "%sSMSC connections:%s", para, lb)
		for _, c := range cs {
			fmt.Fprintf(b, "%s%s%s%s%s%s (%s, rcvd %d, sent %d, failed %d, queued %d msgs)%s",
				ws, bo, c.ID, bc, ws, strings.ToUpper(c.Kind), state(c), c.Received, c.Sent, c.Failed, c.Queued, lb)
		}
		if para != "" {
			b.WriteString("</p>")
		}
		b.WriteString("\n\n")
		if format == statusHTML {
			b.WriteString("<p>") // bb_print_status's HTML footer
		}
	}
}

var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;")

func xmlEscape(s string) string { return xmlEscaper.Replace(s) }
