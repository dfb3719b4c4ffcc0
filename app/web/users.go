package web

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/httpx"
	"github.com/nexplane/nexplane/views"
)

// roleNames are the choices in the role selects, most privileged first.
func roleNames() []string {
	out := make([]string, len(app.Roles))
	for i, r := range app.Roles {
		out[i] = string(r)
	}
	return out
}

// listUsers shows the users page (app refuses non-admins with 403).
func (h *handler) listUsers(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	h.renderUsers(w, r, a, http.StatusOK, views.CreateUserForm{Role: string(app.RoleViewer)}, h.popFlash(w, r, a))
}

// renderUsers loads the user list and renders the page with the given form
// state; a failing load (forbidden, database) becomes an error page.
func (h *handler) renderUsers(w http.ResponseWriter, r *http.Request, a *sessionUser, status int, create views.CreateUserForm, flash string) {
	users, err := h.svc.ListUsers(r.Context(), a.actor)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	v := views.UsersView{Roles: roleNames(), Create: create}
	for _, u := range users {
		id := strconv.FormatInt(u.ID, 10)
		v.Rows = append(v.Rows, views.UserRow{
			ID: id, Email: u.Email, Role: string(u.Role), Disabled: u.Disabled,
			Created: formatTime(u.CreatedAt), IsSelf: id == a.actor.ID, Pending: !u.HasPassword(),
		})
	}
	h.render(w, r, status, views.UsersPage(h.page(a, "Users", views.NavUsers, flash), v))
}

// createUser invites a user. A refused input re-renders the form with the
// message and what was entered; success goes (303) to the page that shows
// the invitation link once, so this response never carries it.
func (h *handler) createUser(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		h.renderStatus(w, r, a, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	in := app.InviteInput{Email: r.PostForm.Get("email"), Role: r.PostForm.Get("role"), Reveal: true}
	res, err := h.svc.InviteUser(r.Context(), a.actor, in)
	if err != nil {
		switch code := app.ErrCode(err); code {
		case app.EINVALID, app.ECONFLICT:
			form := views.CreateUserForm{Email: in.Email, Role: in.Role, Error: errMessage(err)}
			h.renderUsers(w, r, a, httpx.Status(code), form, "")
		default:
			h.renderError(w, r, a, err)
		}
		return
	}
	redirect(w, r, fmt.Sprintf("/users/%d/link", res.User.ID))
}

// updateUser changes one user's role or enables/disables them. app ends
// that user's sessions in the same transaction. A refusal goes back to
// /users with the reason.
func (h *handler) updateUser(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		h.renderStatus(w, r, a, http.StatusNotFound, "Not found", "There is no such user.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		h.renderStatus(w, r, a, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	var patch app.UserPatch
	if r.PostForm.Has("role") {
		role := r.PostForm.Get("role")
		patch.Role = &role
	}
	if r.PostForm.Has("disabled") {
		d, err := strconv.ParseBool(r.PostForm.Get("disabled"))
		if err != nil {
			h.refuse(w, r, a, "/users", app.Errorf(app.EINVALID, "disabled must be true or false"), nil)
			return
		}
		patch.Disabled = &d
	}
	before, _ := h.svc.GetUser(r.Context(), a.actor, id) // only to word the flash
	u, err := h.svc.UpdateUser(r.Context(), a.actor, id, patch)
	if err != nil {
		h.refuse(w, r, a, "/users", err, nil)
		return
	}
	if strconv.FormatInt(u.ID, 10) == a.actor.ID && before != nil &&
		(before.Role != u.Role || before.Disabled != u.Disabled) {
		// Admins changing themselves just ended their own session; the
		// next page is the login page, so there is nobody to flash.
		redirect(w, r, "/users")
		return
	}
	h.addFlash(w, r, a, updateMessage(before, u))
	redirect(w, r, "/users")
}

// updateMessage words what changed for the flash.
func updateMessage(before, after *app.User) string {
	switch {
	case before == nil:
		return fmt.Sprintf("User %s updated.", after.Email)
	case before.Disabled != after.Disabled && after.Disabled:
		return fmt.Sprintf("User %s disabled; their sessions have ended.", after.Email)
	case before.Disabled != after.Disabled:
		return fmt.Sprintf("User %s enabled.", after.Email)
	case before.Role != after.Role:
		return fmt.Sprintf("Role of %s changed from %s to %s; their sessions have ended.", after.Email, before.Role, after.Role)
	default:
		return fmt.Sprintf("Nothing changed for %s.", after.Email)
	}
}

// clearLoginThrottle forgets a user's failed logins (app checks the role,
// audits, and writes the reset where every server sees it).
func (h *handler) clearLoginThrottle(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		h.renderStatus(w, r, a, http.StatusNotFound, "Not found", "There is no such user.")
		return
	}
	u, err := h.svc.GetUser(r.Context(), a.actor, id)
	if err == nil {
		u, err = h.svc.ClearLoginThrottle(r.Context(), a.actor, u.Email)
	}
	if err != nil {
		h.refuse(w, r, a, "/users", err, nil)
		return
	}
	h.addFlash(w, r, a, fmt.Sprintf("Login throttling cleared for %s: their failed logins no longer count.", u.Email))
	redirect(w, r, "/users")
}
