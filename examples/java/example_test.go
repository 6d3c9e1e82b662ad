// Package java_test builds the Java client example with Debian's grpc-java
// and runs it against a real gateway, so the example keeps working as the
// API grows.
package java_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openmf/smsgw/examples/internal/exampletest"
)

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
	for _, p := range exampletest.Protos {
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
	exampletest.Run(t, "java-example", "true", func(ctx context.Context, addr, key string) *exec.Cmd {
		return exec.CommandContext(ctx, "java", "-cp", classes+":"+cp, "org.openmf.smsgw.example.SmsgwExample",
			"--target", addr, "--key", key, "--timeout", "60")
	})
}
