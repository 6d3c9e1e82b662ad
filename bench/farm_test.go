package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"

	"github.com/openmf/smsgw/smpp/smsc"
)

func TestParseCarrier(t *testing.T) {
	c, err := ParseCarrier("name=a,listen=127.0.0.1:0,latency=1ms..5ms,tps=500,throttle=0.1,receipt_delay=2s," +
		"outcomes=DELIVRD:0.9/UNDELIV:0.1,mo_rate=2,prefixes=+2547/+2557,cost=0.8,system_id=mfi")
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "a" || c.Latency != (Range{time.Millisecond, 5 * time.Millisecond}) || c.TPS != 500 || c.Throttle != 0.1 ||
		c.ReceiptDelay == nil || *c.ReceiptDelay != (Range{2 * time.Second, 2 * time.Second}) ||
		c.Outcomes["UNDELIV"] != 0.1 || c.MORate != 2 || strings.Join(c.Prefixes, " ") != "+2547 +2557" || c.Cost != 0.8 || c.SystemID != "mfi" {
		t.Errorf("parsed %+v", c)
	}
	for _, bad := range []string{
		"name=a,tps=fast",         // not a number
		"name=a,throttle=2",       // out of range
		"name=a,outcomes=LOST:1",  // unknown stat word
		"name=a,latency=5ms..1ms", // min > max
		"name=a,colour=blue",      // unknown key
		"name=a,outcomes=DELIVRD", // no weight
		"latency=1ms",             // no name
		"name",                    // not key=value
	} {
		if _, err := ParseCarrier(bad); err == nil {
			t.Errorf("ParseCarrier(%q) accepted", bad)
		}
	}
}

// TestCarrierVerdicts runs the carrier's submit handler directly: throttle
// and reject answers are never counted as taken, accepted first parts are
// counted once per copy, and the outcome mix decides the receipt.
func TestCarrierVerdicts(t *testing.T) {
	ledger := newLedger()
	sub := func(seq uint64) *smsc.Submit {
		return &smsc.Submit{ShortMessage: []byte(Token("run1", seq) + " hello")}
	}
	thr := &Carrier{spec: CarrierSpec{Name: "t"}, ledger: ledger}
	thr.SetThrottle(1)
	if a := thr.handle(sub(1)); a.Status != uint32(data.ESME_RTHROTTLED) {
		t.Errorf("throttle 1: status %#x", a.Status)
	}
	capped := &Carrier{spec: CarrierSpec{Name: "c"}, ledger: ledger}
	capped.SetTPS(1) // burst 1: the second submit in the same instant is over the cap
	capped.handle(sub(2))
	if a := capped.handle(sub(3)); a.Status != uint32(data.ESME_RTHROTTLED) {
		t.Errorf("over the TPS cap: status %#x", a.Status)
	}
	rej := &Carrier{spec: CarrierSpec{Name: "r", Reject: 1}, ledger: ledger}
	if a := rej.handle(sub(4)); a.Status != uint32(data.ESME_RINVDSTADR) {
		t.Errorf("reject 1: status %#x", a.Status)
	}
	und := &Carrier{spec: CarrierSpec{Name: "u"}, ledger: ledger, outcomes: []weightedStat{{1, "UNDELIV"}}}
	if a := und.handle(sub(5)); a.Status != 0 || a.ReceiptStat != "UNDELIV" || a.ReceiptErr != "001" {
		t.Errorf("UNDELIV outcome: %+v", a)
	}
	und.handle(sub(5))
	want := map[uint64]int32{2: 1, 5: 2}
	got := ledger.RunCounts("run1")
	if len(got) != len(want) || got[2] != 1 || got[5] != 2 {
		t.Errorf("ledger %v, want %v", got, want)
	}
	if thr.throttled.Load() != 1 || capped.throttled.Load() != 1 || rej.rejected.Load() != 1 || und.accepted.Load() != 2 {
		t.Error("counters do not match the verdicts")
	}
}

func TestLoadCarriersFromScenario(t *testing.T) {
	specs, err := LoadCarriers("scenarios/outage.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 2 || specs[0].Name != "alpha" {
		t.Errorf("carriers %+v", specs)
	}
	if _, err := parseCarriers(strings.NewReader("carriers:\n  - name: a\n    tpss: 3\n"), "x.yaml"); err == nil {
		t.Error("a misspelt carrier key was accepted")
	}
}

func TestFarmGatewayConfig(t *testing.T) {
	farm, err := StartFarm([]CarrierSpec{{Name: "a", Prefixes: []string{"+254"}, Cost: 0.5}, {Name: "b"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer farm.Close()
	var b strings.Builder
	if err := farm.WriteGatewayConfig(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"name: a", "port: " + farm.Carrier("a").Addr()[strings.LastIndex(farm.Carrier("a").Addr(), ":")+1:],
		`{prefix: "+254", carrier: a, cost: 0.5, currency: KES}`, `{prefix: "+", carrier: b, cost: 1, currency: KES}`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("config lacks %q:\n%s", want, b.String())
		}
	}
	if _, err := StartFarm([]CarrierSpec{{Name: "a"}, {Name: "a"}}, nil); err == nil {
		t.Error("two carriers named a were accepted")
	}
}
