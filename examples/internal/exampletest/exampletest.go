// Package exampletest runs a client example in another language against a
// real gateway and checks what every example must show: a send, a
// duplicate, a batch with a refused item, events followed through a named
// cursor until the three messages are delivered, and a resumption after
// the last acknowledgement — in the example's output and in the gateway.
package exampletest

import (
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openmf/smsgw/app/apptest"
	"github.com/openmf/smsgw/client"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
	"github.com/openmf/smsgw/smpp/smsc"
)

// Protos are the files an example's stubs are generated from, relative to
// proto/.
var Protos = []string{
	"smsgw/v1/messaging.proto", "smsgw/v1/admin.proto",
	"google/api/annotations.proto", "google/api/http.proto",
	"google/rpc/status.proto", "google/rpc/error_details.proto",
}

// Run starts a gateway, runs the example that command makes for its
// address and API key, and checks the example's output and the gateway's
// state. cursor is the cursor the example names; duplicate is how the
// language prints a true boolean after "duplicate ".
func Run(t *testing.T, cursor, duplicate string, command func(ctx context.Context, addr, key string) *exec.Cmd) {
	t.Helper()
	sim := smsc.NewServer()
	t.Cleanup(func() { sim.Close() })
	a := apptest.Start(t, apptest.Config(t, sim.Addr(), t.TempDir()))

	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	raw, err := command(ctx, a.GRPCAddr(), apptest.KeyA).CombinedOutput()
	out := string(raw)
	if err != nil {
		t.Fatalf("the example: %v\n%s", err, out)
	}
	for _, want := range []string{
		"STATUS_ACCEPTED ENCODING_GSM7 parts 1",
		"duplicate " + duplicate,
		"batch[2] refused INVALID_ARGUMENT FIELD_INVALID messages[2].to",
		"all 3 ended, 3 delivered",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	m := regexp.MustCompile(`cursor ` + regexp.QuoteMeta(cursor) + ` at seq (\d+)\n`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "resumed after seq "+m[1]+": ") {
		t.Fatalf("no cursor position or resumption in:\n%s", out)
	}
	acked, _ := strconv.ParseInt(m[1], 10, 64)

	c, err := client.Dial(a.GRPCAddr(), apptest.KeyA)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cs, err := c.ListCursors(ctx, &pb.ListCursorsRequest{})
	if err != nil || len(cs.GetCursors()) != 1 || cs.GetCursors()[0].GetSeq() != acked {
		t.Fatalf("cursors %v (%v), want %s at %d", cs.GetCursors(), err, cursor, acked)
	}
	list, err := c.ListMessages(ctx, &pb.ListMessagesRequest{Status: pb.Status_STATUS_DELIVERED})
	if err != nil || len(list.GetMessages()) != 3 {
		t.Fatalf("delivered messages %v (%v), want the example's 3", list.GetMessages(), err)
	}
}
