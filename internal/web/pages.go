package web

import (
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/sightline/sightline/internal/access"
	"github.com/sightline/sightline/internal/account"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/incident"
	"github.com/sightline/sightline/internal/media"
)

// formCookie carries the double-submit token of the forms shown before a
// session exists (sign-in, account setup).
const formCookie = "sightline_form"

// secure reports whether the request came over TLS (directly or through a
// proxy that says so), so that cookies are marked Secure.
func secure(r *http.Request) bool {
	return r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"
}

func (s *server) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode})
}

// formToken returns the pre-session form token, setting its cookie if the
// browser has none.
func (s *server) formToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(formCookie); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	b := make([]byte, 24)
	rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	s.setCookie(w, r, formCookie, v, 3600)
	return v
}

// formTokenOK checks a pre-session form's token against its cookie.
func formTokenOK(r *http.Request) bool {
	c, err := r.Cookie(formCookie)
	return err == nil && c.Value != "" && r.PostFormValue("csrf") == c.Value
}

// csrfOK checks the token of a request made with a session: a form field
// or, for scripts in the page, the X-CSRF-Token header.
func csrfOK(r *http.Request, se *account.Session) bool {
	token := r.Header.Get("X-CSRF-Token")
	if token == "" {
		token = r.PostFormValue("csrf")
	}
	return account.CheckCSRF(*se, token)
}

func (s *server) render(w http.ResponseWriter, status int, page string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := s.pages.ExecuteTemplate(w, page, data); err != nil {
		s.Logger.Error("rendering", "page", page, "err", err)
	}
}

type signinPage struct {
	CSRF, Error string
	Ready       bool
	LockFor     string
	Next        string // where to go once signed in
}

// localPath returns p if it is a path on this site (so that a link
// cannot send a staff member elsewhere after signing in), else "".
func localPath(p string) string {
	// Browsers drop tabs and newlines from URLs and read "\\" as "/", so
	// "/\t/evil.example" is "//evil.example" to them: any such character,
	// or a space, and the path is refused, not cleaned.
	bad := func(r rune) bool { return r <= ' ' || r == 0x7f || r == '\\' }
	if p == "" || strings.ContainsFunc(p, bad) {
		return ""
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || strings.ContainsFunc(u.Path, bad) ||
		!strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") || strings.HasPrefix(u.EscapedPath(), "//") {
		return ""
	}
	return u.RequestURI()
}

func (s *server) signinForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "signin.html", signinPage{CSRF: s.formToken(w, r), Ready: r.URL.Query().Has("ready"),
		LockFor: lasting(s.Accounts.Policy().LockFor), Next: localPath(r.URL.Query().Get("next"))})
}

// signin checks a name, password and code and starts a session. Failures
// say one thing whatever failed, and count against the client's address
// as well as the account.
func (s *server) signin(w http.ResponseWriter, r *http.Request) {
	page := signinPage{CSRF: s.formToken(w, r), LockFor: lasting(s.Accounts.Policy().LockFor), Next: localPath(r.PostFormValue("next"))}
	if !formTokenOK(r) {
		page.Error = "The form expired; try again."
		s.render(w, http.StatusForbidden, "signin.html", page)
		return
	}
	if s.logins.blocked(r.Context(), s.clientAddr(r)) {
		page.Error = "Too many failed sign-ins from here; wait a few minutes."
		s.render(w, http.StatusTooManyRequests, "signin.html", page)
		return
	}
	_, secret, err := s.Accounts.Login(r.Context(), r.PostFormValue("name"), r.PostFormValue("password"), r.PostFormValue("code"))
	if errors.Is(err, account.ErrBadLogin) {
		s.logins.failed(r.Context(), s.clientAddr(r))
		page.Error = "Wrong name, password or code, or the account is locked."
		s.render(w, http.StatusUnauthorized, "signin.html", page)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.setCookie(w, r, sessionCookie, secret, 0)
	http.Redirect(w, r, cmp.Or(page.Next, "/staff"), http.StatusSeeOther)
}

func (s *server) signout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.Accounts.Logout(r.Context(), c.Value)
	}
	s.setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

type setupPage struct {
	User                account.User
	Secret, CSRF, Error string
	TOTP                string
	// TOTPURI is the otpauth: link an authenticator app opens, and TOTPQR
	// its QR code: made here from the name and secret, so marked safe for
	// a template that allows only http(s) links of its own accord.
	TOTPURI, TOTPQR template.URL
	MinPassword     int
}

func (s *server) setupForm(w http.ResponseWriter, r *http.Request) {
	u, totp, err := s.Accounts.BeginSetup(r.Context(), r.PathValue("secret"))
	if errors.Is(err, account.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page := setupPage{User: u, Secret: r.PathValue("secret"), CSRF: s.formToken(w, r), MinPassword: account.MinPasswordLen}
	if err := s.withTOTP(&page, totp); err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, http.StatusOK, "setup.html", page)
}

func (s *server) setup(w http.ResponseWriter, r *http.Request) {
	secret := r.PathValue("secret")
	u, err := s.Accounts.SetupUser(r.Context(), secret)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	// The secret is the one this setup issued, whatever the form says.
	page := setupPage{User: u, Secret: secret, CSRF: s.formToken(w, r), MinPassword: account.MinPasswordLen}
	if err := s.withTOTP(&page, u.SetupTOTP); err != nil {
		s.fail(w, r, err)
		return
	}
	if !formTokenOK(r) {
		page.Error = "The form expired; try again."
		s.render(w, http.StatusForbidden, "setup.html", page)
		return
	}
	if t := r.PostFormValue("totp"); t != "" && t != page.TOTP {
		page.Error = "This form holds an authenticator secret the server did not issue; use the one shown here."
		s.render(w, http.StatusBadRequest, "setup.html", page)
		return
	}
	_, err = s.Accounts.CompleteSetup(r.Context(), secret, r.PostFormValue("password"), page.TOTP, r.PostFormValue("code"))
	if errors.Is(err, account.ErrInvalid) {
		page.Error = strings.TrimPrefix(err.Error(), account.ErrInvalid.Error()+": ")
		s.render(w, http.StatusBadRequest, "setup.html", page)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/signin?ready", http.StatusSeeOther)
}

// staffHome lists what the signed-in staff member may see.
func (s *server) staffHome(w http.ResponseWriter, r *http.Request) {
	c := callerOf(r)
	if c.session == nil { // an API token: the JSON form is /api/v1/me
		s.me(w, r)
		return
	}
	items, err := s.visible(r.Context(), c.Principal)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	all, err := s.Incidents.Mine(r.Context(), c.User.ID, c.User.Unit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// An incident links to its timeline, or for the records office, who
	// do not watch it there, to its releases.
	type incidentLink struct {
		incident.Incident
		Href string
	}
	var incidents []incidentLink
	for _, inc := range all {
		base := "/staff/incidents/" + url.PathEscape(inc.ID)
		switch facts := incidentFacts(inc); {
		case access.Decide(c.Principal, access.ReadIncident, facts).Allowed:
			incidents = append(incidents, incidentLink{inc, base})
		case access.Decide(c.Principal, access.ReadRelease, facts).Allowed:
			incidents = append(incidents, incidentLink{inc, base + "/releases"})
		}
	}
	s.render(w, http.StatusOK, "staff.html", struct {
		User      account.User
		Items     []evidence.Item
		Incidents []incidentLink
		CSRF      string
		CanCreate bool
		CanCases  bool
		Sources   []evidence.Source
	}{c.User, items, incidents, c.session.CSRF, access.Decide(c.Principal, access.CreateIncident, nil).Allowed,
		access.Decide(c.Principal, access.ListCases, nil).Allowed, evidence.Sources})
}

// staffView shows one item to a staff member. For a civilian's footage
// it first asks why, unless the table refuses anyway; opening it is then
// decided and logged like any API read.
func (s *server) staffView(w http.ResponseWriter, r *http.Request) {
	c := callerOf(r)
	reason := strings.TrimSpace(r.URL.Query().Get("reason"))
	if reason == "" {
		if it, err := s.Evidence.Get(r.Context(), r.PathValue("id")); err == nil && it.Uploader.Token == "" && c.Kind == access.Staff {
			f, err := s.facts(r.Context(), it)
			if err == nil && access.Decide(c.Principal, access.ReadItem, f).Allowed {
				s.render(w, http.StatusOK, "reason.html", struct {
					evidence.Item
					Action string
				}{it, ""})
				return
			}
		}
	}
	it, c, ok := s.item(w, r, access.ReadItem, "")
	if !ok {
		return
	}
	src := "/api/v1/evidence/" + url.PathEscape(it.ID) + "/original"
	redactLink := ""
	if it.MediaType == media.Video && s.mayItem(r, c, access.Redact, it) {
		redactLink = "/staff/redact/" + url.PathEscape(it.ID) + "?reason=" + url.QueryEscape(reason)
	}
	if reason != "" {
		src += "?reason=" + url.QueryEscape(reason)
	}
	s.render(w, http.StatusOK, "view.html", struct {
		Item                    evidence.Item
		Src, Reason, RedactLink string
	}{it, src, reason, redactLink})
}

type adminPage struct {
	Users                 []account.User
	Tokens                []account.Token
	Roles                 []account.Role
	CSRF, Error           string
	Link, LinkFor, Secret string
}

// adminHome shows accounts and device tokens, with forms to add them.
func (s *server) adminHome(w http.ResponseWriter, r *http.Request) {
	s.renderAdmin(w, r, http.StatusOK, adminPage{})
}

// sessionOnly serves the admin pages to signed-in browsers only: a
// script's token does not administer accounts (`sightline admin` does).
func (s *server) sessionOnly(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if callerOf(r).session == nil {
			s.problem(w, r, http.StatusForbidden, "the admin pages need a signed-in session; scripts use sightline admin")
			return
		}
		h(w, r)
	})
}

func (s *server) renderAdmin(w http.ResponseWriter, r *http.Request, status int, page adminPage) {
	c := callerOf(r)
	page.CSRF, page.Roles = c.session.CSRF, account.Roles
	for u, err := range s.Accounts.Users(r.Context()) {
		if err != nil {
			s.fail(w, r, err)
			return
		}
		page.Users = append(page.Users, u)
	}
	for t, err := range s.Accounts.Tokens(r.Context()) {
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if t.Kind == account.DeviceToken {
			page.Tokens = append(page.Tokens, t)
		}
	}
	s.render(w, status, "admin.html", page)
}

func (s *server) adminCreateUser(w http.ResponseWriter, r *http.Request) {
	c := callerOf(r)
	u, secret, err := s.Accounts.CreateUser(r.Context(), c.Actor(), account.User{Name: r.PostFormValue("name"),
		Role: account.Role(r.PostFormValue("role")), Unit: r.PostFormValue("unit"), Badge: r.PostFormValue("badge")})
	if errors.Is(err, account.ErrInvalid) || errors.Is(err, account.ErrExists) {
		s.renderAdmin(w, r, http.StatusBadRequest, adminPage{Error: err.Error()})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.renderAdmin(w, r, http.StatusOK, adminPage{Link: s.origin(r) + "/setup/" + secret, LinkFor: u.Name})
}

func (s *server) adminDeviceToken(w http.ResponseWriter, r *http.Request) {
	c := callerOf(r)
	_, secret, err := s.Accounts.IssueToken(r.Context(), c.Actor(), account.Token{Kind: account.DeviceToken,
		Unit: r.PostFormValue("unit"), Device: r.PostFormValue("device"), Badge: r.PostFormValue("badge")})
	if errors.Is(err, account.ErrInvalid) {
		s.renderAdmin(w, r, http.StatusBadRequest, adminPage{Error: err.Error()})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.renderAdmin(w, r, http.StatusOK, adminPage{Secret: secret})
}

func (s *server) adminRevoke(w http.ResponseWriter, r *http.Request) {
	if err := s.Accounts.RevokeToken(r.Context(), callerOf(r).Actor(), r.PathValue("id")); err != nil && !errors.Is(err, account.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin", http.StatusSeeOther)
}

// withTOTP puts the authenticator secret setup issued on the page, with
// its link and QR code; none for a role without a second factor.
func (s *server) withTOTP(page *setupPage, secret string) error {
	if secret == "" {
		return nil
	}
	uri := account.TOTPURI(s.Accounts.Policy().Issuer, page.User.Name, secret)
	img, err := qrImage(uri)
	page.TOTP, page.TOTPURI, page.TOTPQR = secret, template.URL(uri), img
	return err
}
