package web

import (
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"time"

	"github.com/sightline/sightline/internal/access"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/fingerprint"
	"github.com/sightline/sightline/internal/ingest"
	"github.com/sightline/sightline/internal/lookup"
	"github.com/sightline/sightline/internal/release"
)

// "Where is this clip from?": anyone may ask, with the clip as the body
// of POST /api/v1/lookup or through the form of /lookup. The public
// searches released footage; staff search what they may read, and each
// item a search names to them is logged as an access. Nothing of the clip
// is kept; a caller without a staff account may ask LookupLimit times in
// 10 minutes from one address.

// lookupBodyTimeout is how long a clip may take to arrive.
const lookupBodyTimeout = 10 * time.Minute

// lookupMatch is one place a clip was found.
type lookupMatch struct {
	ReleaseID  string  `json:"release_id,omitempty"`
	EvidenceID string  `json:"evidence_id"`
	OffsetS    float64 `json:"offset_s"`
	Speed      float64 `json:"speed"`
	Score      int     `json:"score"`
	By         string  `json:"by"`
	URL        string  `json:"url"`
}

// SpeedChange says how the clip's speed differs from the recording's
// ("3 % faster"), "" if it does not.
func (m lookupMatch) SpeedChange() string {
	switch d := math.Round((m.Speed - 1) * 100); {
	case d > 0:
		return fmt.Sprintf("%.0f %% faster", d)
	case d < 0:
		return fmt.Sprintf("%.0f %% slower", -d)
	}
	return ""
}

type lookupAnswer struct {
	Matches []lookupMatch `json:"matches"`
}

// lookupAPI answers POST /api/v1/lookup: the clip is the body, or with
// ?upload=ID a finished tus upload made for it (ingest's clips, for
// clips too large for one request), removed once searched.
func (s *server) lookupAPI(w http.ResponseWriter, r *http.Request) {
	search := s.searchBody(r, r.Body)
	if q := r.URL.Query(); q.Has("upload") {
		id := q.Get("upload")
		search = func(allow fingerprint.Filter) ([]fingerprint.Match, error) {
			clip, err := s.Ingest.Clip(r.Context(), id)
			if err != nil {
				return nil, err
			}
			defer clip.Close()
			return s.Lookup.SearchFile(r.Context(), clip.Path, allow)
		}
	}
	matches, ok := s.lookUp(w, r, search)
	if ok {
		writeJSON(w, http.StatusOK, lookupAnswer{Matches: matches})
	}
}

// searcher searches for a clip among the recordings allow allows.
type searcher func(allow fingerprint.Filter) ([]fingerprint.Match, error)

// searchBody searches for the clip body, as it arrives.
func (s *server) searchBody(r *http.Request, body io.Reader) searcher {
	return func(allow fingerprint.Filter) ([]fingerprint.Match, error) {
		return s.Lookup.Search(r.Context(), body, allow)
	}
}

type lookupPage struct {
	Asked   bool
	Matches []lookupMatch
	MaxMB   int64
}

// lookupForm shows the form of /lookup.
func (s *server) lookupForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "lookup.html", lookupPage{MaxMB: s.Lookup.MaxClip() >> 20})
}

// lookupSubmit answers the form of /lookup (multipart, the file as
// "clip"), read as it arrives.
func (s *server) lookupSubmit(w http.ResponseWriter, r *http.Request) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		s.problem(w, r, http.StatusBadRequest, "send the clip with the form")
		return
	}
	mr, err := r.MultipartReader()
	if err != nil {
		s.problem(w, r, http.StatusBadRequest, "send the clip with the form")
		return
	}
	for {
		part, err := mr.NextPart()
		if err != nil {
			s.problem(w, r, http.StatusBadRequest, "the form holds no clip")
			return
		}
		if part.FormName() != "clip" {
			continue
		}
		matches, ok := s.lookUp(w, r, s.searchBody(r, part))
		if ok {
			s.render(w, http.StatusOK, "lookup.html", lookupPage{Asked: true, Matches: matches, MaxMB: s.Lookup.MaxClip() >> 20})
		}
		return
	}
}

// lookUp searches for a clip for the caller, or answers why not.
func (s *server) lookUp(w http.ResponseWriter, r *http.Request, search searcher) ([]lookupMatch, bool) {
	c := callerOf(r)
	if c.Kind != access.Staff {
		addr := s.clientAddr(r)
		if s.lookups.blocked(r.Context(), addr) {
			s.tooMany(w, r, "too many lookups from your address; wait and try again")
			return nil, false
		}
		s.lookups.failed(r.Context(), addr)
	}
	if r.ContentLength > s.Lookup.MaxClip()+1<<20 {
		s.failLookup(w, r, lookup.ErrTooLarge)
		return nil, false
	}
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(lookupBodyTimeout))
	if c.Kind != access.Staff {
		return s.lookUpPublic(w, r, search)
	}
	allow, found := s.lookupFilter(r, c)
	matches, err := search(allow)
	if err != nil {
		s.failLookup(w, r, err)
		return nil, false
	}
	out := []lookupMatch{}
	for _, m := range matches {
		it, ok := found[m.ID]
		if !ok {
			continue
		}
		e := decisionEvent(c, access.ReadItem, access.Decision{Allowed: true, Rule: it.rule}, "")
		e.Type, e.Details["lookup"] = evidence.Accessed, m.By
		if err := s.recordAbout(r.Context(), it.item, e); err != nil {
			s.fail(w, r, err)
			return nil, false
		}
		out = append(out, lookupMatch{EvidenceID: m.ID, OffsetS: m.Offset, Speed: m.Speed, Score: m.Score, By: m.By,
			URL: fmt.Sprintf("/staff/evidence/%s#t=%.3f", m.ID, m.Offset)})
	}
	return out, true
}

// lookUpPublic searches released footage: a match counts only where the
// whole clip lies in a span a published release shows (within half a
// second), so that a lookup tells nothing of what was withheld or never
// released. It names the latest release showing it.
func (s *server) lookUpPublic(w http.ResponseWriter, r *http.Request, search searcher) ([]lookupMatch, bool) {
	shown, err := s.Releases.Shown(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return nil, false
	}
	matches, err := search(func(id string) bool { return len(shown[id]) > 0 })
	if err != nil {
		s.failLookup(w, r, err)
		return nil, false
	}
	const slack = 0.5
	out := []lookupMatch{}
	for _, m := range matches {
		var in *release.Shown
		for i, sh := range shown[m.ID] {
			if m.Offset >= sh.FromS-slack && m.Offset+m.Length <= sh.ToS+slack && (in == nil || sh.Number > in.Number) {
				in = &shown[m.ID][i]
			}
		}
		if in == nil {
			continue
		}
		out = append(out, lookupMatch{ReleaseID: in.Release, EvidenceID: m.ID, OffsetS: m.Offset, Speed: m.Speed, Score: m.Score, By: m.By,
			URL: fmt.Sprintf("/r/%s#file=%d&t=%.3f", in.Release, in.File, max(0, m.Offset-in.FromS))})
	}
	return out, true
}

type allowedItem struct {
	item evidence.Item
	rule string
}

// lookupFilter says which recordings a staff member's search may name:
// the items they may read (remembered in found, with the rule that allowed
// each, so that each named is logged).
func (s *server) lookupFilter(r *http.Request, c caller) (fingerprint.Filter, map[string]allowedItem) {
	found := map[string]allowedItem{}
	decided := map[string]bool{}
	return func(id string) bool {
		if ok, seen := decided[id]; seen {
			return ok
		}
		decided[id] = false
		it, err := s.Evidence.Get(r.Context(), id)
		if err != nil {
			return false
		}
		facts, err := s.facts(r.Context(), it)
		if err != nil {
			return false
		}
		d := access.Decide(c.Principal, access.ReadItem, facts)
		if d.Allowed {
			decided[id], found[id] = true, allowedItem{it, d.Rule}
		}
		return d.Allowed
	}, found
}

// failLookup answers a lookup that failed.
func (s *server) failLookup(w http.ResponseWriter, r *http.Request, err error) {
	var tooBig *http.MaxBytesError
	var timeout net.Error
	switch {
	case errors.Is(err, lookup.ErrNotMedia):
		s.problem(w, r, http.StatusUnsupportedMediaType, "the clip is not a video or sound file")
	case errors.Is(err, lookup.ErrTooLarge), errors.As(err, &tooBig):
		s.problem(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("the clip is larger than %d MB", s.Lookup.MaxClip()>>20))
	case errors.Is(err, ingest.ErrNoClip):
		s.problem(w, r, http.StatusNotFound, "no clip to look up has this upload id: upload it with Upload-Metadata purpose lookup; it is kept an hour after its last byte and searched once")
	case errors.Is(err, ingest.ErrClipUnfinished):
		s.problem(w, r, http.StatusConflict, "the clip's upload is not complete: send the rest of it first")
	case errors.Is(err, lookup.ErrUnreadable):
		s.problem(w, r, http.StatusUnprocessableEntity, "nothing of the clip could be decoded")
	case errors.As(err, &timeout) && timeout.Timeout():
		s.problem(w, r, http.StatusRequestTimeout, "the clip took too long to arrive")
	default:
		s.fail(w, r, err)
	}
}
