package gateway_test

import (
	"context"
	"errors"
	"testing"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/routing"
)

// bindingFake is a connector with binds, the way an SMPP pool is.
type bindingFake struct {
	*fakeConnector
	rebinds []string
}

func (b *bindingFake) Rebind(_ context.Context, by string) error {
	b.rebinds = append(b.rebinds, by)
	return nil
}

func (b *bindingFake) Binds() []gateway.BindState {
	return []gateway.BindState{{Index: 0, State: gateway.BindBound}}
}

func TestRebindCarrier(t *testing.T) {
	smpp := &bindingFake{fakeConnector: newFake("smpp", 10, ok)}
	http := newFake("http", 10, ok)
	h := newHarness(t, []routing.Route{route("+254", "smpp", 0.5), route("+254", "http", 0.9)}, smpp, http)
	ctx := context.Background()

	if err := h.engine.RebindCarrier(ctx, "smpp", "alice"); err != nil {
		t.Fatal(err)
	}
	if len(smpp.rebinds) != 1 || smpp.rebinds[0] != "alice" {
		t.Fatalf("rebinds %v", smpp.rebinds)
	}
	if bs, err := h.engine.CarrierBinds("smpp"); err != nil || len(bs) != 1 || bs[0].State != gateway.BindBound {
		t.Fatalf("binds %+v, %v", bs, err)
	}

	if err := h.engine.RebindCarrier(ctx, "http", "alice"); !errors.Is(err, gateway.ErrNoBinds) {
		t.Fatalf("rebinding an HTTP carrier: %v", err)
	}
	if _, err := h.engine.CarrierBinds("http"); !errors.Is(err, gateway.ErrNoBinds) {
		t.Fatalf("binds of an HTTP carrier: %v", err)
	}
	var fe *gateway.FieldError
	if err := h.engine.RebindCarrier(ctx, "nowhere", "alice"); !errors.As(err, &fe) || fe.Field != "carrier" {
		t.Fatalf("rebinding an unknown carrier: %v", err)
	}
}
