package console

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/grpcapi"
)

// tenantRow is one tenant on the tenants page: its limits in force and
// its use since this node started.
type tenantRow struct {
	gateway.Tenant
	Limits                       grpcapi.TenantLimits
	Accepted, Refused, Throttled float64
	OptedOutMsgs                 float64
	Cost                         string           // per currency, since start
	DayShare, MonthShare         float64          // spend against its cap, 0..1; -1 without a cap
	DayAlert, MonthAlert         bool             // at 80 % of a cap or more
	Keys                         []gateway.APIKey // made in the console, revoked ones too
}

// tenantsPage shows each tenant the user may see: rate, weight, senders,
// spend today and this month against the caps, fraud controls, counts
// since start from the gateway's own counters, and the API keys made in
// the console.
func (c *Console) tenantsPage(w http.ResponseWriter, r *http.Request, ss *session) {
	c.renderTenants(w, r, ss, nil)
}

// renderTenants draws the tenants page; created, when not nil, is a key
// just made, shown this once.
func (c *Console) renderTenants(w http.ResponseWriter, r *http.Request, ss *session, created *createdKey) {
	counts := map[string]map[string]float64{} // tenant → metric → value
	cost := map[string]map[string]float64{}   // tenant → currency → spend
	if mfs, err := c.opts.Gatherer.Gather(); err == nil {
		for _, mf := range mfs {
			name := mf.GetName()
			switch name {
			case "smsgw_gateway_accepted_total", "smsgw_gateway_refused_total", "smsgw_gateway_throttled_total",
				"smsgw_gateway_opted_out_messages_total", "smsgw_gateway_cost_total":
			default:
				continue
			}
			for _, m := range mf.GetMetric() {
				l := labels(m)
				if name == "smsgw_gateway_cost_total" {
					if cost[l["tenant"]] == nil {
						cost[l["tenant"]] = map[string]float64{}
					}
					cost[l["tenant"]][l["currency"]] += m.GetCounter().GetValue()
					continue
				}
				if counts[l["tenant"]] == nil {
					counts[l["tenant"]] = map[string]float64{}
				}
				counts[l["tenant"]][name] += m.GetCounter().GetValue()
			}
		}
	}
	var rows []tenantRow
	var errs []string
	for _, t := range c.tenants(ss) {
		row := tenantRow{Tenant: t, DayShare: -1, MonthShare: -1}
		ls, err := c.opts.Gateway.TenantLimits(t.ID)
		if err != nil {
			errs = append(errs, t.ID+": "+err.Error())
		} else if len(ls) == 1 {
			row.Limits = ls[0]
		}
		f := row.Limits.Fraud
		if f.DailySpendCap > 0 {
			row.DayShare = row.Limits.SpendToday / f.DailySpendCap
			row.DayAlert = row.DayShare >= 0.8
		}
		if f.MonthlySpendCap > 0 {
			row.MonthShare = row.Limits.SpendMonth / f.MonthlySpendCap
			row.MonthAlert = row.MonthShare >= 0.8
		}
		n := counts[t.ID]
		row.Accepted, row.Refused, row.Throttled = n["smsgw_gateway_accepted_total"], n["smsgw_gateway_refused_total"], n["smsgw_gateway_throttled_total"]
		row.OptedOutMsgs = n["smsgw_gateway_opted_out_messages_total"]
		var parts []string
		for cur, v := range cost[t.ID] {
			parts = append(parts, fmt.Sprintf("%.4g %s", v, cur))
		}
		slices.Sort(parts)
		row.Cost = strings.Join(parts, ", ")
		ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
		if row.Keys, err = c.opts.Store.ListAPIKeys(ctx, t.ID); err != nil {
			errs = append(errs, t.ID+": the API keys could not be read: "+err.Error())
		}
		cancel()
		rows = append(rows, row)
	}
	c.render(w, r, ss, "tenants", "Tenants", map[string]any{"Rows": rows, "Err": strings.Join(errs, "; "), "Created": created,
		"Expiries": keyExpiries})
}
