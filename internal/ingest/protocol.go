package ingest

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	tusd "github.com/tus/tusd/v2/pkg/handler"
)

// tusd implements the core protocol and the creation, termination and
// deferred-length extensions. This file adds the two it lacks, checksum and
// expiration, around its handler, and Repr-Digest: the SHA-256 of the whole
// file (RFC 9530, as the IETF resumable upload draft uses it), which a
// client may send with any request and which the finished upload must match.

// checksumAlgorithms are the Upload-Checksum algorithms accepted. The tus
// specification requires sha1.
var checksumAlgorithms = map[string]func() hash.Hash{"sha1": sha1.New, "sha256": sha256.New}

const checksumAlgorithmList = "sha1,sha256"

type (
	checksumKey   struct{}
	reprDigestKey struct{}
	continuesKey  struct{}
)

// checksum is a PATCH's Upload-Checksum, handed to the store through the
// request context.
type checksum struct {
	newHash func() hash.Hash
	want    []byte
}

// parseChecksum reads "Upload-Checksum: <algorithm> <base64 digest>".
func parseChecksum(v string) (*checksum, string) {
	alg, enc, ok := strings.Cut(strings.TrimSpace(v), " ")
	newHash, known := checksumAlgorithms[alg]
	if !ok || !known {
		return nil, "Upload-Checksum must be '<algorithm> <base64 digest>' with an algorithm among " + checksumAlgorithmList
	}
	want, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
	if err != nil || len(want) != newHash().Size() {
		return nil, "Upload-Checksum digest is not the base64 of a " + alg + " digest"
	}
	return &checksum{newHash: newHash, want: want}, ""
}

// parseReprDigest reads the sha-256 member of a Repr-Digest dictionary,
// such as "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:". It
// returns nil, "" if the header names only other algorithms.
func parseReprDigest(v string) ([]byte, string) {
	for _, member := range strings.Split(v, ",") {
		alg, val, ok := strings.Cut(strings.TrimSpace(member), "=")
		if !ok || strings.TrimSpace(alg) != "sha-256" {
			continue
		}
		val = strings.TrimSpace(val)
		if len(val) < 2 || val[0] != ':' || val[len(val)-1] != ':' {
			return nil, "Repr-Digest sha-256 must be a byte sequence, :base64:"
		}
		d, err := base64.StdEncoding.DecodeString(val[1 : len(val)-1])
		if err != nil || len(d) != sha256.Size {
			return nil, "Repr-Digest sha-256 is not the base64 of a SHA-256 digest"
		}
		return d, ""
	}
	return nil, ""
}

// protocolExtensions wraps tusd's handler: it validates Upload-Checksum and
// passes it to the store, and adds the checksum and expiration headers to
// responses.
func (s *Service) protocolExtensions(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Get("Upload-Checksum"); v != "" && r.Method != http.MethodOptions {
			sum, problem := parseChecksum(v)
			if sum == nil {
				w.Header().Set("Tus-Resumable", "1.0.0")
				http.Error(w, "ERR_INVALID_CHECKSUM: "+problem, http.StatusBadRequest)
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), checksumKey{}, sum))
		}
		if v := r.Header.Get("Repr-Digest"); v != "" && (r.Method == http.MethodPost || r.Method == http.MethodPatch) {
			d, problem := parseReprDigest(v)
			if problem != "" {
				w.Header().Set("Tus-Resumable", "1.0.0")
				http.Error(w, "ERR_INVALID_DIGEST: "+problem, http.StatusBadRequest)
				return
			}
			if d != nil {
				r = r.WithContext(context.WithValue(r.Context(), reprDigestKey{}, d))
			}
		}
		switch r.Method {
		case http.MethodPatch:
			// tusd answers 204 to bytes for an upload it holds whole; a
			// stream kept as partial is whole only because its phone fell
			// silent, and what the phone sends now must not be lost.
			st, err := s.uploads.readState(r.Context(), uploadID(r))
			if err == nil && st.Partial && st.Evidence != "" {
				writeTusError(w, errKeptPartial)
				return
			}
			// A PATCH that declared a stream's length and was cut off
			// declared it for good; the client, resending the rest, says
			// it again, and tusd refuses a length declared twice (400),
			// which would leave a phone unable to send its last bytes.
			// The same length again declares nothing: drop it. (A length
			// is never undeclared, so this cannot race with a writer.)
			if v := r.Header.Get("Upload-Length"); v != "" && err == nil && !st.Info.SizeIsDeferred && v == strconv.FormatInt(st.Info.Size, 10) {
				r.Header.Del("Upload-Length")
			}
		case http.MethodPost:
			if v := r.Header.Get("Upload-Continues"); v != "" {
				st, err := s.uploads.readState(r.Context(), v)
				if err != nil || !st.Partial || st.Evidence == "" || st.Format == nil {
					w.Header().Set("Tus-Resumable", "1.0.0")
					http.Error(w, "ERR_INVALID_CONTINUES: Upload-Continues names no upload kept as partial evidence", http.StatusBadRequest)
					return
				}
				r = r.WithContext(context.WithValue(r.Context(), continuesKey{}, st))
			}
		}
		hw := &headerWriter{ResponseWriter: w, r: r, s: s}
		next.ServeHTTP(hw, r)
		hw.mu.Lock()
		hw.done = true
		hw.mu.Unlock()
	})
}

// uploadID is the upload a PATCH or HEAD is about: the last segment of
// its path.
func uploadID(r *http.Request) string {
	id := strings.TrimSuffix(r.URL.Path, "/")
	return id[strings.LastIndex(id, "/")+1:]
}

// writeTusError answers with one of tusd's errors, as tusd would.
func writeTusError(w http.ResponseWriter, e tusd.Error) {
	w.Header().Set("Tus-Resumable", "1.0.0")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(e.HTTPResponse.StatusCode)
	w.Write([]byte(e.ErrorCode + ": " + e.Message + "\n"))
}

// headerWriter adds headers just before tusd writes its response's.
type headerWriter struct {
	http.ResponseWriter
	r       *http.Request
	s       *Service
	written bool
	mu      sync.Mutex
	done    bool // the request has been answered
}

// SetReadDeadline passes tusd's read deadlines on while the request is
// served, and drops them after. tusd sets one from a goroutine of its own
// when it interrupts a request (another asked for the upload's lock); one
// set late would land on the next request of the same connection (a
// balancer's kept-alive one) and cut that request off, its context
// cancelled mid-way.
func (h *headerWriter) SetReadDeadline(t time.Time) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done {
		return nil
	}
	return http.NewResponseController(h.ResponseWriter).SetReadDeadline(t)
}

func (h *headerWriter) WriteHeader(code int) {
	if !h.written {
		h.written = true
		h.addHeaders()
	}
	h.ResponseWriter.WriteHeader(code)
}

func (h *headerWriter) Write(p []byte) (int, error) {
	if !h.written {
		h.WriteHeader(http.StatusOK)
	}
	return h.ResponseWriter.Write(p)
}

func (h *headerWriter) Unwrap() http.ResponseWriter { return h.ResponseWriter }

func (h *headerWriter) addHeaders() {
	hd := h.Header()
	if ext := hd.Get("Tus-Extension"); ext != "" {
		hd.Set("Tus-Extension", ext+",checksum,expiration")
		hd.Set("Tus-Checksum-Algorithm", checksumAlgorithmList)
	}
	// Upload-Expires on every response about an unfinished upload.
	var id string
	switch h.r.Method {
	case http.MethodPost:
		if loc := hd.Get("Location"); loc != "" {
			id = loc[strings.LastIndex(loc, "/")+1:]
		}
	case http.MethodPatch, http.MethodHead:
		id = uploadID(h.r)
	}
	if id == "" {
		return
	}
	if st, err := h.s.uploads.readState(h.r.Context(), id); err == nil && st.Evidence == "" {
		hd.Set("Upload-Expires", h.s.uploads.expiresAt(st).UTC().Format(http.TimeFormat))
	}
	if h.r.Header.Get("Origin") != "" {
		hd.Add("Access-Control-Expose-Headers", "Upload-Expires, Tus-Checksum-Algorithm")
	}
}
