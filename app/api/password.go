package api

import (
	"net/http"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/httpx"
)

type changePasswordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// changePassword sets the caller's own password. Every session and token
// of the user ends, the caller's included; the answer carries a new token
// so the caller can go on.
func (a *api) changePassword(w http.ResponseWriter, r *http.Request) {
	var req changePasswordRequest
	if err := decode(w, r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if req.CurrentPassword == "" || req.NewPassword == "" {
		a.fail(w, r, app.Errorf(app.EINVALID, "current_password and new_password are required"))
		return
	}
	res, err := a.svc.ChangePassword(r.Context(), actorFrom(r.Context()), app.ChangePasswordInput{
		Current: req.CurrentPassword, New: req.NewPassword, ClientAddr: httpx.ClientAddr(r)})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	token, exp, err := a.tokens.Issue(res.User)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, loginResponse{Token: token, ExpiresAt: rfc3339(exp)})
}
