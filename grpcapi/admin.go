package grpcapi

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/gateway/limits"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
	smppserver "github.com/openmf/smsgw/smpp/server"
)

// Operator is what the Admin service drives; app.App implements it.
type Operator interface {
	// ExplainRoute routes a message for tenant (empty: the first) now.
	ExplainRoute(tenant, to, from string) (*Explanation, error)
	// ReloadRoutes rereads the config file and applies what may change
	// live, or refuses it whole.
	ReloadRoutes() (routes int, err error)
	// Carriers reports every carrier's state now.
	Carriers() []CarrierState
	// Counters sums every smsgw_*_total counter over its labels.
	Counters() (map[string]float64, error)
	// TenantLimits reports the fraud and spend controls of tenant (empty:
	// every tenant) and its spend; an unknown tenant is a *FieldError.
	TenantLimits(tenant string) ([]TenantLimits, error)
	// SMPPAccounts reports the SMPP server's accounts and their binds
	// (none when the server is off).
	SMPPAccounts() []smppserver.AccountState
	// StoredKeys is the store's API keys, which the Admin service lists,
	// makes and revokes.
	StoredKeys() gateway.APIKeys
}

// TenantLimits is one tenant's fraud and spend controls in force and its
// spend today and this month.
type TenantLimits struct {
	Tenant                 string
	SpendToday, SpendMonth float64
	Fraud                  limits.FraudConfig
}

// CarrierState is one carrier as the gateway sees it now.
type CarrierState struct {
	Name, Kind     string
	Up             bool
	Window         int
	Breaker        string
	BindsUp, Binds int     // SMPP only
	TPS            float64 // configured cap; 0: none
	InFlight       int     // SMPP: parts awaiting their response
	Throttled      int64   // SMPP: throttling answers since start
}

// Explanation is a routing decision, structured and as text.
type Explanation struct {
	To         string
	Candidates []gateway.Candidate
	Breakers   map[string]string // carrier → closed, half-open, open
	Text       string
}

type adminServer struct {
	pb.UnimplementedAdminServer
	op     Operator
	keys   *Keys           // reloaded after a key is made or revoked
	engine *gateway.Engine // records what admin keys did in the audit trail
}

func (a adminServer) ExplainRoute(_ context.Context, r *pb.ExplainRouteRequest) (*pb.ExplainRouteResponse, error) {
	ex, err := a.op.ExplainRoute(r.GetTenant(), r.GetTo(), r.GetFrom())
	var fe *gateway.FieldError
	if errors.As(err, &fe) {
		return nil, fieldStatus(fe).Err()
	}
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	out := &pb.ExplainRouteResponse{To: ex.To, Explanation: ex.Text}
	for _, c := range ex.Candidates {
		out.Candidates = append(out.Candidates, &pb.RouteCandidate{Carrier: c.Carrier, Cost: c.Cost, Currency: c.Currency, Breaker: ex.Breakers[c.Carrier]})
	}
	return out, nil
}

func (a adminServer) ListCarriers(context.Context, *pb.ListCarriersRequest) (*pb.ListCarriersResponse, error) {
	out := &pb.ListCarriersResponse{}
	for _, c := range a.op.Carriers() {
		out.Carriers = append(out.Carriers, &pb.CarrierState{Name: c.Name, Kind: c.Kind, Up: c.Up, Window: int32(c.Window), Breaker: c.Breaker,
			BindsUp: int32(c.BindsUp), Binds: int32(c.Binds), Tps: c.TPS, InFlight: int32(c.InFlight), Throttled: c.Throttled})
	}
	return out, nil
}

func (a adminServer) ListSMPPAccounts(context.Context, *pb.ListSMPPAccountsRequest) (*pb.ListSMPPAccountsResponse, error) {
	out := &pb.ListSMPPAccountsResponse{}
	for _, acc := range a.op.SMPPAccounts() {
		pa := &pb.SMPPAccount{SystemId: acc.SystemID, Tenant: acc.Tenant, MaxBinds: int32(acc.MaxBinds), Window: int32(acc.Window), Rate: acc.Rate}
		for _, b := range acc.Binds {
			pa.Binds = append(pa.Binds, &pb.SMPPBind{Type: b.Type, Remote: b.Remote, BindTime: timestamppb.New(b.Since), InFlight: int32(b.InFlight)})
		}
		out.Accounts = append(out.Accounts, pa)
	}
	return out, nil
}

func (a adminServer) GetTenantLimits(_ context.Context, r *pb.GetTenantLimitsRequest) (*pb.GetTenantLimitsResponse, error) {
	ts, err := a.op.TenantLimits(r.GetTenant())
	var fe *gateway.FieldError
	if errors.As(err, &fe) {
		return nil, fieldStatus(fe).Err()
	}
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	out := &pb.GetTenantLimitsResponse{}
	for _, t := range ts {
		f := t.Fraud
		tl := &pb.TenantLimits{Tenant: t.Tenant, SpendToday: t.SpendToday, SpendThisMonth: t.SpendMonth,
			DailySpendCap: f.DailySpendCap, MonthlySpendCap: f.MonthlySpendCap,
			AllowCountries: f.AllowCountries, DenyCountries: f.DenyCountries, AllowPrefixes: f.AllowPrefixes, DenyPrefixes: f.DenyPrefixes,
			PerRecipientPerHour: int32(f.PerRecipientPerHour), PerPrefixPerHour: int32(f.PerPrefixPerHour), PrefixDigits: int32(f.PrefixDigits)}
		if !f.AllowHighRisk {
			for _, hr := range limits.HighRiskPrefixes {
				tl.HighRiskDenied = append(tl.HighRiskDenied, hr.Prefix)
			}
		}
		out.Tenants = append(out.Tenants, tl)
	}
	return out, nil
}

func (a adminServer) GetCounters(context.Context, *pb.GetCountersRequest) (*pb.GetCountersResponse, error) {
	c, err := a.op.Counters()
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &pb.GetCountersResponse{Counters: c}, nil
}

func (a adminServer) ReloadRoutes(context.Context, *pb.ReloadRoutesRequest) (*pb.ReloadRoutesResponse, error) {
	n, err := a.op.ReloadRoutes()
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	return &pb.ReloadRoutesResponse{Routes: int32(n)}, nil
}
