package web

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/sightline/sightline/internal/access"
	"github.com/sightline/sightline/internal/account"
	"github.com/sightline/sightline/internal/evidence"
)

// sessionCookie holds a signed-in staff member's session secret.
const sessionCookie = "sightline_session"

// Route is one route of the server and the action it is.
type Route struct {
	Pattern string
	Action  access.Action
}

type principalKey struct{}

// errBadToken is a device or API token that is not (or no longer) good.
var errBadToken = errors.New("the token is not valid, expired or revoked")

// principal establishes who is asking: a staff session (cookie), a device
// or personal API token, a civilian's capability token, or nobody.
func (s *server) principal(r *http.Request) (access.Principal, *account.Session, error) {
	if token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		token = strings.TrimSpace(token)
		if !account.LooksLikeToken(token) {
			return access.Principal{Kind: access.Civilian, Capability: token}, nil, nil
		}
		t, u, err := s.Accounts.TokenOwner(r.Context(), token)
		if err != nil {
			return access.Principal{}, nil, errBadToken
		}
		if t.Kind == account.DeviceToken {
			return access.Principal{Kind: access.Device, Token: t}, nil, nil
		}
		return access.Principal{Kind: access.Staff, User: u, Token: t}, nil, nil
	}
	// A civilian's player cannot send a header: its token may come as
	// ?access_token= on reads (RFC 6750 §2.3). Staff tokens may not.
	if token := r.URL.Query().Get("access_token"); token != "" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		if account.LooksLikeToken(token) {
			return access.Principal{}, nil, errors.New("staff and device tokens go in the Authorization header")
		}
		return access.Principal{Kind: access.Civilian, Capability: token}, nil, nil
	}
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		u, se, err := s.Accounts.SessionUser(r.Context(), c.Value)
		if err == nil {
			return access.Principal{Kind: access.Staff, User: u}, &se, nil
		}
	}
	return access.Principal{Kind: access.Anonymous}, nil, nil
}

// handle registers a route with its action: the caller is established and
// the table consulted before the handler runs. Actions on an item are
// decided again, with the item's facts, by the handler (s.item).
func (s *server) handle(mux *http.ServeMux, pattern string, action access.Action, h http.Handler) {
	s.handleBody(mux, pattern, action, maxBody, h)
}

// handleBody is handle for a route whose bodies may be up to limit bytes
// (a case's documents).
func (s *server) handleBody(mux *http.ServeMux, pattern string, action access.Action, limit int64, h http.Handler) {
	s.routes = append(s.routes, Route{pattern, action})
	mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Outside uploads a body is small and must arrive promptly: a
		// client trickling bytes cannot hold a connection open.
		if action != access.Upload && r.Body != nil && r.Body != http.NoBody {
			http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.BodyTimeout))
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		p, se, err := s.principal(r)
		if err != nil {
			s.problem(w, r, http.StatusUnauthorized, err.Error())
			return
		}
		// A staff page asked for by someone signed out: sign in, then back.
		if p.Kind == access.Anonymous && page(r) && action != access.Public && action != access.SignIn {
			s.toSignIn(w, r)
			return
		}
		// A browser's session acts only with its form token: a page of
		// another site cannot make it change anything. (Uploads and public
		// routes change nothing of the staff member's; the sign-in forms
		// carry their own token.)
		if se != nil && r.Method != http.MethodGet && r.Method != http.MethodHead && action != access.Upload && action != access.Public && action != access.SignIn {
			if !csrfOK(r, se) {
				s.problem(w, r, http.StatusForbidden, "missing or wrong CSRF token")
				return
			}
		}
		if !itemAction(action) {
			if d := access.Decide(p, action, nil); !d.Allowed {
				s.refuse(w, r, p, action)
				return
			}
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, caller{p, se})))
	}))
}

// maxBody bounds a request body outside uploads: forms and JSON.
const maxBody = 1 << 20

// caller is the principal of a request and, for a browser, its session.
type caller struct {
	access.Principal
	session *account.Session
}

func callerOf(r *http.Request) caller {
	c, _ := r.Context().Value(principalKey{}).(caller)
	return c
}

// itemAction reports whether an action is decided by its handler, with
// the facts of the item or incident it is on.
func itemAction(a access.Action) bool {
	switch a {
	case access.ReadItem, access.ReadOriginal, access.ReadReceipt, access.ReadCustody, access.ShareItem, access.RecordInvolved,
		access.ReadIncident, access.EditIncident, access.AssignStaff, access.ReviewItem, access.EditReview,
		access.ReadCase, access.EditCase, access.TakeCase, access.AssignCase, access.ExportPackage,
		access.MakeRelease, access.ApproveRelease, access.PublishRelease, access.ReadRelease:
		return true
	}
	return redaction(a)
}

// redaction reports whether a is an action on redactions (decided on the
// item redacted).
func redaction(a access.Action) bool {
	return a == access.Redact || a == access.ApproveRedaction || a == access.ReleaseRedaction
}

// refuse answers a request the table denies, without an item: 401 for
// the anonymous (whom staff pages sent to sign in before), else 403.
func (s *server) refuse(w http.ResponseWriter, r *http.Request, p access.Principal, action access.Action) {
	if p.Kind == access.Anonymous {
		s.problem(w, r, http.StatusUnauthorized, "sign in or send a token")
		return
	}
	s.problem(w, r, http.StatusForbidden, "your role may not do this")
}

// maxReason bounds the reason a staff member gives, in characters.
const maxReason = 500

// item loads the item named in the path and decides action on it for the
// caller, logging the decision. Refused, it has answered (404 whether the
// item is missing or forbidden, so that existence is not revealed; 400
// for staff opening civilian footage without a reason) and returns false.
// logAs is the event type of an allowed access ("" for "accessed").
func (s *server) item(w http.ResponseWriter, r *http.Request, action access.Action, logAs evidence.EventType) (evidence.Item, caller, bool) {
	it, c, _, ok := s.decideItem(w, r, action, logAs)
	return it, c, ok
}

// decideItem is item, also returning the event of the decision (its
// details and words) for a handler that logs it with what it changed.
func (s *server) decideItem(w http.ResponseWriter, r *http.Request, action access.Action, logAs evidence.EventType) (evidence.Item, caller, evidence.Event, bool) {
	return s.decideItemID(w, r, r.PathValue("id"), action, logAs)
}

// decideItemID is decideItem on the item id names (a redaction's).
func (s *server) decideItemID(w http.ResponseWriter, r *http.Request, id string, action access.Action, logAs evidence.EventType) (evidence.Item, caller, evidence.Event, bool) {
	c := callerOf(r)
	it, err := s.Evidence.Get(r.Context(), id)
	if errors.Is(err, evidence.ErrNotFound) {
		if s.overLimit(r, c) {
			s.tooMany(w, r, failedTooOften)
			return it, c, evidence.Event{}, false
		}
		s.failedAttempt(r, c)
		s.fail(w, r, err)
		return it, c, evidence.Event{}, false
	}
	if err != nil {
		s.fail(w, r, err)
		return it, c, evidence.Event{}, false
	}
	facts, err := s.facts(r.Context(), it)
	if err != nil {
		s.fail(w, r, err)
		return it, c, evidence.Event{}, false
	}
	d := access.Decide(c.Principal, action, facts)
	reason := strings.TrimSpace(strings.ToValidUTF8(r.URL.Query().Get("reason"), "\uFFFD"))
	if rs := []rune(reason); len(rs) > maxReason { // cut between characters, not inside one
		reason = string(rs[:maxReason])
	}
	noReason := d.Allowed && c.Kind == access.Staff && facts.Civilian() && reason == ""
	if noReason {
		d = access.Decision{Allowed: false, Rule: "no reason given"}
	}
	// The holder's own look at their record, receipt or custody list is
	// not an access to footage; everything else is logged, allowed or not.
	own := c.Kind == access.Civilian && d.Allowed && (action == access.ReadItem || action == access.ReadReceipt || action == access.ReadCustody)
	// An allowed change (share, involve, a step of a redaction) is logged
	// by its handler, with what changed.
	change := d.Allowed && (action == access.ShareItem || action == access.RecordInvolved || redaction(action) && r.Method != http.MethodGet)
	// A refusal of a caller without a staff account counts against their
	// address; past the limit it is answered 429 and not logged, so that
	// nobody fills the log by being refused. An allowed request is never
	// refused for it: a valid credential works whatever others sent.
	if !d.Allowed && c.Kind != access.Staff {
		if s.overLimit(r, c) {
			s.tooMany(w, r, failedTooOften)
			return it, c, evidence.Event{}, false
		}
		s.failedAttempt(r, c)
	}
	if !own && !change {
		typ := logAs
		switch {
		case !d.Allowed:
			typ = evidence.Denied
		case typ == "":
			typ = evidence.Accessed
		}
		e := decisionEvent(c, action, d, reason)
		e.Type = typ
		// A read of the footage is logged once per viewing (viewings.go).
		reading := d.Allowed && (typ == evidence.Viewed || typ == evidence.Downloaded)
		key := viewingKey{actor: c.Actor(), item: it.ID, reason: reason, route: r.Pattern, typ: typ}
		if !reading || s.viewings.begin(key, s.Now()) {
			if reading {
				if span := rangeSpan(r); span != "" {
					e.Details["span"] = span
				}
			}
			if err := s.recordAbout(r.Context(), it, e); err != nil {
				if reading {
					s.viewings.forget(key)
				}
				s.fail(w, r, err)
				return it, c, evidence.Event{}, false
			}
		}
	}
	switch {
	case noReason:
		s.problem(w, r, http.StatusBadRequest, "opening a civilian's footage needs a reason: add ?reason=...")
		return it, c, evidence.Event{}, false
	case !d.Allowed:
		s.Metrics.refused(d.Rule)
		s.fail(w, r, evidence.ErrNotFound)
		return it, c, evidence.Event{}, false
	}
	return it, c, decisionEvent(c, action, d, reason), true
}

// overLimit reports whether a caller without a staff account has failed
// too often from their address (FailureLimit in 10 minutes); failedAttempt
// counts one more failure. Staff act under their own name and are not
// limited by address.
func (s *server) overLimit(r *http.Request, c caller) bool {
	return c.Kind != access.Staff && s.guesses.blocked(r.Context(), s.clientAddr(r))
}

func (s *server) failedAttempt(r *http.Request, c caller) {
	if c.Kind != access.Staff {
		s.guesses.failed(r.Context(), s.clientAddr(r))
	}
}

// mayWrite counts one thing a caller without an account (anonymous, a
// civilian's token) makes the server store and log, an upload begun, a
// share code, a share, against their address; past WriteLimit in 10
// minutes it answers 429 and reports false. Devices and staff act under
// a credential an admin issued and are not counted.
func (s *server) mayWrite(w http.ResponseWriter, r *http.Request, c caller) bool {
	if c.Kind == access.Staff || c.Kind == access.Device {
		return true
	}
	addr := s.clientAddr(r)
	if s.writes.blocked(r.Context(), addr) {
		w.Header().Set("Tus-Resumable", "1.0.0")
		s.tooMany(w, r, "too much from your address; wait and try again")
		return false
	}
	s.writes.failed(r.Context(), addr)
	return true
}

// failedTooOften is the answer to an address past FailureLimit.
const failedTooOften = "too many failed attempts from your address; wait and try again"

// tooMany answers 429: a limit counted over the 10 minutes that follow.
func (s *server) tooMany(w http.ResponseWriter, r *http.Request, msg string) {
	w.Header().Set("Retry-After", "600")
	s.problem(w, r, http.StatusTooManyRequests, msg)
}

// facts gathers what the table needs to know about it.
func (s *server) facts(ctx context.Context, it evidence.Item) (*access.Facts, error) {
	f := &access.Facts{Item: it, OnCase: func(userID string) bool {
		ok, err := s.Facts.OnCase(ctx, it.ID, userID)
		if err != nil {
			s.Logger.Error("deciding access: incidents of an item", "evidence", it.ID, "err", err)
		}
		return ok
	}}
	var err error
	if f.Involved, err = s.Facts.Involved(ctx, it.ID); err == nil {
		f.SharedWith, err = s.Facts.SharedWith(ctx, it.ID)
	}
	return f, err
}

// decisionEvent is what the log says of a decision, by the caller: the
// action, the caller's role and how they acted, the rule that decided and
// the outcome; the reason given is its words, kept out of the public log.
// The caller sets its type.
func decisionEvent(c caller, action access.Action, d access.Decision, reason string) evidence.Event {
	e := evidence.Event{Actor: c.Actor(), Details: map[string]string{"action": string(action), "role": c.Role(), "via": c.Via(), "rule": d.Rule, "outcome": "allowed"},
		Words: map[string]string{}}
	if !d.Allowed {
		e.Details["outcome"] = "denied"
	}
	if reason != "" {
		e.Words["reason"] = reason
	}
	return e
}

// Tally keeps the counts the limits go by, in the database every server
// on it shares (db.TallyStore): a limit holds whichever server a request
// reaches, and a restart forgets nothing.
type Tally interface {
	// Count is how many times key was counted under rule since since.
	Count(ctx context.Context, rule, key string, since time.Time) (int, error)
	// Add counts key once more under rule at at, and forgets every count
	// from before forget.
	Add(ctx context.Context, rule, key string, at, forget time.Time) error
}

// limitWindow is how long every limit counts an act.
const limitWindow = 10 * time.Minute

// limiter counts acts (failures, anonymous writes) per key (a client
// address, a staff id) over limitWindow and blocks a key counted max
// times. Two servers counting one key at the same instant may each let
// one more through: a limit is a bound on a rate, not a lock.
type limiter struct {
	rule string // names the limit in the tally and the refusals metric
	max  int
	s    *server
}

func (s *server) newLimiter(rule string, max int) *limiter {
	return &limiter{rule: rule, max: max, s: s}
}

// clientAddr is the address a request comes from: the peer, or, when the
// peer is a trusted proxy (--trusted-proxy), the nearest address in
// X-Forwarded-For that is not one. Off by default: a client could
// otherwise name any address and escape its limits.
func (s *server) clientAddr(r *http.Request) string {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	addr := peer.Addr().Unmap()
	if !s.trusted(addr) {
		return addr.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a malformed hop: trust nothing before it
		}
		addr = hop.Unmap()
		if !s.trusted(addr) {
			break
		}
	}
	return addr.String()
}

func (s *server) trusted(a netip.Addr) bool {
	for _, p := range s.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// blocked reports whether key has been counted too often, and counts
// the refusal in the metrics if so. If the count cannot be read, it is
// blocked: a limit fails closed.
func (l *limiter) blocked(ctx context.Context, key string) bool {
	n, err := l.s.Tally.Count(ctx, l.rule, key, l.s.Now().Add(-limitWindow))
	if err != nil {
		l.s.Logger.Error("reading a limit's count", "rule", l.rule, "err", err)
	}
	if err != nil || n >= l.max {
		l.s.Metrics.refused(l.rule)
		return true
	}
	return false
}

// failed counts key once more.
func (l *limiter) failed(ctx context.Context, key string) {
	now := l.s.Now()
	if err := l.s.Tally.Add(context.WithoutCancel(ctx), l.rule, key, now, now.Add(-limitWindow)); err != nil {
		l.s.Logger.Error("counting against a limit", "rule", l.rule, "err", err)
	}
}

// toSignIn sends a browser to sign in, and then back to the page it asked
// for (a form's POST comes back to the page the form is on, if it says).
func (s *server) toSignIn(w http.ResponseWriter, r *http.Request) {
	back := r.URL.RequestURI()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		back = localPath(r.Header.Get("Referer"))
	}
	target := "/signin"
	if back != "" && back != "/signin" {
		target += "?next=" + url.QueryEscape(back)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}
