package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"

	"github.com/openmf/smsgw/app/apptest"
	smppserver "github.com/openmf/smsgw/smpp/server"
	"github.com/openmf/smsgw/smpp/smsc"
)

// TestReceiptsSurviveRestart stops smsgw between accept and receipt:
// one receipt was sent and never acknowledged by the ESME, another
// reached smsgw while the ESME had no receiver bound. After the restart
// the ESME binds again and gets both, with the ids it was given.
func TestReceiptsSurviveRestart(t *testing.T) {
	sim := smsc.NewServer(smsc.WithReceiptDelay(0, 5*time.Millisecond))
	t.Cleanup(sim.Close)
	dir := t.TempDir()
	sc := smppserver.Config{Accounts: []smppserver.Account{account(t)}}
	first := apptest.Start(t, gatewayConfig(t, sim.Addr(), dir, sc))

	rx := dial(t, first.SMPPServer().Addr().String()).mustBind(pdu.Transceiver)
	rx.setAutoAck(false)
	unanswered := rx.submit("254712345678", "receipt sent, never answered")
	rx.receiptFor(unanswered.MessageID)

	tx := dial(t, first.SMPPServer().Addr().String()).mustBind(pdu.Transmitter)
	rx.send(pdu.NewUnbind())
	rx.closed()
	unbound := tx.submit("254712345678", "receipt while no receiver is bound")
	if unanswered.CommandStatus != data.ESME_ROK || unbound.CommandStatus != data.ESME_ROK {
		t.Fatalf("submits: %v %v", unanswered.CommandStatus, unbound.CommandStatus)
	}
	waitDelivered(t, first.Engine().Get, unbound.MessageID)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := first.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	tx.closed()

	second := apptest.Start(t, gatewayConfig(t, sim.Addr(), dir, sc))
	again := dial(t, second.SMPPServer().Addr().String()).mustBind(pdu.Receiver)
	for _, id := range []string{unanswered.MessageID, unbound.MessageID} {
		d := again.receiptFor(id)
		if got := messageText(t, d); len(got) < 4 || got[:3+len(id)] != "id:"+id {
			t.Errorf("receipt text %q", got)
		}
	}
}
