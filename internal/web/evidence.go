package web

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/sightline/sightline/internal/access"
	"github.com/sightline/sightline/internal/account"
	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/derive"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/jobs"
	"github.com/sightline/sightline/internal/ledger"
	"github.com/sightline/sightline/internal/media"
	"github.com/sightline/sightline/verify"
)

// uploadEvidence answers GET /api/v1/uploads/{upload}/evidence: 404 until
// the upload is evidence, then the evidence with its access token. The
// upload id, known only to the uploader, is the capability.
func (s *server) uploadEvidence(w http.ResponseWriter, r *http.Request) {
	upload := r.PathValue("upload")
	ctx, cancel := readBackContext(r)
	defer cancel()
	it, err := s.Ingest.Evidence(ctx, upload)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// Police footage (sent with a device token) follows police rules
	// only: it has no civilian's token.
	token := evidence.AccessToken(upload)
	if it.Uploader.Token != "" {
		token = ""
	}
	writeJSON(w, http.StatusOK, struct {
		evidence.Item
		AccessToken string `json:"access_token,omitempty"`
	}{it, token})
}

// uploadReceipt answers GET /api/v1/uploads/{upload}/receipt: the receipt
// of the evidence the upload became, for whoever sent it (a camera dock
// holds no token that reads its footage, but keeps its receipts).
func (s *server) uploadReceipt(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := readBackContext(r)
	defer cancel()
	it, err := s.Ingest.Evidence(ctx, r.PathValue("upload"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeReceipt(w, r.WithContext(ctx), it)
}

// readBackContext is the context of a read-back after an upload: the
// request's values, but not its end. Under load (make bench-load), a
// read-back sent on the connection its last PATCH used had its context
// ended while the client still waited for the answer, which then was a
// 500; these reads are short, and bounded here instead.
func readBackContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
}

// evidence answers GET /api/v1/evidence/{id}: the item's record, and
// where the files made from it stand ("derived": {"poster": "done",
// "review": "running", …}; a failed one says why).
func (s *server) evidence(w http.ResponseWriter, r *http.Request) {
	it, _, ok := s.item(w, r, access.ReadItem, "")
	if !ok {
		return
	}
	derived := map[string]string{}
	for _, k := range derive.Kinds {
		if !derive.Needed(it, k) {
			continue
		}
		j, ok, err := s.Jobs.Latest(r.Context(), string(k), it.ID)
		switch {
		case err != nil:
			s.fail(w, r, err)
			return
		case !ok:
			derived[string(k)] = string(jobs.Queued)
		case j.State == jobs.Failed:
			derived[string(k)] = "failed: " + j.LastError
		default:
			derived[string(k)] = string(j.State)
		}
	}
	writeJSON(w, http.StatusOK, struct {
		evidence.Item
		Derived map[string]string `json:"derived"`
	}{it, derived})
}

// receipt answers GET /api/v1/evidence/{id}/receipt: the proof, checkable
// offline, that the item's "received" event is in the custody log.
func (s *server) receipt(w http.ResponseWriter, r *http.Request) {
	it, _, ok := s.item(w, r, access.ReadReceipt, "")
	if !ok {
		return
	}
	s.writeReceipt(w, r, it)
}

// writeReceipt answers with the receipt of an item's "received" event: as
// JSON, or with ?format=tlog-proof as a C2SP tlog-proof@v1.
func (s *server) writeReceipt(w http.ResponseWriter, r *http.Request, it evidence.Item) {
	rc, err := s.Log.Receipt(r.Context(), it.ReceivedIndex, it.SHA256.String(), it.Size)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if r.URL.Query().Get("format") == "tlog-proof" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": it.ID + ".tlog-proof"}))
		w.Header().Set("Cache-Control", "no-store")
		w.Write(verify.FormatProof(rc))
		return
	}
	writeJSON(w, http.StatusOK, rc)
}

// maxReceipt bounds a receipt handed in for refreshing: a receipt grows by
// a checkpoint and a proof (about 2 KiB) each time it is refreshed.
const maxReceipt = 1 << 20

// refreshReceipt answers POST /api/v1/receipts/refresh: the receipt in the
// body, issued by this log, brought up to its latest checkpoint with
// proofs that the log extends every checkpoint the receipt was issued
// with. It needs no token: a receipt reveals nothing the public log does
// not, and whoever holds one (a lawyer, a newsroom) may refresh it.
func (s *server) refreshReceipt(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxReceipt))
	if err != nil {
		s.problem(w, r, http.StatusRequestEntityTooLarge, "a receipt must be under 1 MiB")
		return
	}
	old, err := verify.Parse(b)
	if err != nil {
		s.problem(w, r, http.StatusBadRequest, err.Error())
		return
	}
	rc, err := s.Log.Refresh(r.Context(), old)
	switch {
	case errors.Is(err, ledger.ErrNotOurs):
		s.problem(w, r, http.StatusUnprocessableEntity, err.Error())
	case errors.Is(err, ledger.ErrForked):
		s.Logger.Error("THE CUSTODY LOG IS INCONSISTENT WITH A CHECKPOINT IT SIGNED", "index", old.Index, "err", err)
		s.problem(w, r, http.StatusInternalServerError, err.Error())
	case err != nil:
		s.fail(w, r, err)
	default:
		writeJSON(w, http.StatusOK, rc)
	}
}

// custody answers GET /api/v1/evidence/{id}/custody: every logged event
// about the item, with its index in the custody log and its details (who,
// in which role, why, allowed or not), so the person who filmed sees each
// access.
func (s *server) custody(w http.ResponseWriter, r *http.Request) {
	it, _, ok := s.item(w, r, access.ReadCustody, "")
	if !ok {
		return
	}
	events, err := s.Custody.Events(r.Context(), it.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var actors []string
	for _, e := range events {
		actors = append(actors, e.Actor, e.Details["with"])
	}
	people, err := s.people(r.Context(), actors)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Evidence string                 `json:"evidence"`
		Events   []evidence.LoggedEvent `json:"events"`
		// People names the staff the events name (as actor or "with"),
		// by the actor id the log gives them.
		People map[string]person `json:"people"`
	}{it.ID, events, people})
}

// original streams the exact bytes that were received, with Range
// support. The read is logged before a byte is sent: a range request (a
// player streaming) is "viewed", a whole-file request "downloaded".
func (s *server) original(w http.ResponseWriter, r *http.Request) {
	typ := evidence.Downloaded
	if r.Header.Get("Range") != "" {
		typ = evidence.Viewed
	}
	it, _, ok := s.item(w, r, access.ReadOriginal, typ)
	if !ok {
		return
	}
	s.serveOriginal(w, r, it)
}

// serveOriginal sends an item's original, with Range support.
func (s *server) serveOriginal(w http.ResponseWriter, r *http.Request, it evidence.Item) {
	f, err := s.Blobs.Open(r.Context(), it.SHA256)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", it.MIME)
	h.Set("ETag", `"sha256:`+it.SHA256.String()+`"`)
	h.Set("Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(it.SHA256[:])+":")
	h.Set("Cache-Control", "private, no-store")
	name := it.Filename
	if name == "" {
		name = it.ID
	}
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	http.ServeContent(w, r, "", it.ReceivedAt, f)
}

// involve answers POST /api/v1/evidence/{id}/involved {"badge": "…"}: an
// officer is recorded as involved in the item and loses access to it.
func (s *server) involve(w http.ResponseWriter, r *http.Request) {
	it, _, ev, ok := s.decideItem(w, r, access.RecordInvolved, evidence.Involved)
	if !ok {
		return
	}
	var in struct {
		Badge string `json:"badge"`
	}
	if err := decode(r, &in); err != nil || in.Badge == "" || len(in.Badge) > 32 {
		s.problem(w, r, http.StatusBadRequest, "send {\"badge\": \"<badge number>\"}")
		return
	}
	if err := s.Facts.AddInvolved(r.Context(), it.ID, in.Badge); err != nil {
		s.fail(w, r, err)
		return
	}
	ev.Type = evidence.Involved
	ev.Words["badge"] = in.Badge
	if err := s.recordAbout(r.Context(), it, ev); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// me answers GET /api/v1/me: the signed-in staff member, and the items
// they may see, listed: a list is not an access to footage, so it says no
// more than the staff home page (when, what kind, from whom), and nothing
// a civilian wrote or their file says (note, file name, device, officer,
// place). Those come with the record, opened with a reason and logged.
func (s *server) me(w http.ResponseWriter, r *http.Request) {
	c := callerOf(r)
	items, err := s.visible(r.Context(), c.Principal)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]listing, 0, len(items))
	for _, it := range items {
		out = append(out, listed(it))
	}
	writeJSON(w, http.StatusOK, struct {
		User     account.User `json:"user"`
		Evidence []listing    `json:"evidence"`
	}{c.User, out})
}

// listing is an item as a list of footage shows it.
type listing struct {
	ID         string          `json:"id"`
	Source     evidence.Source `json:"source"`
	MediaType  media.Kind      `json:"media_type"`
	ReceivedAt time.Time       `json:"received_at"`
	// RecordedAt is when it was recorded, by its file's clock, else when
	// it arrived: what a search by time and a timeline go by.
	RecordedAt time.Time `json:"recorded_at"`
	DurationS  *float64  `json:"duration_s,omitempty"`
	Partial    bool      `json:"partial,omitempty"`
	// Civilian says a civilian submitted it; police footage names its
	// unit and device.
	Civilian bool   `json:"civilian"`
	Unit     string `json:"unit,omitempty"`
	Device   string `json:"device,omitempty"`
}

// visible lists the items p may read, newest first: candidates from the
// database, each decided by the table (without logging: a list is not an
// access to footage).
func (s *server) visible(ctx context.Context, p access.Principal) ([]evidence.Item, error) {
	ids, err := s.Facts.Visible(ctx, p.User.Unit, p.User.Badge, p.User.ID, 200)
	if err != nil {
		return nil, err
	}
	out := []evidence.Item{}
	for _, id := range ids {
		it, err := s.Evidence.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		f, err := s.facts(ctx, it)
		if err != nil {
			return nil, err
		}
		if access.Decide(p, access.ReadItem, f).Allowed {
			out = append(out, it)
		}
	}
	return out, nil
}

// recordAbout logs e about it, now.
func (s *server) recordAbout(ctx context.Context, it evidence.Item, e evidence.Event) error {
	e.Evidence, e.At = &evidence.EventSubject{ID: it.ID, SHA256: it.SHA256}, evidence.EventTime(time.Now())
	_, err := s.record(ctx, e)
	return err
}

// listed is an item as a list shows it.
func listed(it evidence.Item) listing {
	l := listing{ID: it.ID, Source: it.Source, MediaType: it.MediaType, ReceivedAt: it.ReceivedAt, RecordedAt: recorded(it),
		DurationS: it.DurationS, Partial: it.Partial, Civilian: it.Uploader.Token == ""}
	if !l.Civilian {
		l.Unit, l.Device = it.Uploader.Unit, it.Uploader.Device
	}
	return l
}

// uploadPage answers GET /api/v1/uploads/{upload}/page: where the
// evidence the upload becomes will be, and its access token, from the
// moment the upload exists. The capture page shows the link while it
// records, so that footage from a phone that is then taken can still be
// reached by whoever was sent the link. The link does not carry the
// upload id: it reads the evidence, it cannot add to it.
func (s *server) uploadPage(w http.ResponseWriter, r *http.Request) {
	upload := r.PathValue("upload")
	id, who, err := s.Ingest.EvidenceID(r.Context(), upload)
	if err == nil && who.Token != "" {
		err = evidence.ErrNotFound // police footage has no civilian's page
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		EvidenceID   string `json:"evidence_id"`
		AccessToken  string `json:"access_token"`
		EvidencePage string `json:"evidence_page"`
	}{id, evidence.AccessToken(upload), s.origin(r) + "/e/" + id + "#token=" + evidence.AccessToken(upload)})
}

// serveBlob sends the blob named by its hex SHA-256, with ranges, after
// header has set the response's headers; modified is its time, if any.
func (s *server) serveBlob(w http.ResponseWriter, r *http.Request, sha256 string, modified time.Time, header func(http.Header)) {
	ref, err := blob.ParseRef(sha256)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f, err := s.Blobs.Open(r.Context(), ref)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer f.Close()
	header(w.Header())
	http.ServeContent(w, r, "", modified, f)
}
