package web

import (
	"encoding/base64"
	"mime"
	"net/http"
	"strings"

	"github.com/sightline/sightline/internal/evidence"
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
