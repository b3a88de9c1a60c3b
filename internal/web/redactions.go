package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sightline/sightline/internal/access"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/media"
	"github.com/sightline/sightline/internal/redact"
	"github.com/sightline/sightline/verify"
)

// Redactions: the API the editor (/staff/redact/{id}) uses. Every route
// is decided on the item redacted: opening and working a redaction is
// "redact", approving or sending it back "approve-redaction", releasing
// it "release-redaction". A step is logged as a "redaction" event with
// the decision's details; a step the redaction's state refuses
// (approving one's own, rendering one not approved, releasing one not
// rendered) is logged as "denied" and changes nothing.

// maxRedactionBody bounds a redaction's edit: a minute of hand-drawn
// keyframes on every frame is about 2 MiB.
const maxRedactionBody = 8 << 20

func (s *server) redactionRoutes(mux *http.ServeMux) {
	h := func(f http.HandlerFunc) http.Handler { return f }
	s.handle(mux, "POST /api/v1/evidence/{id}/redactions", access.Redact, h(s.openRedaction))
	s.handle(mux, "GET /api/v1/evidence/{id}/redactions", access.Redact, h(s.itemRedactions))
	s.handle(mux, "GET /api/v1/redaction-bases", access.StaffHome, h(s.redactionBases))
	s.handle(mux, "GET /api/v1/redactions/{rid}", access.Redact, h(s.readRedaction))
	s.handleBody(mux, "PATCH /api/v1/redactions/{rid}", access.Redact, maxRedactionBody, h(s.editRedaction))
	s.handle(mux, "POST /api/v1/redactions/{rid}/submit", access.Redact, s.redactionStep(access.Redact, (*redact.Service).Submit))
	s.handle(mux, "POST /api/v1/redactions/{rid}/render", access.Redact, s.redactionStep(access.Redact, (*redact.Service).Render))
	s.handle(mux, "POST /api/v1/redactions/{rid}/approve", access.ApproveRedaction, s.redactionStep(access.ApproveRedaction, (*redact.Service).Approve))
	s.handle(mux, "POST /api/v1/redactions/{rid}/return", access.ApproveRedaction, h(s.returnRedaction))
	s.handle(mux, "POST /api/v1/redactions/{rid}/release", access.ReleaseRedaction, s.redactionStep(access.ReleaseRedaction, (*redact.Service).Release))
	s.handle(mux, "GET /api/v1/redactions/{rid}/manifest", access.Redact, h(s.redactionManifest))
	s.handle(mux, "GET /api/v1/redactions/{rid}/video", access.Redact, h(s.redactionVideo))
	s.handle(mux, "GET /api/v1/redactions/{rid}/receipt", access.Redact, h(s.redactionReceipt))
	s.handle(mux, "GET /api/v1/redactions/{rid}/tracks/{track}", access.Redact, h(s.redactionThumb))
	s.handle(mux, "GET /staff/redact/{id}", access.Redact, h(s.redactPage))
}

// failRedaction maps the redaction service's errors.
func (s *server) failRedaction(w http.ResponseWriter, r *http.Request, err error) {
	trim := func(sentinel error) string { return strings.TrimPrefix(err.Error(), sentinel.Error()+": ") }
	switch {
	case errors.Is(err, redact.ErrNotFound):
		s.problem(w, r, http.StatusNotFound, "not found")
	case errors.Is(err, redact.ErrInvalid):
		s.problem(w, r, http.StatusBadRequest, trim(redact.ErrInvalid))
	case errors.Is(err, redact.ErrOwn):
		s.problem(w, r, http.StatusForbidden, "you wrote this redaction: someone else must approve it")
	case errors.Is(err, redact.ErrStep):
		s.problem(w, r, http.StatusConflict, trim(redact.ErrStep))
	case errors.Is(err, redact.ErrConflict):
		s.problem(w, r, http.StatusConflict, "the redaction changed meanwhile: load it again")
	default:
		s.fail(w, r, err)
	}
}

// redactionItem loads the redaction named in the path and decides action
// on its item (logging the decision as decideItem does).
func (s *server) redactionItem(w http.ResponseWriter, r *http.Request, action access.Action, logAs evidence.EventType) (redact.Redaction, evidence.Item, caller, evidence.Event, bool) {
	rd, err := s.Redactions.Get(r.Context(), r.PathValue("rid"))
	if err != nil {
		c := callerOf(r)
		if errors.Is(err, redact.ErrNotFound) {
			s.failedAttempt(r, c)
		}
		s.failRedaction(w, r, err)
		return rd, evidence.Item{}, c, evidence.Event{}, false
	}
	it, c, ev, ok := s.decideItemID(w, r, rd.Evidence, action, logAs)
	return rd, it, c, ev, ok
}

// stepActor is who takes a step, with the decision that let them.
func stepActor(c caller, ev evidence.Event) redact.Actor {
	return redact.Actor{ID: c.Actor(), Role: c.Role(), Details: ev.Details, Words: ev.Words}
}

// refusedStep logs a step the redaction's state refused, as "denied"
// with why (a fixed rule, never the caller's words), and answers it.
func (s *server) refusedStep(w http.ResponseWriter, r *http.Request, it evidence.Item, c caller, action access.Action, ev evidence.Event, err error) {
	if errors.Is(err, redact.ErrOwn) || errors.Is(err, redact.ErrStep) {
		rule := "the redaction is not at this step"
		if errors.Is(err, redact.ErrOwn) {
			rule = "its author may not approve it"
		}
		e := decisionEvent(c, action, access.Decision{Allowed: false, Rule: rule}, ev.Words["reason"])
		e.Type = evidence.Denied
		e.Details["redaction"] = r.PathValue("rid")
		if lerr := s.recordAbout(r.Context(), it, e); lerr != nil {
			s.fail(w, r, lerr)
			return
		}
	}
	s.failRedaction(w, r, err)
}

// openRedaction answers POST /api/v1/evidence/{id}/redactions?reason=…
// with {"auto": ["faces"], "effect": "fill", "basis": "privacy"}: 201 and
// the new redaction's id; detection runs as a job.
func (s *server) openRedaction(w http.ResponseWriter, r *http.Request) {
	it, c, ev, ok := s.decideItem(w, r, access.Redact, "")
	if !ok {
		return
	}
	var in redact.Open
	if err := decode(r, &in); err != nil {
		s.problem(w, r, http.StatusBadRequest, `send {"auto": ["faces"], "effect": "fill", "basis": "…"}`)
		return
	}
	rd, err := s.Redactions.Open(r.Context(), it, stepActor(c, ev), in)
	if err != nil {
		s.failRedaction(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": rd.ID, "status": string(rd.Status)})
}

// itemRedactions answers GET /api/v1/evidence/{id}/redactions.
func (s *server) itemRedactions(w http.ResponseWriter, r *http.Request) {
	it, c, _, ok := s.decideItem(w, r, access.Redact, evidence.Viewed)
	if !ok {
		return
	}
	all, err := s.Redactions.ForEvidence(r.Context(), it.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := []redactionView{}
	for _, rd := range all {
		v := viewRedaction(rd, c)
		v.Tracks, v.Changes = []trackView{}, []verify.Change{} // a list, not the record
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, out)
}

// redactionBases answers GET /api/v1/redaction-bases: the legal bases a
// change may give.
func (s *server) redactionBases(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Redactions.Bases())
}

// redactionView is a redaction as the API shows it.
type redactionView struct {
	ID          string                  `json:"id"`
	Evidence    string                  `json:"evidence"`
	Status      redact.Status           `json:"status"`
	Author      string                  `json:"author"`
	Approver    string                  `json:"approver,omitempty"`
	Mine        bool                    `json:"mine"`
	Created     time.Time               `json:"created_at"`
	Updated     time.Time               `json:"updated_at"`
	Original    verify.ManifestOriginal `json:"original"`
	Auto        []string                `json:"auto"`
	Effect      string                  `json:"effect"`
	Basis       string                  `json:"basis"`
	Detection   redact.Detection        `json:"detection,omitempty"`
	DetectError string                  `json:"detect_error,omitempty"`
	Tracks      []trackView             `json:"tracks"`
	Changes     []verify.Change         `json:"changes"`
	Comment     string                  `json:"comment,omitempty"`
	Rendering   bool                    `json:"rendering,omitempty"`
	RenderError string                  `json:"render_error,omitempty"`
	Manifest    string                  `json:"manifest_sha256,omitempty"`
	Output      *verify.ManifestFile    `json:"output,omitempty"`
	LogIndex    *uint64                 `json:"log_index,omitempty"`
}

type trackView struct {
	redact.Track
	Keep   bool   `json:"keep"`
	Reason string `json:"reason"`
}

func viewRedaction(rd redact.Redaction, c caller) redactionView {
	v := redactionView{ID: rd.ID, Evidence: rd.Evidence, Status: rd.Status, Author: rd.Author, Approver: rd.Approver,
		Mine: rd.Author == c.Actor(), Created: rd.Created, Updated: rd.Updated, Original: rd.Original, Auto: rd.Auto,
		Effect: rd.Effect, Basis: rd.Reason, Detection: rd.Detection, DetectError: rd.DetectError, Changes: rd.Changes,
		Comment: rd.Comment, Rendering: rd.Rendering, RenderError: rd.RenderError, Tracks: []trackView{}}
	if v.Changes == nil {
		v.Changes = []verify.Change{}
	}
	for _, t := range rd.Tracks {
		choice := rd.Choices[t.ID]
		reason := rd.Reason
		if choice.Reason != "" {
			reason = choice.Reason
		}
		v.Tracks = append(v.Tracks, trackView{Track: t, Keep: !choice.Drop, Reason: reason})
	}
	if m, err := verify.ParseManifest(rd.Manifest); err == nil && rd.Manifest != nil {
		v.Manifest, v.Output = m.SHA256(), m.Output
	}
	if rd.Logged {
		v.LogIndex = &rd.LogIndex
	}
	return v
}

// readRedaction answers GET /api/v1/redactions/{rid}.
func (s *server) readRedaction(w http.ResponseWriter, r *http.Request) {
	rd, _, c, _, ok := s.redactionItem(w, r, access.Redact, evidence.Viewed)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, viewRedaction(rd, c))
}

// editRedaction answers PATCH /api/v1/redactions/{rid} with
// {"changes": [...], "tracks": [{"id", "keep", "reason"}]}.
func (s *server) editRedaction(w http.ResponseWriter, r *http.Request) {
	_, it, c, ev, ok := s.redactionItem(w, r, access.Redact, "")
	if !ok {
		return
	}
	var p redact.Patch
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		s.problem(w, r, http.StatusBadRequest, `send {"changes": [...], "tracks": [...]}: `+err.Error())
		return
	}
	rd, err := s.Redactions.Edit(r.Context(), r.PathValue("rid"), stepActor(c, ev), p)
	if err != nil {
		s.refusedStep(w, r, it, c, access.Redact, ev, err)
		return
	}
	writeJSON(w, http.StatusOK, viewRedaction(rd, c))
}

// redactionStep answers a step that takes no body (submit, approve,
// render, release).
func (s *server) redactionStep(action access.Action, step func(*redact.Service, context.Context, string, redact.Actor) (redact.Redaction, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, it, c, ev, ok := s.redactionItem(w, r, action, "")
		if !ok {
			return
		}
		rd, err := step(s.Redactions, r.Context(), r.PathValue("rid"), stepActor(c, ev))
		if err != nil {
			s.refusedStep(w, r, it, c, action, ev, err)
			return
		}
		status := http.StatusOK
		if rd.Rendering {
			status = http.StatusAccepted
		}
		writeJSON(w, status, viewRedaction(rd, c))
	})
}

// returnRedaction answers POST /api/v1/redactions/{rid}/return with
// {"comment": "…"}: back to draft.
func (s *server) returnRedaction(w http.ResponseWriter, r *http.Request) {
	_, it, c, ev, ok := s.redactionItem(w, r, access.ApproveRedaction, "")
	if !ok {
		return
	}
	var in struct {
		Comment string `json:"comment"`
	}
	if err := decode(r, &in); err != nil {
		s.problem(w, r, http.StatusBadRequest, `send {"comment": "…"}`)
		return
	}
	rd, err := s.Redactions.Return(r.Context(), r.PathValue("rid"), stepActor(c, ev), strings.TrimSpace(in.Comment))
	if err != nil {
		s.refusedStep(w, r, it, c, access.ApproveRedaction, ev, err)
		return
	}
	writeJSON(w, http.StatusOK, viewRedaction(rd, c))
}

// rendered loads a rendered redaction for its manifest or video.
func (s *server) rendered(w http.ResponseWriter, r *http.Request) (redact.Redaction, verify.Manifest, bool) {
	rd, _, _, _, ok := s.redactionItem(w, r, access.Redact, evidence.Viewed)
	if !ok {
		return rd, verify.Manifest{}, false
	}
	if rd.Status != redact.Rendered && rd.Status != redact.Released {
		s.problem(w, r, http.StatusConflict, "the redaction is not rendered")
		return rd, verify.Manifest{}, false
	}
	m, err := verify.ParseManifest(rd.Manifest)
	if err != nil {
		s.fail(w, r, err)
		return rd, m, false
	}
	return rd, m, true
}

// redactionManifest answers GET /api/v1/redactions/{rid}/manifest: the
// manifest, byte for byte as logged.
func (s *server) redactionManifest(w http.ResponseWriter, r *http.Request) {
	rd, m, ok := s.rendered(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="`+rd.ID+`.manifest.json"`)
	w.Header().Set("Sightline-Manifest-SHA256", m.SHA256())
	w.Write(rd.Manifest)
}

// redactionReceipt answers GET /api/v1/redactions/{rid}/receipt: the
// receipt of its "redacted" event (about the original; the entry names
// the manifest's and the output's SHA-256), for `sightline
// verify-redaction`.
func (s *server) redactionReceipt(w http.ResponseWriter, r *http.Request) {
	rd, _, ok := s.rendered(w, r)
	if !ok {
		return
	}
	it, err := s.Evidence.Get(r.Context(), rd.Evidence)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !rd.Logged {
		s.problem(w, r, http.StatusConflict, "the redaction is not logged yet")
		return
	}
	rc, err := s.Log.Receipt(r.Context(), rd.LogIndex, it.SHA256.String(), it.Size)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rc)
}

// redactionVideo answers GET /api/v1/redactions/{rid}/video: the output,
// with ranges.
func (s *server) redactionVideo(w http.ResponseWriter, r *http.Request) {
	rd, m, ok := s.rendered(w, r)
	if !ok {
		return
	}
	s.serveBlob(w, r, m.Output.SHA256, time.Time{}, func(h http.Header) {
		h.Set("Content-Type", m.Output.MediaType)
		h.Set("ETag", `"`+m.Output.SHA256+`"`)
		h.Set("Content-Disposition", `inline; filename="`+rd.ID+`.mp4"`)
	})
}

// redactionThumb answers GET /api/v1/redactions/{rid}/tracks/{track}: the
// track's picture.
func (s *server) redactionThumb(w http.ResponseWriter, r *http.Request) {
	rd, _, _, _, ok := s.redactionItem(w, r, access.Redact, evidence.Viewed)
	if !ok {
		return
	}
	n, err := strconv.Atoi(r.PathValue("track"))
	if err != nil {
		s.problem(w, r, http.StatusNotFound, "not found")
		return
	}
	b, err := s.Redactions.Thumb(r.Context(), rd.ID, n)
	if err != nil {
		s.failRedaction(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Cache-Control", "private, max-age=3600")
	w.Write(b)
}

// redactPage answers GET /staff/redact/{id}?reason=…[&redaction=…]: the
// editor. Without a redaction it lists the item's redactions and starts
// one; with one it shows the video with its tracks and boxes drawn over
// it.
func (s *server) redactPage(w http.ResponseWriter, r *http.Request) {
	c := callerOf(r)
	reason := strings.TrimSpace(r.URL.Query().Get("reason"))
	if reason == "" {
		if it, err := s.Evidence.Get(r.Context(), r.PathValue("id")); err == nil && it.Uploader.Token == "" && c.Kind == access.Staff {
			f, err := s.facts(r.Context(), it)
			if err == nil && access.Decide(c.Principal, access.Redact, f).Allowed {
				s.render(w, http.StatusOK, "reason.html", struct {
					evidence.Item
					Action string
				}{it, "/staff/redact/" + it.ID})
				return
			}
		}
	}
	it, c, _, ok := s.decideItem(w, r, access.Redact, evidence.Viewed)
	if !ok {
		return
	}
	if it.MediaType != media.Video {
		s.problem(w, r, http.StatusBadRequest, "only a video can be redacted here")
		return
	}
	csrf := ""
	if c.session != nil {
		csrf = c.session.CSRF
	}
	s.render(w, http.StatusOK, "redact.html", struct {
		Item                    evidence.Item
		Reason, CSRF, Redaction string
		Bases                   []redact.Basis
		MayRelease              bool
	}{it, reason, csrf, r.URL.Query().Get("redaction"), s.Redactions.Bases(), s.mayItem(r, c, access.ReleaseRedaction, it)})
}

// mayItem says whether the table lets c do action on it (without logging:
// for what a page offers).
func (s *server) mayItem(r *http.Request, c caller, action access.Action, it evidence.Item) bool {
	f, err := s.facts(r.Context(), it)
	return err == nil && access.Decide(c.Principal, action, f).Allowed
}
