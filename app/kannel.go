package app

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/openmf/smsgw/config"
	"github.com/openmf/smsgw/httpapi/kannel"
	"github.com/openmf/smsgw/webhook"
)

// kannelPart is the Kannel-compatible interface of a gateway: its own
// listener (sendsms, status, Frontline) when the config has a kannel
// section, and the task handlers of Kannel and Frontline keyword services.
type kannelPart struct {
	srv    *kannel.Server
	http   *http.Server
	lis    net.Listener
	follow context.CancelFunc
	done   chan struct{}
}

// newKannel builds the part when the config asks for any of it.
func (a *App) newKannel(cfg *config.Config, wh *webhook.Client) error {
	uses := cfg.Kannel != nil
	for _, k := range cfg.Keywords {
		uses = uses || k.Kannel != nil || k.Frontline != nil
	}
	if !uses {
		return nil
	}
	kc := kannel.Config{}
	if cfg.Kannel != nil {
		kc = *cfg.Kannel
	}
	srv, err := kannel.New(kc, a.engine, wh, kannel.Options{
		Logger: a.log.With("api", "kannel"), Counters: a.Counters, Carriers: a.kannelCarriers,
	})
	if err != nil {
		return err
	}
	srv.SetServices(cfg.KannelServices())
	for kind, h := range srv.TaskHandlers() {
		if err := a.handleTasks(kind, h); err != nil {
			return err
		}
	}
	a.kannel = &kannelPart{srv: srv}
	if cfg.Kannel != nil {
		a.kannel.http = &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	}
	return nil
}

// kannelCarriers shows the carriers on Kannel's /status.
func (a *App) kannelCarriers() []kannel.Carrier {
	var out []kannel.Carrier
	for _, c := range a.Carriers() {
		out = append(out, kannel.Carrier{ID: c.Name, Kind: c.Kind, Up: c.Up})
	}
	return out
}

// listen opens the Kannel listener (before the engine starts, so a taken
// port fails the start cleanly).
func (k *kannelPart) listen() error {
	if k == nil || k.http == nil {
		return nil
	}
	lis, err := net.Listen("tcp", k.srv.Listen())
	if err != nil {
		return fmt.Errorf("app: kannel.listen: %w", err)
	}
	k.lis = lis
	return nil
}

// start serves sendsms and follows the event log for dlr-url callbacks.
func (k *kannelPart) start(a *App) {
	if k == nil || k.http == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	k.follow, k.done = cancel, make(chan struct{})
	go func() {
		defer close(k.done)
		if err := k.srv.FollowDLR(ctx); err != nil {
			a.log.Error("kannel dlr follower stopped", "err", err)
		}
	}()
	a.serving.Add(1)
	go func() {
		defer a.serving.Done()
		if err := k.http.Serve(k.lis); err != nil && err != http.ErrServerClosed {
			a.log.Error("kannel listener", "err", err)
		}
	}()
}

// stop ends taking sendsms requests; the follower ends with the engine.
func (k *kannelPart) stop(ctx context.Context) error {
	if k == nil || k.http == nil || k.lis == nil {
		return nil
	}
	err := k.http.Shutdown(ctx)
	if k.follow != nil {
		k.follow()
		<-k.done
	}
	return err
}

// KannelAddr is the Kannel listener's address, "" when there is none.
func (a *App) KannelAddr() string {
	if a.kannel == nil || a.kannel.lis == nil {
		return ""
	}
	return a.kannel.lis.Addr().String()
}
