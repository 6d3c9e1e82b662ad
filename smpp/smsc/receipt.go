package smsc

import (
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
)

// SendReceipt sends the delivery receipt of an answered submit with the
// given stat (DELIVRD, UNDELIV, …) and err, now: for tests that held the
// simulator's own receipt back with Action.NoReceipt and decide when the
// carrier reports.
func (s *Server) SendReceipt(sub Submit, stat, errCode string) error {
	d := pdu.NewDeliverSM().(*pdu.DeliverSM)
	d.EsmClass = data.SM_SMSC_DLV_RCPT_TYPE
	text := formatReceiptText(sub.ReceiptID, sub.Time, time.Now(), stat, errCode, "")
	if err := d.Message.SetMessageDataWithEncoding([]byte(text), data.GSM7BIT); err != nil {
		return err
	}
	d.RegisterOptionalParam(pdu.Field{Tag: pdu.TagReceiptedMessageID, Data: append([]byte(sub.ReceiptID), 0)})
	return s.SendDeliverSM(d)
}
