package release

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/derive"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/incident"
	"github.com/sightline/sightline/internal/media"
	"github.com/sightline/sightline/internal/redact"
)

// Store keeps releases.
type Store interface {
	// Create stores a new release as version Number of its incident; it
	// fails with ErrConflict if that number is taken (another release of
	// the incident was made meanwhile).
	Create(ctx context.Context, r Release) error
	Get(ctx context.Context, id string) (Release, error)
	// Update replaces r if its stored version is still version.
	Update(ctx context.Context, r Release, version int) error
	// OfIncident lists an incident's releases, oldest first.
	OfIncident(ctx context.Context, incident string) ([]Release, error)
	// Published lists every published release; All every release.
	Published(ctx context.Context) ([]Release, error)
	All(ctx context.Context) ([]Release, error)
}

// Config is what a Service needs.
type Config struct {
	Store     Store
	Evidence  evidence.Store
	Incidents *incident.Service
	// Redactions gives each span's plan; Files and Blobs the recordings'
	// fingerprints (their commitments) and the originals.
	Redactions Redactions
	Files      derive.Store
	Blobs      blob.Store
	// Media renders spans; Tmp holds files being made (on the blob
	// store's file system).
	Media *media.Tool
	Tmp   string
	// Bases are the codes a withheld span may give as its reason.
	Bases []string
	// Record logs an event (evidence.Recorder.Record); Log and Custody
	// log the "released" events exactly once.
	Record  func(ctx context.Context, e evidence.Event) (uint64, error)
	Log     evidence.OnceLog
	Custody evidence.CustodyIndex
	// Enqueue queues a job (jobs.Queue.Enqueue).
	Enqueue func(ctx context.Context, kind, subject string) error
	Now     func() time.Time
}

// Register adds the publish job's handler.
func (s *Service) Register(handle func(kind string, h func(ctx context.Context, subject string) error)) {
	handle(PublishJob, s.publish)
}

// Service makes, approves and publishes releases.
type Service struct {
	cfg   Config
	bases map[string]bool
}

// NewService returns a Service.
func NewService(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Service{cfg: cfg, bases: map[string]bool{}}
	for _, b := range cfg.Bases {
		s.bases[b] = true
	}
	return s
}

// Get returns a release.
func (s *Service) Get(ctx context.Context, id string) (Release, error) {
	return s.cfg.Store.Get(ctx, id)
}

// Versions lists the releases of an incident, oldest first.
func (s *Service) Versions(ctx context.Context, inc string) ([]Release, error) {
	return s.cfg.Store.OfIncident(ctx, inc)
}

// clips are the incident's recordings a span may name.
func (s *Service) clips(ctx context.Context, inc string) (map[string]Clip, error) {
	tl, err := s.cfg.Incidents.Timeline(ctx, inc)
	if errors.Is(err, incident.ErrNotFound) {
		return nil, fmt.Errorf("%w: no such incident", ErrInvalid)
	}
	if err != nil {
		return nil, err
	}
	out := map[string]Clip{}
	for _, c := range tl.Clips {
		out[c.Evidence] = Clip{Duration: c.Duration, HasVideo: c.HasVideo}
	}
	return out, nil
}

// event logs a step of release r by actor, with its details; the title
// and summary are its words (sealed, never in the public log).
func (s *Service) event(ctx context.Context, r Release, actor, step string, words bool) error {
	e := evidence.Event{Type: evidence.ReleaseEvent, Incident: r.Incident, Actor: actor, At: evidence.EventTime(s.cfg.Now()),
		Details: map[string]string{"release": r.ID, "version": fmt.Sprint(r.Number), "step": step, "status": string(r.Status),
			"count": fmt.Sprint(len(r.Spans))}}
	if words {
		e.Words = map[string]string{"title": r.Title, "summary": r.Summary}
	}
	_, err := s.cfg.Record(ctx, e)
	return err
}

// Create makes a draft release of an incident, the next version of its
// releases, and logs it.
func (s *Service) Create(ctx context.Context, actor string, in Input) (Release, error) {
	clips, err := s.clips(ctx, in.Incident)
	if err != nil {
		return Release{}, err
	}
	if in, err = in.check(clips, s.bases); err != nil {
		return Release{}, err
	}
	if err := s.checkRedactions(ctx, in); err != nil {
		return Release{}, err
	}
	now := s.cfg.Now().UTC()
	for range 3 { // another release of the incident may take the number
		earlier, err := s.cfg.Store.OfIncident(ctx, in.Incident)
		if err != nil {
			return Release{}, err
		}
		r := Release{ID: NewID(), Incident: in.Incident, Number: len(earlier) + 1, Title: in.Title, Summary: in.Summary,
			Spans: in.Spans, Withheld: in.Withheld, Status: Draft, Author: actor, Created: now, Updated: now}
		if r.Withheld == nil {
			r.Withheld = []Withheld{}
		}
		err = s.cfg.Store.Create(ctx, r)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return Release{}, err
		}
		return r, s.event(ctx, r, actor, "created", true)
	}
	return Release{}, ErrConflict
}

// Update replaces a draft's title, summary and spans.
func (s *Service) Update(ctx context.Context, actor, id string, in Input) (Release, error) {
	r, err := s.cfg.Store.Get(ctx, id)
	if err != nil {
		return r, err
	}
	if r.Status != Draft {
		return r, fmt.Errorf("%w: a %s release is not changed; make a new version", ErrStep, r.Status)
	}
	in.Incident = r.Incident
	clips, err := s.clips(ctx, r.Incident)
	if err != nil {
		return r, err
	}
	if in, err = in.check(clips, s.bases); err != nil {
		return r, err
	}
	if err := s.checkRedactions(ctx, in); err != nil {
		return r, err
	}
	version := r.Version
	r.Title, r.Summary, r.Spans, r.Withheld, r.Updated = in.Title, in.Summary, in.Spans, in.Withheld, s.cfg.Now().UTC()
	if r.Withheld == nil {
		r.Withheld = []Withheld{}
	}
	if err := s.cfg.Store.Update(ctx, r, version); err != nil {
		return r, err
	}
	r.Version = version + 1
	return r, s.event(ctx, r, actor, "edited", true)
}

// Approve approves a draft; its author cannot.
func (s *Service) Approve(ctx context.Context, actor, id string) (Release, error) {
	r, err := s.cfg.Store.Get(ctx, id)
	if err != nil {
		return r, err
	}
	switch {
	case r.Status != Draft:
		return r, fmt.Errorf("%w: only a draft is approved, this one is %s", ErrStep, r.Status)
	case r.Author == actor:
		return r, ErrOwn
	}
	version := r.Version
	r.Status, r.Approver, r.Updated = Approved, actor, s.cfg.Now().UTC()
	if err := s.cfg.Store.Update(ctx, r, version); err != nil {
		return r, err
	}
	r.Version = version + 1
	return r, s.event(ctx, r, actor, "approved", false)
}

// checkRedactions checks that each span's redaction is an approved one of
// its recording.
func (s *Service) checkRedactions(ctx context.Context, in Input) error {
	for i, sp := range in.Spans {
		if sp.Redaction == "" {
			continue
		}
		it, err := s.cfg.Evidence.Get(ctx, sp.Evidence)
		if err != nil {
			return err
		}
		if _, err := s.cfg.Redactions.SpanPlan(ctx, it, sp.Redaction); err != nil {
			if errors.Is(err, redact.ErrInvalid) {
				return fmt.Errorf("%w: span %d: %v", ErrInvalid, i+1, err)
			}
			return err
		}
	}
	return nil
}

// Shown is a published file, as a clip lookup names it.
type Shown struct {
	Release string
	Number  int
	File    int // its index in the release's files
	FromS   float64
	ToS     float64
}

// Shown lists, by recording, the spans every published release shows:
// what the public may find a clip in.
func (s *Service) Shown(ctx context.Context) (map[string][]Shown, error) {
	rels, err := s.cfg.Store.Published(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string][]Shown{}
	for _, r := range rels {
		for i, f := range r.Files {
			out[f.Evidence] = append(out[f.Evidence], Shown{Release: r.ID, Number: r.Number, File: i, FromS: f.FromS, ToS: f.ToS})
		}
	}
	return out, nil
}
