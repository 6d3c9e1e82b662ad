package console_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
	"golang.org/x/crypto/bcrypt"

	"github.com/openmf/smsgw/config"
	"github.com/openmf/smsgw/internal/testutil"
	smppserver "github.com/openmf/smsgw/smpp/server"
)

// TestSMPPAccountsOnCarriersPage: the carriers page lists the SMPP
// server's accounts with the binds open now; a tenant's user sees only
// their tenant's accounts.
func TestSMPPAccountsOnCarriersPage(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, func(cfg *config.Config) {
		cfg.SMPPServer = &smppserver.Config{Listen: "127.0.0.1:0", Accounts: []smppserver.Account{
			{SystemID: "bank", PasswordHash: string(hash), Tenant: "mfi-a", MaxBinds: 2},
			{SystemID: "ngo", PasswordHash: string(hash), Tenant: "mfi-b", Rate: 5},
		}}
	})
	conn, err := net.Dial("tcp", g.app.SMPPServer().Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	bind := pdu.NewBindRequest(pdu.Transceiver)
	bind.SystemID, bind.Password = "bank", "secret"
	buf := pdu.NewBuffer(nil)
	bind.Marshal(buf)
	if _, err := conn.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	resp, err := pdu.Parse(bufio.NewReader(conn))
	if err != nil || resp.GetHeader().CommandStatus != data.ESME_ROK {
		t.Fatalf("bind: %v %v", resp, err)
	}

	noc := g.browser(t)
	noc.signIn("noc", operatorPass)
	testutil.Eventually(t, 5*time.Second, func() error {
		r, body := noc.get("/console/carriers")
		switch {
		case r.StatusCode != http.StatusOK:
			return fmt.Errorf("carriers page: %d", r.StatusCode)
		case !strings.Contains(body, `id="smpp-bank"`) || !strings.Contains(body, "1 of 2") || !strings.Contains(body, "transceiver from 127.0.0.1:"):
			return fmt.Errorf("no open transceiver bind for bank on the carriers page:\n%s", body)
		case !strings.Contains(body, `id="smpp-ngo"`) || !strings.Contains(body, "5/s"):
			return fmt.Errorf("no account ngo with its rate on the carriers page:\n%s", body)
		}
		return nil
	})

	mfi := g.browser(t)
	mfi.signIn("mfi-view", viewerPass)
	if _, body := mfi.get("/console/carriers"); !strings.Contains(body, `id="smpp-bank"`) || strings.Contains(body, `id="smpp-ngo"`) {
		t.Errorf("mfi-a's viewer: want bank listed and not mfi-b's ngo:\n%s", body)
	}
}
