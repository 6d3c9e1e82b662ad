package kannel

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
)

// capture collects JSON log records so tests can look for one.
type capture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

func (c *capture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

func (c *capture) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(c, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// find returns the first record whose message contains msg.
func (c *capture) find(msg string) (map[string]any, bool) {
	for _, line := range strings.Split(c.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		if m, _ := rec["msg"].(string); strings.Contains(m, msg) {
			return rec, true
		}
	}
	return nil, false
}
