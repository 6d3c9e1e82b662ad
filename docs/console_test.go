package docs_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openmf/smsgw/app"
	"github.com/openmf/smsgw/config"
	"github.com/openmf/smsgw/httpapi/console"
)

// TestConsoleGuide loads the console config of docs/console.md as written:
// its users, roles and tenant are what the guide says, and check-config
// has nothing to say of its hashes.
func TestConsoleGuide(t *testing.T) {
	yaml, ok := blocks(t, "console.md")["console"]
	if !ok {
		t.Fatal("docs/console.md has no doc-test block console")
	}
	t.Setenv("SMSGW_MFI_A_KEY", "mfi-a-key-0123456789-abcdef")
	t.Setenv("SMSGW_CARRIER_A_PASSWORD", "secret")
	path := filepath.Join(t.TempDir(), "smsgw.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := app.LoadConfig(path)
	if err != nil {
		t.Fatalf("the guide's config does not load:\n%v", err)
	}
	c := cfg.Console
	if c == nil || len(c.Users) != 2 || c.Users[0].Role != console.Operator || c.Users[1].Role != console.Viewer || c.Users[1].Tenant != "mfi-a" {
		t.Fatalf("console section: %+v", c)
	}
	for _, w := range config.Warnings(cfg, []byte(yaml)) {
		if strings.HasPrefix(w, "console.") {
			t.Errorf("check-config warns about the guide's console: %s", w)
		}
	}
}
