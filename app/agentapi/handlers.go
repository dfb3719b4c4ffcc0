package agentapi

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nexplane/nexplane/agent/ops"
	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/dispatch"
	"github.com/nexplane/nexplane/app/httpx"
)

// enroll needs no client certificate: the single-use token is the
// credential, and the agent checked our CA's fingerprint in the handshake.
func (s *server) enroll(w http.ResponseWriter, r *http.Request) {
	var req ops.EnrollRequest
	if err := decode(w, r, maxSmallBody, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	en, err := s.svc.Enroll(r.Context(), req.Token, req.CSR, req.Hostname)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "agent enrolled", "agent_id", en.Agent.ID, "hostname", en.Agent.Hostname,
		"remote", httpx.ClientAddr(r))
	httpx.WriteJSON(w, http.StatusOK, ops.EnrollResponse{AgentID: en.Agent.ID, Certificate: string(en.CertPEM), CA: string(en.CAPEM)})
}

// poll is the long-poll for work: ?wait= seconds, at most
// ops.MaxPollWaitSeconds (the default). A revocation ends it at once.
func (s *server) poll(w http.ResponseWriter, r *http.Request) {
	wait := ops.MaxPollWaitSeconds
	if v := r.URL.Query().Get("wait"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > ops.MaxPollWaitSeconds {
			s.fail(w, r, app.Errorf(app.EINVALID, "wait must be a whole number of seconds from 0 to %d", ops.MaxPollWaitSeconds))
			return
		}
		wait = n
	}
	a := agentFrom(r.Context()).agent
	id := a.ID
	if s.serverID != "" && a.Server != s.serverID {
		// A failure costs only relayed work its way here; the poll goes on.
		if err := s.svc.RecordAgentServer(r.Context(), id, s.serverID); err != nil {
			s.log.WarnContext(r.Context(), "record the agent's server", "agent_id", id, "err", err)
		}
	}
	work, err := s.hub.Poll(r.Context(), id, time.Duration(wait)*time.Second)
	if errors.Is(err, dispatch.ErrRevoked) {
		s.fail(w, r, app.Errorf(app.EFORBIDDEN, "agent %s is revoked; enroll again with a new token", id))
		return
	} else if err != nil {
		s.fail(w, r, err)
		return
	}
	if work == nil {
		work = []ops.Work{}
	}
	httpx.WriteJSON(w, http.StatusOK, ops.PollResponse{Work: work})
}

// results takes the agent's reports; those for work it was not given are
// dropped (see dispatch.Hub.Results) but still answered 200, so the agent
// does not resend them forever.
func (s *server) results(w http.ResponseWriter, r *http.Request) {
	var rs []ops.Result
	if err := decode(w, r, maxResultsBody, &rs); err != nil {
		s.fail(w, r, err)
		return
	}
	for i, res := range rs {
		if res.ID == "" || len(res.ID) > 128 {
			s.fail(w, r, app.Errorf(app.EINVALID, "result %d: id must be 1 to 128 characters", i))
			return
		}
	}
	id := agentFrom(r.Context()).agent.ID
	n := s.hub.Results(id, rs)
	s.log.InfoContext(r.Context(), "agent results", "agent_id", id, "received", len(rs), "accepted", n)
	httpx.WriteJSON(w, http.StatusOK, map[string]int{"accepted": n, "ignored": len(rs) - n})
}

func (s *server) heartbeat(w http.ResponseWriter, r *http.Request) {
	var hb ops.Heartbeat
	if err := decode(w, r, maxHeartbeatBody, &hb); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.svc.RecordHeartbeat(r.Context(), agentFrom(r.Context()).agent.ID, hb); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// renew signs a CSR for a new key pair over the agent's current mutual TLS
// connection; the certificate presented stays good until the new one is used.
func (s *server) renew(w http.ResponseWriter, r *http.Request) {
	var req ops.RenewRequest
	if err := decode(w, r, maxSmallBody, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	aa := agentFrom(r.Context())
	certPEM, a, err := s.svc.Renew(r.Context(), aa.agent.ID, aa.serial, req.CSR)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "agent certificate renewed", "agent_id", a.ID, "serial", a.CertSerial,
		"not_after", a.CertNotAfter)
	httpx.WriteJSON(w, http.StatusOK, ops.RenewResponse{Certificate: string(certPEM)})
}

// decode reads exactly one JSON value of at most limit bytes into v,
// refusing unknown fields and trailing data: agent messages are outside
// input like any other.
func decode(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return app.Errorf(app.EINVALID, "Content-Type must be application/json")
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return app.Errorf(app.EINVALID, "request body must hold a single JSON value")
	}
	return nil
}

func decodeError(err error) error {
	var tooBig *http.MaxBytesError
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return app.Errorf(app.EINVALID, "request body is empty")
	case errors.As(err, &tooBig):
		return app.Errorf(app.EINVALID, "request body is larger than %d bytes", tooBig.Limit)
	case errors.As(err, &syn):
		return app.Errorf(app.EINVALID, "malformed JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return app.Errorf(app.EINVALID, "field %q has the wrong type", typ.Field)
	default:
		if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return app.Errorf(app.EINVALID, "unknown field %s", field)
		}
		return app.Errorf(app.EINVALID, "malformed JSON request body")
	}
}
