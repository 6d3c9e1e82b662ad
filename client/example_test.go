package client_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/openmf/smsgw/app"
	"github.com/openmf/smsgw/client"
	"github.com/openmf/smsgw/config"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
	"github.com/openmf/smsgw/smpp/smsc"
)

// Send a payment reminder to a client's phone as Fineract stores it
// (national format), then follow the event stream until the carrier's
// delivery receipt arrives.
func Example() {
	gw, stop := exampleGateway() // a gateway bound to a simulated carrier
	defer stop()

	c, err := client.Dial(gw.GRPCAddr(), "example-key-0001")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	sent, err := c.Send(ctx, &pb.SendRequest{To: "0712345678", Text: "Your repayment of KES 1,500 is due on Friday."})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("parts:", sent.GetParts(), sent.GetEncoding())

	events, err := c.StreamEvents(ctx, &pb.StreamEventsRequest{Kinds: []pb.EventKind{pb.EventKind_EVENT_KIND_STATUS}})
	if err != nil {
		log.Fatal(err)
	}
	for {
		ev, err := events.Recv()
		if err != nil {
			log.Fatal(err)
		}
		if ev.GetMessageId() != sent.GetId() {
			continue
		}
		fmt.Println(ev.GetStatus())
		if ev.GetStatus() == pb.Status_STATUS_DELIVERED {
			break
		}
	}
	m, err := c.GetMessage(ctx, &pb.GetMessageRequest{Id: sent.GetId()})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("to:", m.GetTo(), "via", m.GetCarrier())
	// Output:
	// parts: 1 GSM7
	// STATUS_ACCEPTED
	// STATUS_SUBMITTED
	// STATUS_DELIVERED
	// to: +254712345678 via carrier-a
}

// exampleGateway runs a gateway on loopback against the SMSC simulator,
// configured from YAML as an operator would.
func exampleGateway() (*app.App, func()) {
	sim := smsc.NewServer()
	dir, err := os.MkdirTemp("", "smsgw-example")
	if err != nil {
		log.Fatal(err)
	}
	host, port, _ := strings.Cut(sim.Addr(), ":")
	cfg, err := config.Parse(strings.NewReader(fmt.Sprintf(`
listen: {grpc: "127.0.0.1:0", http: "127.0.0.1:0"}
store: {driver: sqlite, path: %s}
tenants:
  - {id: mfi, api_keys: ["example-key-0001"], default_region: KE, sender: MFI}
carriers:
  - name: carrier-a
    smpp: {host: %s, port: %s, system_id: mfi, password: secret, window: 32}
routes:
  - {prefix: "+", carrier: carrier-a, cost: 0.8, currency: KES}
`, filepath.Join(dir, "smsgw.db"), host, port)), app.Kinds(app.ConnectorKinds))
	if err != nil {
		log.Fatal(err)
	}
	gw, err := app.New(context.Background(), cfg, app.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if err := gw.Start(); err != nil {
		log.Fatal(err)
	}
	for !gw.Engine().Ready() {
		time.Sleep(10 * time.Millisecond)
	}
	return gw, func() {
		gw.Stop(context.Background())
		sim.Close()
		os.RemoveAll(dir)
	}
}
