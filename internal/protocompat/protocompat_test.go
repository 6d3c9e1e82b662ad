package protocompat_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/openmf/smsgw/internal/protocompat"
)

// root is the repository, where proto/ is.
const root = "../.."

// TestCompatibleWithPrevious: the API's .proto files break no client built
// against the previous commit (or, while proto/ has uncommitted changes,
// against HEAD; PROTO_AGAINST names another revision). make test deepens a
// shallow checkout first so that the previous commit is there.
func TestCompatibleWithPrevious(t *testing.T) {
	against := os.Getenv("PROTO_AGAINST")
	if against == "" {
		against = "HEAD~1"
		if dirty, err := git("status", "--porcelain", "--", "proto"); err != nil {
			t.Fatalf("git status: %v", err)
		} else if strings.TrimSpace(dirty) != "" {
			against = "HEAD"
		}
	}
	if against == "HEAD~1" {
		if _, err := git("rev-parse", "--verify", "-q", "HEAD~1^{commit}"); err != nil {
			if n, cerr := git("rev-list", "--count", "HEAD"); cerr == nil && strings.TrimSpace(n) == "1" {
				t.Log("the first commit: compared with itself")
				against = "HEAD"
			}
		}
	}
	listed, err := git("ls-tree", "--name-only", against, "proto/smsgw/v1/")
	if err != nil {
		t.Fatalf("the revision to compare with, %s: %v (a shallow clone needs `git fetch --deepen=1`, as make test does)", against, err)
	}
	var prevFiles []string
	for _, p := range strings.Fields(listed) {
		if strings.HasSuffix(p, ".proto") {
			prevFiles = append(prevFiles, strings.TrimPrefix(p, "proto/"))
		}
	}
	nextFiles, err := filepath.Glob(filepath.Join(root, "proto/smsgw/v1/*.proto"))
	if err != nil || len(nextFiles) == 0 {
		t.Fatalf("no .proto files under proto/smsgw/v1: %v", err)
	}
	for i, f := range nextFiles {
		nextFiles[i] = strings.TrimPrefix(filepath.ToSlash(f), root+"/proto/")
	}
	readNext := func(path string) ([]byte, error) { return os.ReadFile(filepath.Join(root, "proto", path)) }
	readPrev := func(path string) ([]byte, error) {
		out, err := git("show", against+":proto/"+path)
		if err != nil {
			return readNext(path) // an import vendored since (google/...)
		}
		return []byte(out), nil
	}
	prev, err := protocompat.Compile(context.Background(), readPrev, prevFiles...)
	if err != nil {
		t.Fatalf("compiling the API at %s: %v", against, err)
	}
	next, err := protocompat.Compile(context.Background(), readNext, nextFiles...)
	if err != nil {
		t.Fatalf("compiling the API: %v", err)
	}
	if bad := protocompat.Breaking(prev, next); len(bad) > 0 {
		t.Errorf("changes since %s break clients (smsgw.v1 only grows: add fields, deprecate old ones; a break goes into smsgw.v2):\n%s",
			against, strings.Join(bad, "\n"))
	}
}

func git(args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = root
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		return "", fmt.Errorf("%v: %s", err, ee.Stderr)
	}
	return string(out), err
}

// TestDetectsBreakingChanges: each kind of break is named; additions,
// deprecations and comments are not.
func TestDetectsBreakingChanges(t *testing.T) {
	const prev = `syntax = "proto3";
package t.v1;
option go_package = "example.com/t/v1;tv1";
// A message.
message M {
  string a = 1;
  int32 b = 2;
  repeated string c = 3;
  Kind k = 4;
  N n = 5;
  string gone = 6;
  string kept_out = 7;
  message N { string x = 1; }
}
enum Kind { KIND_UNSPECIFIED = 0; KIND_A = 1; KIND_B = 2; }
service S {
  rpc Get(M) returns (M);
  rpc Watch(M) returns (stream M);
  rpc Drop(M) returns (M);
}
`
	const next = `syntax = "proto3";
package t.v1;
option go_package = "example.com/t/v1;tv1";
message M {
  // Comments and deprecation change nothing on the wire.
  string a = 1 [deprecated = true];
  int64 b = 2;
  string c = 3;
  Kind k = 4;
  N n = 5;
  reserved 7;
  reserved "kept_out";
  string added = 8;
  message N { string y = 1; }
}
enum Kind { KIND_UNSPECIFIED = 0; KIND_A = 1; KIND_BEE = 2; KIND_C = 3; }
service S {
  rpc Get(M) returns (M);
  rpc Watch(M) returns (M);
  rpc Added(M) returns (M);
}
`
	compile := func(src string) []protoreflect.FileDescriptor {
		t.Helper()
		read := func(path string) ([]byte, error) {
			if path != "t.proto" {
				return nil, os.ErrNotExist
			}
			return []byte(src), nil
		}
		fs, err := protocompat.Compile(context.Background(), read, "t.proto")
		if err != nil {
			t.Fatal(err)
		}
		return fs
	}
	got := protocompat.Breaking(compile(prev), compile(next))
	want := []string{
		"field t.v1.M.b (2) type int32 became int64",
		"field t.v1.M.c (3) cardinality or presence changed",
		"field t.v1.M.gone (6) removed without reserving its number and name",
		"field t.v1.M.N.x (1) renamed y: JSON clients break",
		"enum value t.v1.KIND_B (2) renamed KIND_BEE: JSON clients break",
		"method t.v1.S.Watch changed streaming",
		"method t.v1.S.Drop removed",
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("missing %q", w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d breaks, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	if bad := protocompat.Breaking(compile(prev), compile(prev)); len(bad) != 0 {
		t.Errorf("a file breaks itself: %v", bad)
	}
}
