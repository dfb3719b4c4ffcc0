package api

import (
	"net/http"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/httpx"
)

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type loginResponse struct {
	Token     string `json:"token"`
	ExpiresAt string `json:"expires_at"`
}

func (a *api) login(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := decode(w, r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if req.Email == "" || req.Password == "" {
		a.fail(w, r, app.Errorf(app.EINVALID, "email and password are required"))
		return
	}
	res, err := a.svc.Login(r.Context(), app.LoginInput{Email: req.Email, Password: req.Password, ClientAddr: httpx.ClientAddr(r)})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if res.MFAToken != "" {
		httpx.WriteJSON(w, http.StatusOK, mfaChallengeResponse{MFARequired: true, MFAToken: res.MFAToken})
		return
	}
	a.issueToken(w, r, res.User)
}

// issueToken answers a finished login with an API token.
func (a *api) issueToken(w http.ResponseWriter, r *http.Request, u *app.User) {
	token, exp, err := a.tokens.Issue(u)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, loginResponse{Token: token, ExpiresAt: rfc3339(exp)})
}
