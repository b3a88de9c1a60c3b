package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sightline/sightline/internal/access"
	"github.com/sightline/sightline/internal/derive"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/incident"
	"github.com/sightline/sightline/internal/release"
	"github.com/sightline/sightline/verify"
)

// An incident's public release, made by the records office: the API of
// docs/api.md ("Releases"). Every decision on the incident is the table's
// (make-release, approve-release, publish-release, read-release); each
// span also needs the right to redact its recording.

// failRelease answers a release request that failed.
func (s *server) failRelease(w http.ResponseWriter, r *http.Request, err error) {
	trim := func(sentinel error) string { return strings.TrimPrefix(err.Error(), sentinel.Error()+": ") }
	switch {
	case errors.Is(err, release.ErrNotFound):
		s.problem(w, r, http.StatusNotFound, "not found")
	case errors.Is(err, release.ErrInvalid):
		s.problem(w, r, http.StatusBadRequest, trim(release.ErrInvalid))
	case errors.Is(err, release.ErrOwn):
		s.problem(w, r, http.StatusForbidden, "you made this release: someone else must approve it")
	case errors.Is(err, release.ErrStep):
		s.problem(w, r, http.StatusConflict, trim(release.ErrStep))
	case errors.Is(err, release.ErrConflict):
		s.problem(w, r, http.StatusConflict, "the release changed meanwhile: load it again")
	default:
		s.fail(w, r, err)
	}
}

// decideOnIncident decides action on incident id for the caller, logging
// a refusal (as incidents do) and answering 404 for it.
func (s *server) decideOnIncident(w http.ResponseWriter, r *http.Request, id string, action access.Action) (caller, bool) {
	c := callerOf(r)
	if s.overLimit(r, c) {
		s.tooMany(w, r, failedTooOften)
		return c, false
	}
	inc, err := s.Incidents.Get(r.Context(), id)
	if errors.Is(err, incident.ErrNotFound) {
		s.failedAttempt(r, c)
		s.failRelease(w, r, release.ErrNotFound)
		return c, false
	}
	if err != nil {
		s.fail(w, r, err)
		return c, false
	}
	d := access.Decide(c.Principal, action, incidentFacts(inc))
	if !d.Allowed {
		s.failedAttempt(r, c)
		e := decisionEvent(c, action, d, "")
		e.Type, e.Incident, e.At = evidence.Denied, inc.ID, evidence.EventTime(time.Now())
		if _, err := s.record(r.Context(), e); err != nil {
			s.fail(w, r, err)
			return c, false
		}
		s.failRelease(w, r, release.ErrNotFound)
		return c, false
	}
	return c, true
}

// mayShow decides, for each span's recording, that the caller may redact
// it (what a release shows is what its maker could redact), logging a
// refusal about the item.
func (s *server) mayShow(w http.ResponseWriter, r *http.Request, c caller, spans []release.Span) bool {
	for _, sp := range spans {
		it, err := s.Evidence.Get(r.Context(), sp.Evidence)
		if errors.Is(err, evidence.ErrNotFound) {
			continue // the release's own check names it
		}
		if err != nil {
			s.fail(w, r, err)
			return false
		}
		facts, err := s.facts(r.Context(), it)
		if err != nil {
			s.fail(w, r, err)
			return false
		}
		if d := access.Decide(c.Principal, access.Redact, facts); !d.Allowed {
			e := decisionEvent(c, access.Redact, d, "")
			e.Type = evidence.Denied
			if err := s.recordAbout(r.Context(), it, e); err != nil {
				s.fail(w, r, err)
				return false
			}
			s.problem(w, r, http.StatusForbidden, "a span shows "+it.ID+", which you may not release")
			return false
		}
	}
	return true
}

// releaseOf loads the release in the path and decides action on its
// incident.
func (s *server) releaseOf(w http.ResponseWriter, r *http.Request, action access.Action) (release.Release, caller, bool) {
	rel, err := s.Releases.Get(r.Context(), r.PathValue("release"))
	if err != nil {
		c := callerOf(r)
		if errors.Is(err, release.ErrNotFound) {
			s.failedAttempt(r, c)
		}
		s.failRelease(w, r, err)
		return rel, c, false
	}
	c, ok := s.decideOnIncident(w, r, rel.Incident, action)
	return rel, c, ok
}

// releaseView is a release as the staff API shows it: the manifest by
// its SHA-256 (its bytes at /r/{release}/manifest once published).
type releaseView struct {
	release.Release
	Manifest       []byte `json:"manifest,omitempty"` // not shown
	ManifestSHA256 string `json:"manifest_sha256,omitempty"`
	URL            string `json:"url,omitempty"`
}

func viewOf(rel release.Release) releaseView {
	v := releaseView{Release: rel}
	if rel.Manifest != nil {
		sum := sha256.Sum256(rel.Manifest)
		v.ManifestSHA256 = hex.EncodeToString(sum[:])
	}
	if rel.Status == release.Published {
		v.URL = "/r/" + rel.ID
	}
	return v
}

// createRelease answers POST /api/v1/releases.
func (s *server) createRelease(w http.ResponseWriter, r *http.Request) {
	var in release.Input
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		s.problem(w, r, http.StatusBadRequest, "a JSON release: "+err.Error())
		return
	}
	c, ok := s.decideOnIncident(w, r, in.Incident, access.MakeRelease)
	if !ok || !s.mayShow(w, r, c, in.Spans) {
		return
	}
	rel, err := s.Releases.Create(r.Context(), c.Actor(), in)
	if err != nil {
		s.failRelease(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, viewOf(rel))
}

// getRelease answers GET /api/v1/releases/{release}.
func (s *server) getRelease(w http.ResponseWriter, r *http.Request) {
	rel, _, ok := s.releaseOf(w, r, access.ReadRelease)
	if ok {
		writeJSON(w, http.StatusOK, viewOf(rel))
	}
}

// incidentReleases answers GET /api/v1/incidents/{incident}/releases.
func (s *server) incidentReleases(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.decideOnIncident(w, r, r.PathValue("incident"), access.ReadRelease); !ok {
		return
	}
	rels, err := s.Releases.Versions(r.Context(), r.PathValue("incident"))
	if err != nil {
		s.failRelease(w, r, err)
		return
	}
	out := []releaseView{}
	for _, rel := range rels {
		out = append(out, viewOf(rel))
	}
	writeJSON(w, http.StatusOK, out)
}

// editRelease answers PATCH /api/v1/releases/{release}: a draft's new
// content, whole.
func (s *server) editRelease(w http.ResponseWriter, r *http.Request) {
	rel, c, ok := s.releaseOf(w, r, access.MakeRelease)
	if !ok {
		return
	}
	var in release.Input
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		s.problem(w, r, http.StatusBadRequest, "a JSON release: "+err.Error())
		return
	}
	if !s.mayShow(w, r, c, in.Spans) {
		return
	}
	rel, err := s.Releases.Update(r.Context(), c.Actor(), rel.ID, in)
	if err != nil {
		s.failRelease(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, viewOf(rel))
}

// releaseStep answers POST /api/v1/releases/{release}/approve|publish.
func (s *server) releaseStep(action access.Action, step func(*release.Service, *http.Request, string, string) (release.Release, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rel, c, ok := s.releaseOf(w, r, action)
		if !ok {
			return
		}
		rel, err := step(s.Releases, r, c.Actor(), rel.ID)
		if err != nil {
			s.failRelease(w, r, err)
			return
		}
		status := http.StatusOK
		if rel.Publishing {
			status = http.StatusAccepted
		}
		writeJSON(w, status, viewOf(rel))
	}
}

// The public side of a published release: no account, and no viewer is
// logged (publishing was). A release not published is not found.

// published loads the published release in the path.
func (s *server) published(w http.ResponseWriter, r *http.Request) (release.Release, bool) {
	rel, err := s.Releases.Get(r.Context(), r.PathValue("release"))
	if err == nil && rel.Status != release.Published {
		err = release.ErrNotFound
	}
	if err != nil {
		if errors.Is(err, release.ErrNotFound) {
			s.failedAttempt(r, callerOf(r))
		}
		s.failRelease(w, r, err)
		return rel, false
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	return rel, true
}

// releaseManifest answers GET /r/{release}/manifest: the manifest, byte
// for byte as logged.
func (s *server) releaseManifest(w http.ResponseWriter, r *http.Request) {
	rel, ok := s.published(w, r)
	if !ok {
		return
	}
	sum := sha256.Sum256(rel.Manifest)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="release-`+rel.ID+`.manifest.json"`)
	w.Header().Set("Sightline-Manifest-SHA256", hex.EncodeToString(sum[:]))
	w.Write(rel.Manifest)
}

// releaseFile answers GET /r/{release}/files/{n}: a published file, with
// ranges, so that players seek.
func (s *server) releaseFile(w http.ResponseWriter, r *http.Request) {
	rel, ok := s.published(w, r)
	if !ok {
		return
	}
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 0 || n >= len(rel.Files) {
		s.failRelease(w, r, release.ErrNotFound)
		return
	}
	s.serveBlob(w, r, rel.Files[n].SHA256, time.Time{}, func(h http.Header) {
		h.Set("Content-Type", "video/mp4")
		h.Set("ETag", `"`+rel.Files[n].SHA256+`"`)
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		h.Set("Content-Disposition", fmt.Sprintf(`inline; filename="release-%s-%d.mp4"`, rel.ID, n))
	})
}

// releaseProof answers GET /r/{release}/proof: what `sightline
// verify-release FILE --manifest PROOF --key VKEY` checks a file of the
// release with (verify.ReleaseProof), its receipts against the log's
// latest checkpoint. Made at most once a minute per release.
func (s *server) releaseProof(w http.ResponseWriter, r *http.Request) {
	rel, ok := s.published(w, r)
	if !ok {
		return
	}
	b, err := s.proofs.get(rel.ID, func() ([]byte, error) { return s.makeProof(r.Context(), rel) })
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=60")
	w.Header().Set("Content-Disposition", `attachment; filename="release-`+rel.ID+`.proof.json"`)
	w.Write(b)
}

func (s *server) makeProof(ctx context.Context, rel release.Release) ([]byte, error) {
	m, err := verify.ParseReleaseManifest(rel.Manifest)
	if err != nil {
		return nil, err
	}
	p := verify.ReleaseProof{Format: verify.ReleaseProofFormat, Manifest: string(rel.Manifest)}
	for i, f := range m.Files {
		it, err := s.Evidence.Get(ctx, f.Original.Evidence)
		if err != nil {
			return nil, err
		}
		var fp verify.ReleaseFileProof
		if fp.Released, err = s.Log.Receipt(ctx, rel.Files[i].LogIndex, it.SHA256.String(), it.Size); err != nil {
			return nil, err
		}
		df, err := s.Derived.Get(ctx, it.ID, derive.Fingerprint)
		if err != nil {
			return nil, err
		}
		if fp.Fingerprint, err = s.Log.Receipt(ctx, df.LogIndex, it.SHA256.String(), it.Size); err != nil {
			return nil, err
		}
		recs, err := derive.ReadFingerprint(ctx, s.Blobs, df)
		if err != nil {
			return nil, err
		}
		if fp.Records, fp.Proofs, err = release.Disclose(recs, f); err != nil {
			return nil, err
		}
		p.Files = append(p.Files, fp)
	}
	return json.Marshal(p)
}

// proofCache keeps each release's proof for a minute: a page's visitors
// do not make the server build it again each time.
type proofCache struct {
	mu sync.Mutex
	m  map[string]cachedProof
}

type cachedProof struct {
	b  []byte
	at time.Time
}

func (c *proofCache) get(id string, build func() ([]byte, error)) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.m[id]; ok && time.Since(p.at) < time.Minute {
		return p.b, nil
	}
	b, err := build()
	if err != nil {
		return nil, err
	}
	if c.m == nil || len(c.m) > 1000 {
		c.m = map[string]cachedProof{}
	}
	c.m[id] = cachedProof{b, time.Now()}
	return b, nil
}
