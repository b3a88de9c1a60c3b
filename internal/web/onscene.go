package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/sightline/sightline/internal/access"
	"github.com/sightline/sightline/internal/cases"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/review"
)

// The on-scene review, over HTTP (package review has the rules):
//
//	POST /api/v1/evidence/{id}/share-codes        the civilian asks for a code
//	GET  /c/{code}                                 the code's QR link: sign in, then the code form
//	GET  /staff/code, POST /staff/code             a supervisor enters a code
//	POST /api/v1/share-codes/claim                 the same, for scripts
//	GET  /staff/review/{id}                        watch, attach body camera footage, write the review
//	POST /staff/review/{id}                        submit it (the page's form)
//	POST /api/v1/evidence/{id}/reviews             submit it (JSON)
//	GET  /api/v1/evidence/{id}/reviews             an item's reviews
//	GET  /api/v1/evidence/{id}/reviews/{review}/receipt   a review's document and receipt
//	PUT|PATCH|DELETE /api/v1/evidence/{id}/reviews/{review}  refused and logged
//	GET  /e/{id}                                   the civilian's evidence page

// onSceneReason is the reason logged with a supervisor's reads of footage
// a civilian showed them with a code.
const onSceneReason = "on-scene review"

// codeGuesses is how many wrong codes one supervisor may enter in 10
// minutes before being refused (429) for the rest of that time.
const codeGuesses = 5

// issueCode answers POST /api/v1/evidence/{id}/share-codes: a code the
// civilian reads out, a link holding it and its QR code, and its expiry.
func (s *server) issueCode(w http.ResponseWriter, r *http.Request) {
	it, c, ev, ok := s.decideItem(w, r, access.ShareItem, evidence.Shared)
	if !ok || !s.mayWrite(w, r, c) {
		return
	}
	code, expires, err := s.Reviews.IssueCode(r.Context(), it.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ev.Type = evidence.Shared
	ev.Details["via"], ev.Details["expires_at"] = "share code", expires.Format(time.RFC3339)
	if err := s.recordAbout(r.Context(), it, ev); err != nil {
		s.fail(w, r, err)
		return
	}
	digits, _ := review.NormalizeCode(code)
	link := s.origin(r) + "/c/" + digits
	img, err := qrImage(link)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, struct {
		Code      string    `json:"code"`
		Link      string    `json:"link"`
		QR        string    `json:"qr"` // a data: URL of a PNG
		ExpiresAt time.Time `json:"expires_at"`
	}{code, link, string(img), expires})
}

// origin is where links to this server point: the configured public URL
// (behind a load balancer, the balancer's), else the scheme and host the
// request came to.
func (s *server) origin(r *http.Request) string {
	if s.PublicURL != "" {
		return s.PublicURL
	}
	if secure(r) {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

// codeLink answers GET /c/{code}, the QR code's link: staff signed in get
// the code form filled in (claiming is a POST); others sign in first.
func (s *server) codeLink(w http.ResponseWriter, r *http.Request) {
	c := callerOf(r)
	target := "/staff/code?code=" + url.QueryEscape(r.PathValue("code"))
	if c.Kind != access.Staff {
		http.Redirect(w, r, "/signin?next="+url.QueryEscape(target), http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

type codePage struct {
	Code, CSRF, Error string
}

// codeForm answers GET /staff/code: a form for the code a civilian reads.
func (s *server) codeForm(w http.ResponseWriter, r *http.Request) {
	c := callerOf(r)
	if c.session == nil {
		s.problem(w, r, http.StatusBadRequest, "scripts use POST /api/v1/share-codes/claim")
		return
	}
	s.render(w, http.StatusOK, "code.html", codePage{Code: r.URL.Query().Get("code"), CSRF: c.session.CSRF})
}

// claimCodeForm answers POST /staff/code: the supervisor opens the item,
// or learns why not.
func (s *server) claimCodeForm(w http.ResponseWriter, r *http.Request) {
	c := callerOf(r)
	page := codePage{Code: r.PostFormValue("code")}
	if c.session != nil {
		page.CSRF = c.session.CSRF
	}
	id, status, msg := s.claim(r, c, page.Code)
	if status != http.StatusOK {
		page.Error = msg
		s.render(w, status, "code.html", page)
		return
	}
	http.Redirect(w, r, "/staff/review/"+url.PathEscape(id), http.StatusSeeOther)
}

// claimCodeAPI answers POST /api/v1/share-codes/claim {"code": "…"}.
func (s *server) claimCodeAPI(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Code string `json:"code"`
	}
	if err := decode(r, &in); err != nil {
		s.problem(w, r, http.StatusBadRequest, "send {\"code\": \"123 456 789\"}")
		return
	}
	id, status, msg := s.claim(r, callerOf(r), in.Code)
	if status != http.StatusOK {
		s.problem(w, r, status, msg)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Evidence string `json:"evidence"`
		Review   string `json:"review_page"`
	}{id, "/staff/review/" + id})
}

// claim lets the calling supervisor see the item of code, and logs the
// attempt: about the item when the code names one (the civilian sees a
// refused or accepted opening), else as a refusal about no item. Wrong
// codes count against the supervisor; past codeGuesses in 10 minutes
// every code is refused with 429.
func (s *server) claim(r *http.Request, c caller, code string) (string, int, string) {
	ctx := r.Context()
	if s.codeGuesses.blocked(ctx, c.User.ID) {
		return "", http.StatusTooManyRequests, "Too many wrong codes; wait a few minutes."
	}
	id, err := s.Reviews.ClaimCode(ctx, code, c.User.ID)
	details := map[string]string{"action": string(access.ClaimCode), "role": c.Role(), "via": c.Via()}
	deny := func(rule string, status int, msg string) (string, int, string) {
		details["outcome"], details["rule"] = "denied", rule
		e := evidence.Event{Type: evidence.Denied, Actor: c.Actor(), At: evidence.EventTime(time.Now()), Details: details}
		if id != "" {
			if it, gerr := s.Evidence.Get(ctx, id); gerr == nil {
				e.Evidence = &evidence.EventSubject{ID: it.ID, SHA256: it.SHA256}
			}
		}
		if _, lerr := s.record(ctx, e); lerr != nil {
			s.Logger.Error("logging a refused share code", "err", lerr)
			return "", http.StatusInternalServerError, "internal error"
		}
		return "", status, msg
	}
	switch {
	case errors.Is(err, review.ErrNoCode):
		s.codeGuesses.failed(ctx, c.User.ID)
		return deny("no such code", http.StatusNotFound, "No footage has this code. Check it with the person showing it.")
	case errors.Is(err, review.ErrExpired):
		return deny("code expired", http.StatusGone, "This code has expired. Ask for a new one.")
	case errors.Is(err, review.ErrClaimed):
		return deny("code used by another supervisor", http.StatusConflict, "Another supervisor has used this code. Ask for a new one.")
	case err != nil:
		s.Logger.Error("claiming a share code", "err", err)
		return "", http.StatusInternalServerError, "internal error"
	}
	it, err := s.Evidence.Get(ctx, id)
	if err == nil {
		err = s.Facts.AddShare(ctx, id, c.User.ID, time.Now())
	}
	if err == nil {
		details["outcome"], details["rule"] = "allowed", "holds the civilian's code"
		details["with"], details["with_role"] = c.Actor(), c.Role()
		err = s.recordAbout(ctx, it, evidence.Event{Type: evidence.Shared, Actor: c.Actor(), Details: details})
	}
	if err != nil {
		s.Logger.Error("claiming a share code", "err", err)
		return "", http.StatusInternalServerError, "internal error"
	}
	return id, http.StatusOK, ""
}

// reviewPage answers GET /staff/review/{id}: the footage, streamed from
// the server, the body camera footage the supervisor may attach, the
// item's earlier reviews, and the review form.
func (s *server) reviewPage(w http.ResponseWriter, r *http.Request) {
	s.renderReview(w, r, http.StatusOK, "")
}

func (s *server) renderReview(w http.ResponseWriter, r *http.Request, status int, problem string) {
	r = withReason(r, onSceneReason)
	it, c, ok := s.item(w, r, access.ReviewItem, "")
	if !ok {
		return
	}
	if c.session == nil {
		s.problem(w, r, http.StatusBadRequest, "scripts use POST /api/v1/evidence/{id}/reviews")
		return
	}
	nearby, err := s.cameraFootageNear(r.Context(), c, it)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	earlier, err := s.Reviews.ForEvidence(r.Context(), it.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, status, "review.html", struct {
		Item     evidence.Item
		Src      string
		Nearby   []evidence.Item
		Earlier  []review.Record
		Outcomes []review.Outcome
		CSRF     string
		Problem  string
	}{it, "/api/v1/evidence/" + url.PathEscape(it.ID) + "/review?reason=" + url.QueryEscape(onSceneReason),
		nearby, earlier, review.Outcomes, c.session.CSRF, problem})
}

// withReason gives a request the reason its page logs, unless it has one.
func withReason(r *http.Request, reason string) *http.Request {
	if r.URL.Query().Get("reason") != "" {
		return r
	}
	u := *r.URL
	q := u.Query()
	q.Set("reason", reason)
	u.RawQuery = q.Encode()
	r2 := r.Clone(r.Context())
	r2.URL = &u
	return r2
}

// cameraFootageNear lists the police camera footage (body, dash) the
// caller may read that was recorded within an hour of it: what a
// supervisor on the scene attaches.
func (s *server) cameraFootageNear(ctx context.Context, c caller, it evidence.Item) ([]evidence.Item, error) {
	all, err := s.visible(ctx, c.Principal)
	if err != nil {
		return nil, err
	}
	from, to := span(it)
	var out []evidence.Item
	for _, o := range all {
		if o.ID == it.ID || (o.Source != evidence.Bodycam && o.Source != evidence.Dashcam) {
			continue
		}
		f, t := span(o)
		if f.Before(to.Add(time.Hour)) && t.After(from.Add(-time.Hour)) {
			out = append(out, o)
		}
	}
	return out, nil
}

// span is when an item was recorded, as well as it is known: from its
// capture time (else its arrival) for its duration.
func span(it evidence.Item) (time.Time, time.Time) {
	from := it.ReceivedAt
	if it.CapturedAt != nil {
		from = *it.CapturedAt
	}
	d := 0.0
	if it.DurationS != nil {
		d = *it.DurationS
	}
	return from, from.Add(time.Duration(d * float64(time.Second)))
}

// submitReviewForm answers POST /staff/review/{id}, the page's form.
func (s *server) submitReviewForm(w http.ResponseWriter, r *http.Request) {
	in := review.Input{Seen: r.PostFormValue("seen"), Outcome: review.Outcome(r.PostFormValue("outcome")),
		Notes: r.PostFormValue("notes"), Attached: r.PostForm["attached"], Corrects: r.PostFormValue("corrects")}
	r = withReason(r, onSceneReason)
	rec, status, msg := s.submit(w, r, in)
	switch {
	case status == 0:
		return // answered
	case status != http.StatusCreated:
		s.renderReview(w, r, status, msg)
		return
	}
	s.render(w, http.StatusOK, "reviewed.html", struct {
		Record  review.Record
		Receipt string
	}{rec, "/api/v1/evidence/" + url.PathEscape(rec.Evidence) + "/reviews/" + url.PathEscape(rec.ID) + "/receipt"})
}

// submitReviewAPI answers POST /api/v1/evidence/{id}/reviews.
func (s *server) submitReviewAPI(w http.ResponseWriter, r *http.Request) {
	var in review.Input
	if err := decode(r, &in); err != nil {
		s.problem(w, r, http.StatusBadRequest, `send {"seen": "…", "outcome": "no action|released|detained|referred for internal review", "notes": "…", "attached": ["<evidence id>"], "corrects": "<review id>"}`)
		return
	}
	rec, status, msg := s.submit(w, r, in)
	switch {
	case status == 0:
		return
	case status != http.StatusCreated:
		s.problem(w, r, status, msg)
		return
	}
	writeJSON(w, http.StatusCreated, rec)
}

// submit decides, checks, stores and logs a review, and opens an
// incident for a referral. A status of 0 means it has answered; else it
// returns the status and, for a refusal, why.
func (s *server) submit(w http.ResponseWriter, r *http.Request, in review.Input) (review.Record, int, string) {
	it, c, ok := s.item(w, r, access.ReviewItem, evidence.Accessed)
	if !ok {
		return review.Record{}, 0, ""
	}
	ctx := r.Context()
	if err := in.Check(); err != nil {
		return review.Record{}, http.StatusBadRequest, strings.TrimPrefix(err.Error(), review.ErrInvalid.Error()+": ")
	}
	in.Attached = slices.Compact(slices.Sorted(slices.Values(in.Attached)))
	var attached []evidence.Item
	for _, id := range in.Attached {
		o, err := s.Evidence.Get(ctx, id)
		if err == nil && id != it.ID {
			var ok bool
			if ok, err = s.mayBringIn(ctx, c, o); err == nil && ok {
				attached = append(attached, o)
				continue
			}
		}
		if err != nil && !errors.Is(err, evidence.ErrNotFound) {
			s.fail(w, r, err)
			return review.Record{}, 0, ""
		}
		return review.Record{}, http.StatusBadRequest, "attached: no item " + id + " you may see"
	}
	rec, err := s.Reviews.Submit(ctx, it, review.Author{Actor: c.Actor(), Name: c.User.Name, Badge: c.User.Badge, Unit: c.User.Unit}, in)
	if errors.Is(err, review.ErrInvalid) {
		return review.Record{}, http.StatusBadRequest, strings.TrimPrefix(err.Error(), review.ErrInvalid.Error()+": ")
	}
	if err != nil {
		s.fail(w, r, err)
		return review.Record{}, 0, ""
	}
	if rec.Outcome == review.Referred {
		if rec.Incident, err = s.refer(ctx, c, rec, append([]evidence.Item{it}, attached...)); err != nil {
			s.fail(w, r, err)
			return review.Record{}, 0, ""
		}
	}
	return rec, http.StatusCreated, ""
}

// refer opens an incident with the reviewed clip and those attached to
// it, assigned to the supervisor, records it with the review, and opens a
// case (an internal review, in the supervisor's unit) that holds it.
func (s *server) refer(ctx context.Context, c caller, rec review.Record, clips []evidence.Item) (string, error) {
	title := "Referred from an on-scene review, " + rec.At[:10] + " (" + rec.ID + ")"
	inc, err := s.Incidents.Create(ctx, c.actor(), title)
	if err != nil {
		return "", err
	}
	for _, it := range clips {
		if err := s.Incidents.AddClip(ctx, c.actor(), inc.ID, it); err != nil {
			return "", err
		}
	}
	if err := s.Reviews.Referred(ctx, rec.ID, inc.ID); err != nil {
		return "", err
	}
	_, err = s.Cases.Open(ctx, c.caseActor(), cases.FromReferral, []string{inc.ID})
	return inc.ID, err
}

// reviews answers GET /api/v1/evidence/{id}/reviews: the item's reviews,
// oldest first, each with its document and where the log holds it.
func (s *server) reviews(w http.ResponseWriter, r *http.Request) {
	it, _, ok := s.item(w, r, access.ReadItem, "")
	if !ok {
		return
	}
	recs, err := s.Reviews.ForEvidence(r.Context(), it.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if recs == nil {
		recs = []review.Record{}
	}
	writeJSON(w, http.StatusOK, struct {
		Evidence string          `json:"evidence"`
		Reviews  []review.Record `json:"reviews"`
	}{it.ID, recs})
}

// reviewReceipt answers GET /api/v1/evidence/{id}/reviews/{review}/receipt:
// the review's document and the receipt of its "reviewed" event. The
// event names the SHA-256 of the document: whoever holds both can show,
// offline, what the supervisor wrote and that it was logged then.
func (s *server) reviewReceipt(w http.ResponseWriter, r *http.Request) {
	it, _, ok := s.item(w, r, access.ReadReceipt, "")
	if !ok {
		return
	}
	rec, err := s.Reviews.Get(r.Context(), r.PathValue("review"))
	if err == nil && (rec.Evidence != it.ID || rec.LogIndex == nil) {
		err = evidence.ErrNotFound
	}
	if errors.Is(err, review.ErrNotFound) {
		err = evidence.ErrNotFound
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rc, err := s.Log.Receipt(r.Context(), *rec.LogIndex, it.SHA256.String(), it.Size)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Format   string `json:"format"`
		Document string `json:"document"`
		Receipt  any    `json:"receipt"`
	}{"sightline-review-receipt-v1", rec.Document, rc})
}

// editReview answers any attempt to change or delete a submitted review:
// refused (409 for those who may read the item, else 404) and logged. The
// review must exist on the item: an attempt on nothing is a 404 and not
// logged, and the path's text never reaches the log.
func (s *server) editReview(w http.ResponseWriter, r *http.Request) {
	c := callerOf(r)
	if s.overLimit(r, c) {
		s.tooMany(w, r, failedTooOften)
		return
	}
	it, err := s.Evidence.Get(r.Context(), r.PathValue("id"))
	var rec review.Record
	if err == nil {
		rec, err = s.Reviews.Get(r.Context(), r.PathValue("review"))
	}
	if errors.Is(err, review.ErrNotFound) || err == nil && rec.Evidence != it.ID {
		err = evidence.ErrNotFound
	}
	if err != nil {
		s.failedAttempt(r, c)
		s.fail(w, r, err)
		return
	}
	f, err := s.facts(r.Context(), it)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	reader := access.Decide(c.Principal, access.ReadItem, f).Allowed
	d := access.Decide(c.Principal, access.EditReview, f)
	e := decisionEvent(c, access.EditReview, d, "")
	e.Type = evidence.Denied
	e.Details["review"], e.Details["method"] = rec.ID, r.Method
	if err := s.recordAbout(r.Context(), it, e); err != nil {
		s.fail(w, r, err)
		return
	}
	if !reader {
		s.failedAttempt(r, c)
		s.fail(w, r, evidence.ErrNotFound)
		return
	}
	s.problem(w, r, http.StatusConflict, review.ErrImmutable.Error())
}

// evidencePage answers GET /e/{id}: the civilian's page of their item.
// It is a shell: its script reads the access token from the link's
// fragment (never sent to the server) or from this phone's storage, and
// asks the API for the footage, receipt, reviews and accesses.
func (s *server) evidencePage(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "evidence.html", struct {
		ID        string
		Witnesses []string
	}{r.PathValue("id"), s.Log.Witnesses()})
}
