package console

import (
	"crypto/rand"
	"errors"
	"net/http"
	"slices"
	"strings"

	"tinbao/storage"
)

// Administrators manage accounts and units here (the command line does the
// same: tinbao officer add|disable|enable|reset-password).

var unitKinds = []string{"police", "border_guard", "health", "legal_aid", "hotline", "other"}

type adminData struct {
	Officers []storage.Officer
	Units    []storage.Unit
	Kinds    []string
	Roles    []string
	// Created is a new account and its password, shown once.
	Created, Password string
}

func (c *Console) admin(w http.ResponseWriter, r *http.Request) {
	c.adminRender(w, r, http.StatusOK, adminData{})
}

func (c *Console) adminRender(w http.ResponseWriter, r *http.Request, status int, d adminData) {
	if officer(r).Role != "admin" {
		c.fail(w, r, http.StatusForbidden, "console.err.admins")
		return
	}
	var err error
	if d.Officers, err = c.db.Officers(r.Context()); err == nil {
		d.Units, err = c.db.Units(r.Context())
	}
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
		return
	}
	d.Kinds, d.Roles = unitKinds, storage.Roles
	c.render(w, r, status, "admin", d)
}

// addOfficer creates an account with a generated password, shown once.
func (c *Console) addOfficer(w http.ResponseWriter, r *http.Request) {
	o := officer(r)
	if o.Role != "admin" {
		c.fail(w, r, http.StatusForbidden, "console.err.admins")
		return
	}
	name := strings.ToLower(strings.TrimSpace(r.PostFormValue("username")))
	role, unit := r.PostFormValue("role"), strings.TrimSpace(r.PostFormValue("unit"))
	if !slices.Contains(storage.Roles, role) {
		c.fail(w, r, http.StatusBadRequest, "console.err.bad_account")
		return
	}
	password := rand.Text()
	_, err := c.db.AddOfficer(r.Context(), name, role, unit, password)
	switch {
	case errors.Is(err, storage.ErrOfficerExists):
		c.fail(w, r, http.StatusConflict, "console.err.account_exists")
		return
	case errors.Is(err, storage.ErrNoUnit):
		c.fail(w, r, http.StatusBadRequest, "console.err.unknown_unit")
		return
	case err != nil:
		c.fail(w, r, http.StatusBadRequest, "console.err.bad_account") // a name outside a-z 0-9 . _ -
		return
	}
	c.audit(r, o.Username, "officer.added", 0, map[string]string{"username": name, "role": role})
	c.adminRender(w, r, http.StatusOK, adminData{Created: name, Password: password})
}

// setDisabled disables or enables an account; its sessions end.
func (c *Console) setDisabled(w http.ResponseWriter, r *http.Request) {
	o := officer(r)
	if o.Role != "admin" {
		c.fail(w, r, http.StatusForbidden, "console.err.admins")
		return
	}
	name := r.PostFormValue("username")
	if name == o.Username {
		c.fail(w, r, http.StatusBadRequest, "console.err.not_yourself")
		return
	}
	if err := c.db.SetOfficerDisabled(r.Context(), name, r.PostFormValue("disable") == "1"); err != nil {
		c.fail(w, r, http.StatusBadRequest, "console.err.no_officer")
		return
	}
	http.Redirect(w, r, "/admin", http.StatusSeeOther)
}

// addUnit adds an agency reports can be referred to.
func (c *Console) addUnit(w http.ResponseWriter, r *http.Request) {
	o := officer(r)
	if o.Role != "admin" {
		c.fail(w, r, http.StatusForbidden, "console.err.admins")
		return
	}
	name, kind := strings.TrimSpace(r.PostFormValue("name")), r.PostFormValue("kind")
	if name == "" || len(name) > 200 || !slices.Contains(unitKinds, kind) {
		c.fail(w, r, http.StatusBadRequest, "console.err.bad_unit")
		return
	}
	if err := c.db.AddUnit(r.Context(), name, kind, o.Username); err != nil {
		c.fail(w, r, http.StatusConflict, "console.err.bad_unit")
		return
	}
	http.Redirect(w, r, "/admin", http.StatusSeeOther)
}
