package rest_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"

	"github.com/openmf/smsgw/app"
	"github.com/openmf/smsgw/app/apptest"
	"github.com/openmf/smsgw/config"
	"github.com/openmf/smsgw/internal/testutil"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
	"github.com/openmf/smsgw/smpp/smsc"
)

// startGateway runs a real gateway bound to a simulated carrier until the
// test ends and returns the base URL of its HTTP listener.
func startGateway(t *testing.T, edit func(*config.Config)) (*app.App, string) {
	t.Helper()
	sim := smsc.NewServer()
	t.Cleanup(func() { sim.Close() })
	cfg := apptest.Config(t, sim.Addr(), t.TempDir())
	if edit != nil {
		edit(cfg)
	}
	a := apptest.Start(t, cfg)
	return a, "http://" + a.HTTPAddr()
}

// call makes a request as curl would and decodes the JSON answer into a
// map; it returns the HTTP status.
func call(t *testing.T, method, u, key, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: %d %q is not JSON: %v", method, u, resp.StatusCode, raw, err)
	}
	return resp.StatusCode, out
}

// reason is the ErrorInfo reason of a google.rpc.Status in JSON.
func reason(st map[string]any) string {
	details, _ := st["details"].([]any)
	for _, d := range details {
		d, _ := d.(map[string]any)
		if d["@type"] == "type.googleapis.com/google.rpc.ErrorInfo" {
			r, _ := d["reason"].(string)
			return r
		}
	}
	return ""
}

// TestSendAndList: the REST API over plain HTTP, as curl uses it, against
// a real gateway: send, batch, get, list in pages, cancel, cursors, and
// errors as HTTP codes with the google.rpc.Status body.
func TestSendAndList(t *testing.T) {
	_, base := startGateway(t, nil)
	key := apptest.KeyA

	code, sent := call(t, "POST", base+"/v1/messages", key, `{"to": "+254712345678", "text": "Loan repayment of KES 1,500 received", "clientRef": "rcpt-1"}`)
	id, _ := sent["id"].(string)
	if code != 200 || id == "" || sent["status"] != "STATUS_ACCEPTED" || sent["encodingType"] != "ENCODING_GSM7" || sent["parts"] != 1.0 {
		t.Fatalf("send: %d %v", code, sent)
	}
	// Proto field names work too; a true retry answers the same message.
	code, again := call(t, "POST", base+"/v1/messages", key, `{"to": "+254712345678", "text": "Loan repayment of KES 1,500 received", "client_ref": "rcpt-1"}`)
	if code != 200 || again["id"] != id || again["duplicate"] != true {
		t.Fatalf("resend: %d %v", code, again)
	}

	code, batch := call(t, "POST", base+"/v1/messages:sendBatch", key,
		`{"messages": [{"to": "0712345679", "text": "Meeting Tuesday"}, {"to": "+254712345680", "text": ""}]}`)
	results, _ := batch["results"].([]any)
	if code != 200 || len(results) != 2 {
		t.Fatalf("batch: %d %v", code, batch)
	}
	ok, _ := results[0].(map[string]any)["accepted"].(map[string]any)
	bad, _ := results[1].(map[string]any)["status"].(map[string]any)
	if ok["id"] == nil || bad["code"] != 3.0 || reason(bad) != "FIELD_INVALID" {
		t.Fatalf("batch results %v", results)
	}

	testutil.Eventually(t, 10*time.Second, func() error {
		code, m := call(t, "GET", base+"/v1/messages/"+id, key, "")
		if code != 200 || m["status"] != "STATUS_DELIVERED" {
			return fmt.Errorf("get: %d %v", code, m)
		}
		price, _ := m["price"].(map[string]any)
		if price["minorUnits"] != "80" || price["currencyCode"] != "KES" { // int64 is a JSON string
			return fmt.Errorf("price %v", m["price"])
		}
		return nil
	})

	// Two messages, one a page: the token leads to the second and last.
	code, page1 := call(t, "GET", base+"/v1/messages?pageSize=1", key, "")
	tok, _ := page1["nextPageToken"].(string)
	if code != 200 || len(page1["messages"].([]any)) != 1 || tok == "" {
		t.Fatalf("page 1: %d %v", code, page1)
	}
	code, page2 := call(t, "GET", base+"/v1/messages?pageSize=1&pageToken="+url.QueryEscape(tok), key, "")
	if code != 200 || len(page2["messages"].([]any)) != 1 || page2["nextPageToken"] != "" {
		t.Fatalf("page 2: %d %v", code, page2)
	}
	code, filtered := call(t, "GET", base+"/v1/messages?status=STATUS_DELIVERED&to=%2B254712345678", key, "")
	if code != 200 || len(filtered["messages"].([]any)) != 1 {
		t.Fatalf("filtered: %d %v", code, filtered)
	}

	// Cursors: acknowledge, list, delete.
	if code, ack := call(t, "POST", base+"/v1/cursors/mifos-adapter:ack", key, `{"seq": "1"}`); code != 200 || ack["seq"] != "1" {
		t.Fatalf("ack: %d %v", code, ack)
	}
	code, cursors := call(t, "GET", base+"/v1/cursors", key, "")
	if cs, _ := cursors["cursors"].([]any); code != 200 || len(cs) != 1 || cs[0].(map[string]any)["name"] != "mifos-adapter" {
		t.Fatalf("cursors: %d %v", code, cursors)
	}
	if code, _ := call(t, "DELETE", base+"/v1/cursors/mifos-adapter", key, ""); code != 200 {
		t.Fatalf("delete cursor: %d", code)
	}

	// Errors: the gRPC code as HTTP, the reason in the body.
	for _, tt := range []struct {
		method, path, key, body string
		code                    int
		reason                  string
	}{
		{"GET", "/v1/messages/" + id, "", "", 401, "API_KEY_MISSING"},
		{"GET", "/v1/messages/" + id, "not-a-key", "", 401, "API_KEY_UNKNOWN"},
		{"GET", "/v1/messages/" + id, apptest.KeyB, "", 404, "MESSAGE_NOT_FOUND"}, // another tenant's
		{"GET", "/v1/messages?pageToken=bogus", key, "", 400, "FIELD_INVALID"},
		{"POST", "/v1/messages", key, `{"to": "+254712345678", "text": "other text", "clientRef": "rcpt-1"}`, 409, "CLIENT_REF_REUSED"},
		{"POST", "/v1/messages", key, `{"to": "+254712345678", "txt": "typo"}`, 400, "INVALID_ARGUMENT"},
		{"POST", "/v1/messages/" + id + ":cancel", key, `{}`, 400, "NOT_CANCELABLE"},
		{"POST", "/v1/messages", key, `not JSON`, 400, "INVALID_ARGUMENT"},
		{"GET", "/v1/nothing-here", key, "", 404, "NOT_FOUND"},
		{"DELETE", "/v1/cursors/nobody", key, "", 404, "CURSOR_NOT_FOUND"},
	} {
		code, st := call(t, tt.method, base+tt.path, tt.key, tt.body)
		if code != tt.code || reason(st) != tt.reason || st["message"] == "" {
			t.Errorf("%s %s: %d %v, want %d %s", tt.method, tt.path, code, st, tt.code, tt.reason)
		}
	}
}

// TestEventsStream: GET /v1/events streams newline-delimited JSON as the
// messages move, with heartbeats, and outlives the listener's write and
// read timeouts (2 s here), which bound every other request.
func TestEventsStream(t *testing.T) {
	_, base := startGateway(t, func(c *config.Config) {
		c.Limits.HTTP.WriteTimeout = 2 * time.Second
		c.Limits.HTTP.ReadTimeout = 2 * time.Second
	})
	req, err := http.NewRequestWithContext(t.Context(), "GET", base+"/v1/events?heartbeatInterval=1s&kinds=EVENT_KIND_STATUS", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+apptest.KeyA)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("events: %d", resp.StatusCode)
	}
	code, sent := call(t, "POST", base+"/v1/messages", apptest.KeyA, `{"to": "+254712345678", "text": "Your loan is approved", "clientRef": "loan-7"}`)
	if code != 200 {
		t.Fatalf("send: %d %v", code, sent)
	}
	lines := bufio.NewScanner(resp.Body)
	var delivered, lastSeq string
	for lines.Scan() {
		var line struct {
			Result map[string]any `json:"result"`
			Error  map[string]any `json:"error"`
		}
		if err := json.Unmarshal(lines.Bytes(), &line); err != nil || line.Error != nil {
			t.Fatalf("line %q: %v", lines.Bytes(), err)
		}
		ev := line.Result
		if ev["kind"] == "EVENT_KIND_STATUS" {
			if ev["messageId"] != sent["id"] || ev["clientRef"] != "loan-7" {
				t.Fatalf("event %v, want message %v", ev, sent["id"])
			}
			lastSeq, _ = ev["seq"].(string)
			if ev["status"] == "STATUS_DELIVERED" {
				delivered = lastSeq
			}
		}
		// A heartbeat after the timeouts passed, with the message
		// delivered: the stream outlived them and says where it stands.
		if ev["kind"] == "EVENT_KIND_HEARTBEAT" && delivered != "" && time.Since(start) > 3*time.Second {
			if ev["seq"] != lastSeq {
				t.Fatalf("heartbeat at seq %v, want %s", ev["seq"], lastSeq)
			}
			return
		}
	}
	t.Fatalf("stream ended after %v (delivered at seq %q): %v", time.Since(start), delivered, lines.Err())
}

// TestEventBatchesStream: GET /v1/events:batch streams the same events as
// /v1/events, one or more a line, and /v1/events is still the stream of
// single events.
func TestEventBatchesStream(t *testing.T) {
	_, base := startGateway(t, nil)
	open := func(path string) *bufio.Scanner {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), "GET", base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+apptest.KeyA)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		return bufio.NewScanner(resp.Body)
	}
	code, sent := call(t, "POST", base+"/v1/messages", apptest.KeyA, `{"to": "+254712345678", "text": "Your loan is approved", "clientRef": "loan-8"}`)
	if code != 200 {
		t.Fatalf("send: %d %v", code, sent)
	}
	// statuses reads a stream's lines until the message is delivered and
	// returns its statuses in order.
	statuses := func(lines *bufio.Scanner, batched bool) []any {
		t.Helper()
		var got []any
		for lines.Scan() {
			var line struct {
				Result map[string]any `json:"result"`
				Error  map[string]any `json:"error"`
			}
			if err := json.Unmarshal(lines.Bytes(), &line); err != nil || line.Error != nil {
				t.Fatalf("line %q: %v", lines.Bytes(), err)
			}
			evs := []any{line.Result}
			if batched {
				evs, _ = line.Result["events"].([]any)
				if len(evs) == 0 {
					t.Fatalf("line %q: no events", lines.Bytes())
				}
			}
			for _, e := range evs {
				ev, _ := e.(map[string]any)
				if ev["messageId"] != sent["id"] || ev["clientRef"] != "loan-8" {
					t.Fatalf("event %v, want message %v", ev, sent["id"])
				}
				if got = append(got, ev["status"]); ev["status"] == "STATUS_DELIVERED" {
					return got
				}
			}
		}
		t.Fatalf("stream ended before the delivery: %v", lines.Err())
		return nil
	}
	want := statuses(open("/v1/events"), false)
	if got := statuses(open("/v1/events:batch"), true); !reflect.DeepEqual(got, want) || len(got) != 3 {
		t.Fatalf("batched statuses %v, want %v (accepted, submitted, delivered)", got, want)
	}
}

// TestOpenAPI: the served document is the committed one, parses as
// OpenAPI 2.0, has a path and verb for every annotated RPC (every
// Messaging RPC is annotated), and every $ref it makes resolves.
func TestOpenAPI(t *testing.T) {
	_, base := startGateway(t, nil)
	resp, err := http.Get(base + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	committed, err := os.ReadFile("../../proto/smsgw/v1/openapi.swagger.json")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || !bytes.Equal(raw, committed) {
		t.Fatalf("GET /v1/openapi.json: %d %s, %d bytes; want the committed document", resp.StatusCode, resp.Header.Get("Content-Type"), len(raw))
	}
	var doc struct {
		Swagger     string                               `json:"swagger"`
		Info        struct{ Title, Version string }      `json:"info"`
		Paths       map[string]map[string]map[string]any `json:"paths"`
		Definitions map[string]any                       `json:"definitions"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Swagger != "2.0" || doc.Info.Version != "v1" || doc.Info.Title == "" {
		t.Fatalf("header: swagger %q, info %+v", doc.Swagger, doc.Info)
	}
	methods := pb.File_smsgw_v1_messaging_proto.Services().ByName("Messaging").Methods()
	for i := range methods.Len() {
		m := methods.Get(i)
		rule, _ := proto.GetExtension(m.Options(), annotations.E_Http).(*annotations.HttpRule)
		if rule == nil {
			t.Errorf("%s has no google.api.http annotation: it has no REST route", m.Name())
			continue
		}
		verb, path := httpRule(rule)
		op, ok := doc.Paths[path][verb]
		if !ok {
			t.Errorf("%s: no %s %s in the document", m.Name(), verb, path)
			continue
		}
		if op["operationId"] != "Messaging_"+string(m.Name()) {
			t.Errorf("%s %s: operationId %v", verb, path, op["operationId"])
		}
	}
	all := refs(doc.Definitions, refs(doc.Paths, nil))
	if len(all) < 10 {
		t.Fatalf("only %d $refs: %v", len(all), all)
	}
	for _, ref := range all {
		if _, ok := doc.Definitions[strings.TrimPrefix(ref, "#/definitions/")]; !ok {
			t.Errorf("$ref %s names no definition", ref)
		}
	}
}

// httpRule is a rule's verb (as OpenAPI spells it) and path.
func httpRule(r *annotations.HttpRule) (string, string) {
	switch p := r.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		return "get", p.Get
	case *annotations.HttpRule_Post:
		return "post", p.Post
	case *annotations.HttpRule_Put:
		return "put", p.Put
	case *annotations.HttpRule_Delete:
		return "delete", p.Delete
	case *annotations.HttpRule_Patch:
		return "patch", p.Patch
	}
	return "", ""
}

// refs collects every "$ref" value under v.
func refs(v any, out []string) []string {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if s, ok := e.(string); ok && k == "$ref" {
				out = append(out, s)
			}
			out = refs(e, out)
		}
	case []any:
		for _, e := range v {
			out = refs(e, out)
		}
	case map[string]map[string]map[string]any:
		for _, e := range v {
			for _, o := range e {
				out = refs(o, out)
			}
		}
	}
	return out
}

// TestRateLimitedAnswers429: over the tenant's rate, REST answers 429 with
// Retry-After (from the error's RetryInfo) and the RATE_LIMITED reason.
func TestRateLimitedAnswers429(t *testing.T) {
	_, base := startGateway(t, func(c *config.Config) { c.Tenants[0].Rate, c.Tenants[0].Burst = 0.01, 2 }) // a token a 100 s
	for i := range 3 {
		req, err := http.NewRequestWithContext(t.Context(), "POST", base+"/v1/messages",
			strings.NewReader(fmt.Sprintf(`{"to": "+254712345678", "text": "reminder %d"}`, i)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+apptest.KeyA)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var st map[string]any
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			if resp.StatusCode != 200 {
				t.Fatalf("message %d within the burst: %d %v", i, resp.StatusCode, st)
			}
			continue
		}
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || reason(st) != "RATE_LIMITED" {
			t.Fatalf("over the rate: %d Retry-After %q %v", resp.StatusCode, resp.Header.Get("Retry-After"), st)
		}
	}
}
