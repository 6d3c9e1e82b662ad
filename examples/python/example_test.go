// Package python_test runs the Python client example against a real
// gateway, so the example keeps working as the API grows.
package python_test

import (
	"context"
	"os"
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

// The protos the Python stubs are generated from, relative to proto/.
var protos = []string{
	"smsgw/v1/messaging.proto", "smsgw/v1/admin.proto",
	"google/api/annotations.proto", "google/api/http.proto",
	"google/rpc/status.proto", "google/rpc/error_details.proto",
}

const install = "run `make python-installed` (Debian's python3-grpcio, python3-protobuf and protobuf-compiler-grpc)"

// pythonWithGRPC is a python3 that imports grpc and protobuf: Debian's,
// which make python-installed equips, or else the one on PATH.
func pythonWithGRPC(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if path, err := exec.LookPath(p); err == nil && exec.Command(path, "-c", "import grpc, google.protobuf").Run() == nil {
			return path
		}
	}
	t.Fatal("no python3 with grpc and protobuf: " + install)
	return ""
}

// stubs generates the Python stubs into a temporary directory with protoc
// and Debian's gRPC Python plugin, as examples/python/README.md says.
func stubs(t *testing.T) string {
	t.Helper()
	plugin, err := exec.LookPath("grpc_python_plugin")
	if err != nil {
		t.Fatal("no grpc_python_plugin: " + install)
	}
	dir := t.TempDir()
	args := []string{"-I", "../../proto", "-I", "/usr/include", "--python_out=" + dir, "--grpc_python_out=" + dir,
		"--plugin=protoc-gen-grpc_python=" + plugin}
	for _, p := range protos {
		args = append(args, "../../proto/"+p)
	}
	if out, err := exec.Command("protoc", args...).CombinedOutput(); err != nil {
		t.Fatalf("protoc: %v\n%s", err, out)
	}
	return dir
}

// TestPythonExample: the example sends, batches (the bad item refused
// with its reason), follows events through a cursor until all three
// messages are delivered, and resumes after its last acknowledgement; the
// gateway agrees on the cursor and the messages.
func TestPythonExample(t *testing.T) {
	py := pythonWithGRPC(t)
	gen := stubs(t)
	sim := smsc.NewServer()
	t.Cleanup(func() { sim.Close() })
	a := apptest.Start(t, apptest.Config(t, sim.Addr(), t.TempDir()))

	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "smsgw_example.py", "--target", a.GRPCAddr(), "--key", apptest.KeyA, "--timeout", "60")
	cmd.Env = append(os.Environ(), "PYTHONPATH="+gen)
	raw, err := cmd.CombinedOutput()
	out := string(raw)
	if err != nil {
		t.Fatalf("smsgw_example.py: %v\n%s", err, out)
	}
	for _, want := range []string{
		"STATUS_ACCEPTED ENCODING_GSM7 parts 1",
		"duplicate True",
		"batch[2] refused INVALID_ARGUMENT FIELD_INVALID messages[2].to",
		"all 3 ended, 3 delivered",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	m := regexp.MustCompile(`cursor python-example at seq (\d+)\n`).FindStringSubmatch(out)
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
		t.Fatalf("cursors %v (%v), want python-example at %d", cs.GetCursors(), err, acked)
	}
	list, err := c.ListMessages(ctx, &pb.ListMessagesRequest{Status: pb.Status_STATUS_DELIVERED})
	if err != nil || len(list.GetMessages()) != 3 {
		t.Fatalf("delivered messages %v (%v), want the example's 3", list.GetMessages(), err)
	}
}
