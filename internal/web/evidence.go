package web

import (
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/ledger"
	"github.com/sightline/sightline/verify"
)

// uploadEvidence answers GET /api/v1/uploads/{upload}/evidence: 404 until
// the upload is evidence, then the evidence with its access token. The
// upload id, known only to the uploader, is the capability.
func (s *server) uploadEvidence(w http.ResponseWriter, r *http.Request) {
	upload := r.PathValue("upload")
	it, err := s.Ingest.Evidence(r.Context(), upload)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		evidence.Item
		AccessToken string `json:"access_token"`
	}{it, evidence.AccessToken(upload)})
}

// authorized returns the evidence named in the path if the request's bearer
// token grants access to it. A missing or wrong token and a missing item
// give the same answer, so that existence is not revealed.
func (s *server) authorized(r *http.Request) (evidence.Item, error) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return evidence.Item{}, evidence.ErrNotFound
	}
	it, err := s.Evidence.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return it, err
	}
	if !it.Authorize(strings.TrimSpace(token)) {
		return evidence.Item{}, evidence.ErrNotFound
	}
	return it, nil
}

func (s *server) evidence(w http.ResponseWriter, r *http.Request) {
	it, err := s.authorized(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, it)
}

// receipt answers GET /api/v1/evidence/{id}/receipt: the proof, checkable
// offline, that the item's "received" event is in the custody log.
func (s *server) receipt(w http.ResponseWriter, r *http.Request) {
	it, err := s.authorized(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rc, err := s.Log.Receipt(r.Context(), it.ReceivedIndex, it.SHA256.String(), it.Size)
	if err != nil {
		s.fail(w, r, err)
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
		writeJSON(w, http.StatusRequestEntityTooLarge, apiError{"a receipt must be under 1 MiB"})
		return
	}
	old, err := verify.Parse(b)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	rc, err := s.Log.Refresh(r.Context(), old)
	switch {
	case errors.Is(err, ledger.ErrNotOurs):
		writeJSON(w, http.StatusUnprocessableEntity, apiError{err.Error()})
	case errors.Is(err, ledger.ErrForked):
		s.Logger.Error("THE CUSTODY LOG IS INCONSISTENT WITH A CHECKPOINT IT SIGNED", "index", old.Index, "err", err)
		writeJSON(w, http.StatusInternalServerError, apiError{err.Error()})
	case err != nil:
		s.fail(w, r, err)
	default:
		writeJSON(w, http.StatusOK, rc)
	}
}

// custody answers GET /api/v1/evidence/{id}/custody: every logged event
// about the item, with its index in the custody log, so the person who
// filmed it sees each read.
func (s *server) custody(w http.ResponseWriter, r *http.Request) {
	it, err := s.authorized(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	events, err := s.Custody.Events(r.Context(), it.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Evidence string                 `json:"evidence"`
		Events   []evidence.LoggedEvent `json:"events"`
	}{it.ID, events})
}

// logRead records a read of an original in the custody log before any
// byte of it is sent: a range request (a player streaming) is "viewed", a
// whole-file request "downloaded". The reader is named by a pseudonym of
// their token.
func (s *server) logRead(r *http.Request, it evidence.Item) error {
	typ := evidence.Downloaded
	if r.Header.Get("Range") != "" {
		typ = evidence.Viewed
	}
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	e := evidence.Event{
		Type:     typ,
		Evidence: &evidence.EventSubject{ID: it.ID, SHA256: it.SHA256},
		Actor:    "token:" + evidence.Digest(strings.TrimSpace(token))[:16],
		At:       evidence.EventTime(time.Now()),
	}
	index, err := s.Log.Append(r.Context(), e.Canonical())
	if err != nil {
		return err
	}
	return s.Custody.Add(r.Context(), index, e)
}

// original streams the exact bytes that were received, with Range support.
func (s *server) original(w http.ResponseWriter, r *http.Request) {
	it, err := s.authorized(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f, err := s.Blobs.Open(r.Context(), it.SHA256)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer f.Close()
	if err := s.logRead(r, it); err != nil {
		s.fail(w, r, err)
		return
	}
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
