package api

import (
	"net/http"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/httpx"
)

// mfaChallengeResponse answers a right password of a user with a second
// factor: no API token yet, only a short-lived single-use mfa_token for
// POST /api/v1/auth/mfa.
type mfaChallengeResponse struct {
	MFARequired bool   `json:"mfa_required"`
	MFAToken    string `json:"mfa_token"`
}

type mfaLoginRequest struct {
	MFAToken string `json:"mfa_token"`
	Code     string `json:"code"`
}

// loginMFA finishes a login with a TOTP code or a recovery code and answers
// what login answers without MFA.
func (a *api) loginMFA(w http.ResponseWriter, r *http.Request) {
	var req mfaLoginRequest
	if err := decode(w, r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if req.MFAToken == "" || req.Code == "" {
		a.fail(w, r, app.Errorf(app.EINVALID, "mfa_token and code are required"))
		return
	}
	res, err := a.svc.CompleteMFALogin(r.Context(), app.MFALoginInput{
		Token: req.MFAToken, Code: req.Code, ClientAddr: httpx.ClientAddr(r)})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.issueToken(w, r, res.User)
}

// settingsBody is the admin settings document.
type settingsBody struct {
	MFARequired string `json:"mfa_required"`
}

func (a *api) getSettings(w http.ResponseWriter, r *http.Request) {
	p, err := a.svc.ReadMFAPolicy(r.Context(), actorFrom(r.Context()))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, settingsBody{MFARequired: string(p)})
}

type settingsPatch struct {
	MFARequired *string `json:"mfa_required"`
}

func (a *api) patchSettings(w http.ResponseWriter, r *http.Request) {
	var req settingsPatch
	if err := decode(w, r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	actor := actorFrom(r.Context())
	if req.MFARequired == nil {
		// Still answer 403 before 400 for a role that may not change settings.
		if _, err := a.svc.ReadMFAPolicy(r.Context(), actor); err != nil {
			a.fail(w, r, err)
			return
		}
		a.fail(w, r, app.Errorf(app.EINVALID, "nothing to change: give mfa_required"))
		return
	}
	p, err := a.svc.SetMFAPolicy(r.Context(), actor, *req.MFARequired)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, settingsBody{MFARequired: string(p)})
}
