package redact

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/detect"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/media"
	"github.com/sightline/sightline/internal/version"
	"github.com/sightline/sightline/verify"
)

// The jobs of redactions, by kind; their subject is the redaction's id.
const (
	DetectJob = "redact-detect"
	RenderJob = "redact-render"
)

// Config is what a Service needs.
type Config struct {
	Store    Store
	Evidence evidence.Store
	Blobs    blob.Store
	// Record logs a step (with its words sealed); Log and Custody log the
	// "redacted" event exactly once.
	Record  func(context.Context, evidence.Event) (uint64, error)
	Log     evidence.OnceLog
	Custody evidence.CustodyIndex
	// Enqueue queues a job (DetectJob, RenderJob).
	Enqueue func(ctx context.Context, kind, subject string) error
	Media   *media.Tool
	// Models is the face detector's folder (scripts/models.sh); Threads
	// how many threads it runs on (default 2).
	Models  string
	Threads int
	// Bases are the legal bases offered (default DefaultBases).
	Bases  []Basis
	Tmp    string
	Logger *slog.Logger
	Now    func() time.Time
}

// Service runs redactions.
type Service struct {
	cfg Config

	detMu sync.Mutex
	det   *detect.Detector
	text  *detect.Text

	verOnce      sync.Once
	ffmpeg, x264 string
	verErr       error
}

// NewService returns a Service.
func NewService(cfg Config) (*Service, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Bases) == 0 {
		cfg.Bases = DefaultBases
	}
	if cfg.Threads <= 0 {
		cfg.Threads = 2
	}
	return &Service{cfg: cfg}, os.MkdirAll(cfg.Tmp, 0o700)
}

// Close frees the detector.
func (s *Service) Close() error {
	s.detMu.Lock()
	defer s.detMu.Unlock()
	var errs []error
	if s.det != nil {
		errs = append(errs, s.det.Close())
	}
	if s.text != nil {
		errs = append(errs, s.text.Close())
	}
	return errors.Join(errs...)
}

// Bases are the legal bases a change may give.
func (s *Service) Bases() []Basis { return s.cfg.Bases }

func (s *Service) basis(code string) bool {
	return slices.ContainsFunc(s.cfg.Bases, func(b Basis) bool { return b.Code == code })
}

// Actor is who takes a step: the log's actor id and role, and what the
// step's event says of the decision that let them (its details: action,
// rule, how they acted; its words: the reason they gave).
type Actor struct {
	ID, Role string
	Details  map[string]string
	Words    map[string]string
}

// Open is what a new redaction asks for.
type Open struct {
	Auto   []string `json:"auto"`   // "faces", "text" (plates, screens)
	Effect string   `json:"effect"` // of the tracks found; default fill
	Basis  string   `json:"basis"`  // their legal basis; default the first
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Open starts a redaction of it by by, and queues its detection.
func (s *Service) Open(ctx context.Context, it evidence.Item, by Actor, in Open) (Redaction, error) {
	for _, a := range in.Auto {
		if a != "faces" && a != "text" {
			return Redaction{}, invalid("auto: %q is not a detector (faces, text)", a)
		}
	}
	if in.Effect == "" {
		in.Effect = verify.EffectFill
	}
	if in.Effect != verify.EffectFill && in.Effect != verify.EffectPixelate && in.Effect != verify.EffectBlur {
		return Redaction{}, invalid("effect: %q is not fill, pixelate or blur", in.Effect)
	}
	if in.Basis == "" {
		in.Basis = s.cfg.Bases[0].Code
	}
	if !s.basis(in.Basis) {
		return Redaction{}, invalid("basis: %q is not a legal basis of this server", in.Basis)
	}
	if it.MediaType != media.Video || it.Video == nil {
		return Redaction{}, invalid("only a video can be redacted here")
	}
	o, err := s.describe(ctx, it)
	if err != nil {
		return Redaction{}, err
	}
	now := s.cfg.Now().UTC()
	r := Redaction{ID: NewID(), Evidence: it.ID, Status: Draft, Author: by.ID, Created: now, Updated: now, Version: 1,
		Original: o, Auto: slices.Compact(slices.Sorted(slices.Values(in.Auto))), Effect: in.Effect, Reason: in.Basis,
		Tracks: []Track{}, Changes: []verify.Change{}}
	if len(r.Auto) > 0 {
		r.Detection = Detecting
	}
	if err := s.cfg.Store.Create(ctx, r); err != nil {
		return Redaction{}, err
	}
	if err := s.step(ctx, r, by, "opened", nil); err != nil {
		return r, err
	}
	if r.Detection == Detecting {
		return r, s.cfg.Enqueue(ctx, DetectJob, r.ID)
	}
	return r, nil
}

// describe reads what a manifest says of the original.
func (s *Service) describe(ctx context.Context, it evidence.Item) (verify.ManifestOriginal, error) {
	path, cleanup, err := blob.LocalPath(ctx, s.cfg.Blobs, it.SHA256, s.cfg.Tmp)
	if err != nil {
		return verify.ManifestOriginal{}, err
	}
	defer cleanup()
	f, err := s.cfg.Media.CountFrames(ctx, media.Source{Path: path, Container: it.Container})
	if err != nil {
		return verify.ManifestOriginal{}, invalid("the video cannot be read for redaction: %v", err)
	}
	fps := it.Video.FPS
	if !(fps > 0 && fps <= 240) {
		fps = 30
	}
	return verify.ManifestOriginal{Evidence: it.ID, SHA256: it.SHA256.String(), Size: it.Size, LogIndex: it.ReceivedIndex,
		Container: it.Container, Width: f.Width, Height: f.Height, FPS: fps, Frames: f.Count, Audio: it.Audio != nil}, nil
}

// step logs a step of r by by, about its item; words are sealed.
func (s *Service) step(ctx context.Context, r Redaction, by Actor, step string, words map[string]string) error {
	it, err := s.cfg.Evidence.Get(ctx, r.Evidence)
	if err != nil {
		return err
	}
	details := map[string]string{}
	for k, v := range by.Details {
		details[k] = v
	}
	details["redaction"], details["step"], details["status"] = r.ID, step, string(r.Status)
	if by.Role != "" {
		details["role"] = by.Role
	}
	all := map[string]string{}
	for _, m := range []map[string]string{by.Words, words} {
		for k, v := range m {
			all[k] = v
		}
	}
	words = all
	_, err = s.cfg.Record(ctx, evidence.Event{Type: evidence.RedactionEvent, Evidence: &evidence.EventSubject{ID: it.ID, SHA256: it.SHA256},
		Actor: by.ID, At: evidence.EventTime(s.cfg.Now()), Details: details, Words: words})
	return err
}

// Get returns a redaction.
func (s *Service) Get(ctx context.Context, id string) (Redaction, error) {
	return s.cfg.Store.Get(ctx, id)
}

// ForEvidence lists an item's redactions, oldest first.
func (s *Service) ForEvidence(ctx context.Context, evidenceID string) ([]Redaction, error) {
	return s.cfg.Store.ForEvidence(ctx, evidenceID)
}

// Thumb is a track's picture.
func (s *Service) Thumb(ctx context.Context, id string, track int) ([]byte, error) {
	return s.cfg.Store.Thumb(ctx, id, track)
}

// Patch is an edit of a draft: the hand-made changes (all of them, when
// not nil) and decisions on tracks.
type Patch struct {
	Changes []verify.Change `json:"changes"`
	Tracks  []struct {
		ID     int    `json:"id"`
		Keep   *bool  `json:"keep"`
		Reason string `json:"reason"`
	} `json:"tracks"`
}

// MaxChanges bounds the hand-made changes of one redaction.
const MaxChanges = 1000

// Edit changes a draft.
func (s *Service) Edit(ctx context.Context, id string, by Actor, p Patch) (Redaction, error) {
	return s.update(ctx, id, by, "edited", nil, func(r *Redaction) error {
		if r.Status != Draft {
			return fmt.Errorf("%w: a %s redaction cannot be edited (only a draft)", ErrStep, r.Status)
		}
		if p.Changes != nil {
			if len(p.Changes) > MaxChanges {
				return invalid("changes: at most %d", MaxChanges)
			}
			for i := range p.Changes {
				c := &p.Changes[i]
				c.Source, c.Track, c.Score = "manual", 0, 0
				if c.Kind == verify.ChangeBox && len(c.Keyframes) > 0 && c.From == 0 && c.To == 0 {
					// The keyframes give the range unless it is stated.
					c.From, c.To = c.Keyframes[0].Frame, c.Keyframes[len(c.Keyframes)-1].Frame
				}
				if err := c.Validate(r.Original); err != nil {
					return invalid("changes[%d]: %v", i, err)
				}
				if !s.basis(c.Reason) {
					return invalid("changes[%d]: reason %q is not a legal basis of this server", i, c.Reason)
				}
			}
			r.Changes = p.Changes
		}
		for i, t := range p.Tracks {
			if !slices.ContainsFunc(r.Tracks, func(x Track) bool { return x.ID == t.ID }) {
				return invalid("tracks[%d]: no track %d", i, t.ID)
			}
			if t.Reason != "" && !s.basis(t.Reason) {
				return invalid("tracks[%d]: reason %q is not a legal basis of this server", i, t.Reason)
			}
			if r.Choices == nil {
				r.Choices = map[int]TrackChoice{}
			}
			c := r.Choices[t.ID]
			if t.Keep != nil {
				c.Drop = !*t.Keep
			}
			if t.Reason != "" {
				c.Reason = t.Reason
			}
			r.Choices[t.ID] = c
		}
		return nil
	})
}

// Submit sends a draft for approval.
func (s *Service) Submit(ctx context.Context, id string, by Actor) (Redaction, error) {
	return s.update(ctx, id, by, "submitted", nil, func(r *Redaction) error {
		switch {
		case r.Status != Draft:
			return fmt.Errorf("%w: only a draft can be submitted; this one is %s", ErrStep, r.Status)
		case r.Detection == Detecting:
			return fmt.Errorf("%w: detection is still running", ErrStep)
		case len(r.All()) == 0:
			return invalid("the redaction changes nothing")
		}
		r.Status, r.Comment = Submitted, ""
		return nil
	})
}

// Return sends a submitted redaction back to draft with a comment.
func (s *Service) Return(ctx context.Context, id string, by Actor, comment string) (Redaction, error) {
	if comment == "" || len(comment) > 4000 {
		return Redaction{}, invalid("comment: say what to change (at most 4,000 bytes)")
	}
	return s.update(ctx, id, by, "returned", map[string]string{"comment": comment}, func(r *Redaction) error {
		if r.Status != Submitted {
			return fmt.Errorf("%w: only a submitted redaction can be sent back; this one is %s", ErrStep, r.Status)
		}
		r.Status, r.Comment = Draft, comment
		return nil
	})
}

// Approve approves a submitted redaction, by someone other than its
// author.
func (s *Service) Approve(ctx context.Context, id string, by Actor) (Redaction, error) {
	return s.update(ctx, id, by, "approved", nil, func(r *Redaction) error {
		switch {
		case r.Status != Submitted:
			return fmt.Errorf("%w: only a submitted redaction can be approved; this one is %s", ErrStep, r.Status)
		case r.Author == by.ID:
			return ErrOwn
		}
		r.Status, r.Approver = Approved, by.ID
		return nil
	})
}

// Render queues the render of an approved redaction.
func (s *Service) Render(ctx context.Context, id string, by Actor) (Redaction, error) {
	r, err := s.update(ctx, id, by, "render", nil, func(r *Redaction) error {
		switch {
		case r.Status != Approved:
			return fmt.Errorf("%w: only an approved redaction is rendered; this one is %s", ErrStep, r.Status)
		case r.Rendering:
			return fmt.Errorf("%w: it is being rendered", ErrStep)
		}
		r.Rendering, r.RenderError = true, ""
		return nil
	})
	if err != nil {
		return r, err
	}
	return r, s.cfg.Enqueue(ctx, RenderJob, r.ID)
}

// Release marks a rendered redaction released: its output may be
// published.
func (s *Service) Release(ctx context.Context, id string, by Actor) (Redaction, error) {
	return s.update(ctx, id, by, "released", nil, func(r *Redaction) error {
		if r.Status != Rendered {
			return fmt.Errorf("%w: only a rendered redaction can be released; this one is %s", ErrStep, r.Status)
		}
		r.Status = Released
		return nil
	})
}

// update applies change to the stored redaction, stores it and logs the
// step; a concurrent update is retried on the new version.
func (s *Service) update(ctx context.Context, id string, by Actor, step string, words map[string]string, change func(*Redaction) error) (Redaction, error) {
	for range 5 {
		r, err := s.cfg.Store.Get(ctx, id)
		if err != nil {
			return r, err
		}
		read := r.Version
		if err := change(&r); err != nil {
			return r, err
		}
		r.Updated = s.cfg.Now().UTC()
		err = s.cfg.Store.Update(ctx, r, read)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return r, err
		}
		r.Version = read + 1
		if step == "" {
			return r, nil
		}
		return r, s.step(ctx, r, by, step, words)
	}
	return Redaction{}, ErrConflict
}

// Register adds the job handlers.
func (s *Service) Register(handle func(kind string, h func(ctx context.Context, subject string) error)) {
	handle(DetectJob, s.detectFaces)
	handle(RenderJob, s.render)
}

// JobFailed records that a redaction's job failed for good (the queue
// gave up on it): detection is marked failed with why, so the editor says
// so and the redaction can be submitted with boxes drawn by hand; a
// render is no longer pending, so it can be asked for again. Other kinds
// are not the service's.
func (s *Service) JobFailed(ctx context.Context, kind, id, msg string) error {
	if kind != DetectJob && kind != RenderJob {
		return nil
	}
	_, err := s.update(ctx, id, Actor{}, "", nil, func(r *Redaction) error {
		switch {
		case kind == DetectJob && r.Detection == Detecting:
			r.Detection, r.DetectError = NotFound, msg
		case kind == RenderJob && r.Rendering && r.Status == Approved:
			r.Rendering, r.RenderError = false, msg
		}
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// finders loads the detectors auto asks for, once.
func (s *Service) finders(auto []string) ([]Finder, error) {
	s.detMu.Lock()
	defer s.detMu.Unlock()
	var out []Finder
	for _, a := range auto {
		var err error
		switch {
		case a == "faces" && s.det == nil:
			s.det, err = detect.Load(s.cfg.Models, s.cfg.Threads)
		case a == "text" && s.text == nil:
			s.text, err = detect.LoadText(s.cfg.Models, s.cfg.Threads)
		}
		if errors.Is(err, detect.ErrMissing) {
			return nil, fmt.Errorf("%w: %v", ErrNoDetector, err)
		}
		if err != nil {
			return nil, err
		}
		if a == "faces" {
			out = append(out, Faces(s.det))
		} else {
			out = append(out, Text(s.text))
		}
	}
	return out, nil
}

// detectFaces is the detection job: it finds the faces (and text, if
// asked) of the original and stores them as tracks. A missing detector fails the detection (it
// is not retried); the editor can still draw boxes by hand.
func (s *Service) detectFaces(ctx context.Context, id string) error {
	r, err := s.cfg.Store.Get(ctx, id)
	if err != nil || r.Detection != Detecting {
		return err
	}
	tracks, err := s.find(ctx, r)
	if errors.Is(err, ErrNoDetector) {
		_, uerr := s.update(ctx, id, Actor{}, "", nil, func(r *Redaction) error {
			r.Detection, r.DetectError = NotFound, err.Error()
			return nil
		})
		return uerr
	}
	if err != nil {
		return err
	}
	thumbs := map[int][]byte{}
	for _, t := range tracks {
		if len(t.Thumb) > 0 {
			thumbs[t.ID] = t.Thumb
		}
	}
	if err := s.cfg.Store.PutThumbs(ctx, id, thumbs); err != nil {
		return err
	}
	_, err = s.update(ctx, id, Actor{}, "", nil, func(r *Redaction) error {
		r.Tracks, r.Detection, r.DetectError = tracks, Detected, ""
		return nil
	})
	if err == nil {
		s.cfg.Logger.Info("tracks found", "redaction", id, "tracks", len(tracks))
	}
	return err
}

func (s *Service) find(ctx context.Context, r Redaction) ([]Track, error) {
	finders, err := s.finders(r.Auto)
	if err != nil {
		return nil, err
	}
	it, err := s.cfg.Evidence.Get(ctx, r.Evidence)
	if err != nil {
		return nil, err
	}
	path, cleanup, err := blob.LocalPath(ctx, s.cfg.Blobs, it.SHA256, s.cfg.Tmp)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	o := r.Original
	return Find(ctx, s.cfg.Media, finders, media.Source{Path: path, Container: o.Container},
		media.Frames{Width: o.Width, Height: o.Height, Count: o.Frames}, o.FPS, nil)
}

// Plan is the manifest the render of r reads.
func (s *Service) Plan(ctx context.Context, r Redaction) (verify.Manifest, error) {
	s.verOnce.Do(func() { s.ffmpeg, s.x264, s.verErr = s.cfg.Media.Versions(ctx) })
	if s.verErr != nil {
		return verify.Manifest{}, s.verErr
	}
	m := verify.Manifest{Format: verify.ManifestFormat, Original: r.Original,
		Tools:   verify.ManifestTools{Sightline: version.String(), FFmpeg: s.ffmpeg, X264: s.x264, Recipe: Recipe},
		Changes: r.All(), Author: r.Author, Approver: r.Approver}
	// The detectors whose tracks are kept.
	for kind, p := range map[string]detect.Model{"face": detect.Pinned, "text": detect.PinnedText} {
		kept := slices.ContainsFunc(r.Tracks, func(t Track) bool { return t.Kind == kind && !r.Choices[t.ID].Drop })
		if kept {
			m.Tools.Detectors = append(m.Tools.Detectors, verify.ManifestModel{Name: p.Name, Package: p.Package,
				GraphSHA256: p.GraphSHA256, WeightsSHA256: p.WeightsSHA256, Runtime: p.Runtime})
		}
	}
	slices.SortFunc(m.Tools.Detectors, func(a, b verify.ManifestModel) int { return strings.Compare(a.Name, b.Name) })
	return m, nil
}

// SpanPlan is the plan a release's span of item it is rendered with: the
// plan of its redaction rid (which must be of it and approved), or, for
// "", a plan that changes nothing.
func (s *Service) SpanPlan(ctx context.Context, it evidence.Item, rid string) (verify.Manifest, error) {
	if rid == "" {
		o, err := s.describe(ctx, it)
		if err != nil {
			return verify.Manifest{}, err
		}
		return s.Plan(ctx, Redaction{Original: o})
	}
	r, err := s.cfg.Store.Get(ctx, rid)
	switch {
	case errors.Is(err, ErrNotFound) || err == nil && r.Evidence != it.ID:
		return verify.Manifest{}, invalid("redaction %s is not of recording %s", rid, it.ID)
	case err != nil:
		return verify.Manifest{}, err
	case r.Status != Approved && r.Status != Rendered && r.Status != Released:
		return verify.Manifest{}, invalid("redaction %s is %s, not approved", rid, r.Status)
	}
	return s.Plan(ctx, r)
}

// render is the render job: it renders an approved redaction, stores the
// output as a blob, keeps the manifest and logs the "redacted" event
// naming it, exactly once across crashes.
func (s *Service) render(ctx context.Context, id string) error {
	r, err := s.cfg.Store.Get(ctx, id)
	if err != nil || r.Status != Approved || !r.Rendering {
		return err
	}
	if r.Manifest == nil {
		if err := s.renderOutput(ctx, &r); err != nil {
			s.cfg.Logger.Error("render", "redaction", id, "err", err)
			if _, uerr := s.update(ctx, id, Actor{}, "", nil, func(x *Redaction) error {
				x.RenderError = err.Error()
				return nil
			}); uerr != nil {
				return uerr
			}
			return err
		}
	}
	m, err := verify.ParseManifest(r.Manifest)
	if err != nil {
		return err
	}
	it, err := s.cfg.Evidence.Get(ctx, r.Evidence)
	if err != nil {
		return err
	}
	e := Event(r, m, it)
	index, err := evidence.RecordOnce(ctx, s.cfg.Log, s.cfg.Custody, e, r.LogFrom, true)
	if err != nil {
		return err
	}
	_, err = s.update(ctx, id, Actor{}, "", nil, func(x *Redaction) error {
		x.Status, x.Rendering, x.RenderError, x.Logged, x.LogIndex = Rendered, false, "", true, index
		return nil
	})
	return err
}

// Event is the "redacted" event of a rendered redaction: about the
// original, naming the manifest's and the output's SHA-256. Its time is
// when the manifest was kept, so every attempt logs the same bytes.
func Event(r Redaction, m verify.Manifest, it evidence.Item) evidence.Event {
	return evidence.Event{Type: evidence.Redacted, Evidence: &evidence.EventSubject{ID: it.ID, SHA256: it.SHA256},
		Actor: "sightline", At: evidence.EventTime(r.RenderedAt),
		Details: map[string]string{"redaction": r.ID, "manifest_sha256": m.SHA256(), "sha256": m.Output.SHA256,
			"size": fmt.Sprint(m.Output.Size), "mime": m.Output.MediaType}}
}

// renderOutput renders r, stores its output and keeps the manifest (with
// the log's next index, for the event).
func (s *Service) renderOutput(ctx context.Context, r *Redaction) error {
	plan, err := s.Plan(ctx, *r)
	if err != nil {
		return err
	}
	it, err := s.cfg.Evidence.Get(ctx, r.Evidence)
	if err != nil {
		return err
	}
	path, cleanup, err := blob.LocalPath(ctx, s.cfg.Blobs, it.SHA256, s.cfg.Tmp)
	if err != nil {
		return err
	}
	defer cleanup()
	dir, err := os.MkdirTemp(s.cfg.Tmp, "render-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "redacted.mp4")
	m, err := Render(ctx, s.cfg.Media, media.Source{Path: path, Container: it.Container}, plan, out, dir)
	if err != nil {
		return err
	}
	ref, err := blob.ParseRef(m.Output.SHA256)
	if err != nil {
		return err
	}
	if err := blob.StoreFile(ctx, s.cfg.Blobs, ref, out); err != nil {
		return err
	}
	from, err := s.cfg.Log.NextIndex(ctx)
	if err != nil {
		return err
	}
	updated, err := s.update(ctx, r.ID, Actor{}, "", nil, func(x *Redaction) error {
		if x.Status != Approved || x.Manifest != nil {
			return fmt.Errorf("%w: the redaction changed while it was rendered", ErrConflict)
		}
		x.Manifest, x.LogFrom, x.RenderedAt = m.Canonical(), from, s.cfg.Now().UTC()
		return nil
	})
	if err != nil {
		return err
	}
	*r = updated
	return nil
}
