package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/gateway/keyword"
)

// InboundPayload is the JSON body a keyword rule's webhook receives.
type InboundPayload struct {
	ID         string    `json:"id"`
	Tenant     string    `json:"tenant"`
	Carrier    string    `json:"carrier"`
	From       string    `json:"from"`
	To         string    `json:"to"`
	Text       string    `json:"text"`
	Keyword    string    `json:"keyword"`
	Args       string    `json:"args"` // the text after the keyword
	ReceivedAt time.Time `json:"received_at"`
}

// Inbounds looks up stored inbound messages (the engine).
type Inbounds interface {
	GetInbound(ctx context.Context, tenant, id string) (*gateway.Inbound, error)
	Keywords() *keyword.Table
}

// InboundHandler runs gateway.TaskWebhook tasks: it posts the inbound
// message to its rule's webhook, signed with the rule's secret. The rule is
// looked up when the task runs, so a reload's new URL or secret applies to
// retries; a rule removed since gives the task up.
func (c *Client) InboundHandler(src Inbounds) gateway.TaskHandler {
	return func(ctx context.Context, t gateway.Task) error {
		rule, in, err := gateway.ResolveRuleTask(ctx, t, src.Keywords(), src.GetInbound)
		if err != nil {
			return err
		}
		if rule.Webhook == nil {
			return gateway.GiveUp(fmt.Errorf("keyword rule %q has no webhook any more", rule.Name))
		}
		_, args := keyword.Split(in.Text)
		body, err := json.Marshal(InboundPayload{ID: in.ID, Tenant: in.Tenant, Carrier: in.Carrier, From: in.From,
			To: in.To, Text: in.Text, Keyword: in.Keyword, Args: args, ReceivedAt: in.ReceivedAt})
		if err != nil {
			return gateway.GiveUp(err)
		}
		_, err = c.Do(ctx, Request{Method: "POST", URL: rule.Webhook.URL, ContentType: "application/json",
			Body: body, Secret: rule.Webhook.Secret, ID: t.Key})
		return err
	}
}
