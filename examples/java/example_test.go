// Package java_test builds the Java client example with Debian's grpc-java
// and runs it against a real gateway, so the example keeps working as the
// API grows.
package java_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
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

// The protos the Java classes are generated from, relative to proto/.
var protos = []string{
	"smsgw/v1/messaging.proto", "smsgw/v1/admin.proto",
	"google/api/annotations.proto", "google/api/http.proto",
	"google/rpc/status.proto", "google/rpc/error_details.proto",
}

// jars are Debian's (under /usr/share/java) that the example needs to
// compile and run: grpc-java with its Netty transport, protobuf-java and
// their dependencies.
var jars = []string{
	"grpc-api", "grpc-context", "grpc-core", "grpc-netty", "grpc-protobuf", "grpc-protobuf-lite", "grpc-stub",
	"protobuf", "guava", "perfmark-api",
	"netty-buffer", "netty-codec", "netty-codec-http", "netty-codec-http2", "netty-codec-socks", "netty-common", "netty-handler", "netty-handler-proxy",
	"netty-resolver", "netty-transport", "jsr305", "error_prone_annotations", "geronimo-annotation-1.3-spec",
}

const install = "run `make java-installed` (Debian's libgrpc-java, protobuf-compiler-grpc-java-plugin and their jars)"

// classpath is the jars', failing the test when one is missing.
func classpath(t *testing.T) string {
	t.Helper()
	var cp []string
	for _, j := range jars {
		p := filepath.Join("/usr/share/java", j+".jar")
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("no %s: %s", p, install)
		}
		cp = append(cp, p)
	}
	return strings.Join(cp, ":")
}

// build generates the Java classes with protoc and Debian's grpc-java
// plugin and compiles the example (and, through -sourcepath, only the
// generated classes it uses), as examples/java/README.md says.
func build(t *testing.T, cp string) string {
	t.Helper()
	for _, tool := range []string{"javac", "java", "grpc_java_plugin"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("no %s: %s", tool, install)
		}
	}
	gen, classes := t.TempDir(), t.TempDir()
	args := []string{"-I", "../../proto", "--java_out=" + gen, "--grpc-java_out=" + gen, "--plugin=protoc-gen-grpc-java=/usr/bin/grpc_java_plugin"}
	for _, p := range protos {
		args = append(args, "../../proto/"+p)
	}
	if out, err := exec.Command("protoc", args...).CombinedOutput(); err != nil {
		t.Fatalf("protoc: %v\n%s", err, out)
	}
	// C1 only: javac runs once, so the optimising compiler would not pay off.
	javac := exec.Command("javac", "-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC", "-nowarn", "-implicit:class", "-d", classes, "-cp", cp, "-sourcepath", gen,
		"src/org/openmf/smsgw/example/SmsgwExample.java")
	if out, err := javac.CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	return classes
}

// TestJavaExample: the example sends, batches (the bad item refused with
// its reason), follows events through a cursor until all three messages
// are delivered, and resumes after its last acknowledgement; the gateway
// agrees on the cursor and the messages.
func TestJavaExample(t *testing.T) {
	cp := classpath(t)
	classes := build(t, cp)
	sim := smsc.NewServer()
	t.Cleanup(func() { sim.Close() })
	a := apptest.Start(t, apptest.Config(t, sim.Addr(), t.TempDir()))

	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	raw, err := exec.CommandContext(ctx, "java", "-cp", classes+":"+cp, "org.openmf.smsgw.example.SmsgwExample",
		"--target", a.GRPCAddr(), "--key", apptest.KeyA, "--timeout", "60").CombinedOutput()
	out := string(raw)
	if err != nil {
		t.Fatalf("SmsgwExample: %v\n%s", err, out)
	}
	for _, want := range []string{
		"STATUS_ACCEPTED ENCODING_GSM7 parts 1",
		"duplicate true",
		"batch[2] refused INVALID_ARGUMENT FIELD_INVALID messages[2].to",
		"all 3 ended, 3 delivered",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	m := regexp.MustCompile(`cursor java-example at seq (\d+)\n`).FindStringSubmatch(out)
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
		t.Fatalf("cursors %v (%v), want java-example at %d", cs.GetCursors(), err, acked)
	}
	list, err := c.ListMessages(ctx, &pb.ListMessagesRequest{Status: pb.Status_STATUS_DELIVERED})
	if err != nil || len(list.GetMessages()) != 3 {
		t.Fatalf("delivered messages %v (%v), want the example's 3", list.GetMessages(), err)
	}
}
