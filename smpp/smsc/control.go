package smsc

import (
	"errors"
	"fmt"
	"net/http"
)

// ControlHandler lets a person drive the simulator from outside its process
// (`smsgw simulate mo`, the demo): POST /mo with form fields from, to and
// text injects a mobile-originated message, as a handset texting the
// shortcode would. It answers 202 once the deliver_sm went out, 503 when no
// ESME is bound to receive it and 400 for a missing field or a text too long
// for one deliver_sm.
func (s *Server) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /mo", func(w http.ResponseWriter, r *http.Request) {
		from, to, text := r.FormValue("from"), r.FormValue("to"), r.FormValue("text")
		if from == "" || to == "" || text == "" {
			http.Error(w, "from, to and text are required", http.StatusBadRequest)
			return
		}
		err := s.SendMO(from, to, text)
		switch {
		case errors.Is(err, ErrNoReceiver) || errors.Is(err, ErrClosed):
			http.Error(w, "no gateway is bound to the simulator: "+err.Error(), http.StatusServiceUnavailable)
		case err != nil:
			http.Error(w, err.Error(), http.StatusBadRequest)
		default:
			w.WriteHeader(http.StatusAccepted)
			fmt.Fprintln(w, "MO sent")
		}
	})
	return mux
}
