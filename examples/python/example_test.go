// Package python_test runs the Python client example against a real
// gateway, so the example keeps working as the API grows.
package python_test

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/openmf/smsgw/examples/internal/exampletest"
)

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
	for _, p := range exampletest.Protos {
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
	exampletest.Run(t, "python-example", "True", func(ctx context.Context, addr, key string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, py, "smsgw_example.py", "--target", addr, "--key", key, "--timeout", "60")
		cmd.Env = append(os.Environ(), "PYTHONPATH="+gen)
		return cmd
	})
}
