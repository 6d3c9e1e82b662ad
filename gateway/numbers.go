package gateway

import (
	"strings"
	"sync"
)

// numberCacheSize bounds the normalization cache: at ~100 bytes an entry,
// about 6 MiB, far below the memory a backlog of messages takes.
const numberCacheSize = 1 << 16

// numbers is the process's normalization cache. NormalizeNumber is a pure
// function of its arguments, so one cache serves every caller (accept,
// opt-outs, inbound replies).
var numbers = newNumberCache(numberCacheSize)

// numberCache remembers what parseNumber answered for a (number, region).
// A number the cache has not seen costs ~0.4 µs when written the usual
// way (fastParse and the prefix-decided validity of numberparse.go and
// numbervalid.go) and ~15–20 µs and ~60 allocations otherwise
// (phonenumbers: its metadata is regular expressions); a hit costs
// ~25 ns, and an MFI texts the same few thousand clients every week. It
// keys on the exact input. Validity is decided by prefix below it, where
// the patterns prove that the digits left out cannot change the answer
// (numbervalid.go); the input as a whole cannot be keyed on a prefix, as
// the national prefix rules and the choice of region read the whole
// number. When full it forgets an arbitrary eighth of its entries (Go's
// map order), which keeps the cost of a miss flat.
type numberCache struct {
	mu  sync.RWMutex
	m   map[numberKey]numberAnswer
	max int
}

type numberKey struct{ number, region string }

type numberAnswer struct {
	e164 string
	err  error
}

func newNumberCache(max int) *numberCache {
	return &numberCache{m: make(map[numberKey]numberAnswer), max: max}
}

func (c *numberCache) normalize(number, region string) (string, error) {
	k := numberKey{number, region}
	c.mu.RLock()
	a, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return a.e164, a.err
	}
	a.e164, a.err = parseNumber(number, region)
	c.mu.Lock()
	if len(c.m) >= c.max {
		drop := c.max / 8
		for old := range c.m {
			if drop == 0 {
				break
			}
			delete(c.m, old)
			drop--
		}
	}
	// The number may be a slice of a whole request body; a copy keeps
	// the cache from holding the body.
	c.m[numberKey{strings.Clone(number), region}] = a
	c.mu.Unlock()
	return a.e164, a.err
}
