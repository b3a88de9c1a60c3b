package release

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/derive"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/fingerprint"
	"github.com/sightline/sightline/internal/media"
	"github.com/sightline/sightline/internal/redact"
	"github.com/sightline/sightline/verify"
)

// PublishJob is the kind of the job that renders and publishes a release.
const PublishJob = "release-publish"

// Redactions gives the plan a span is rendered with (redact.Service).
type Redactions interface {
	SpanPlan(ctx context.Context, it evidence.Item, rid string) (verify.Manifest, error)
}

// Publish asks for an approved release to be published: the
// PublishJob renders its spans, keeps its manifest and logs it.
func (s *Service) Publish(ctx context.Context, actor, id string) (Release, error) {
	r, err := s.cfg.Store.Get(ctx, id)
	if err != nil {
		return r, err
	}
	switch {
	case r.Status != Approved:
		return r, fmt.Errorf("%w: only an approved release is published, this one is %s", ErrStep, r.Status)
	case r.Publishing:
		return r, nil
	}
	version := r.Version
	r.Publishing, r.PublishError, r.Updated = true, "", s.cfg.Now().UTC()
	if err := s.cfg.Store.Update(ctx, r, version); err != nil {
		return r, err
	}
	r.Version = version + 1
	if err := s.cfg.Enqueue(ctx, PublishJob, r.ID); err != nil {
		return r, err
	}
	return r, s.event(ctx, r, actor, "publish", false)
}

// JobFailed records that the publish job of release id gave up: it is no
// longer publishing, and says why, so that it can be asked for again.
func (s *Service) JobFailed(ctx context.Context, kind, id, msg string) error {
	if kind != PublishJob {
		return nil
	}
	r, err := s.cfg.Store.Get(ctx, id)
	if err != nil || r.Status != Approved {
		return err
	}
	version := r.Version
	r.Publishing, r.PublishError = false, msg
	return s.cfg.Store.Update(ctx, r, version)
}

// publish is the job: it renders each span not yet rendered (keeping
// each file as it is made), writes the manifest, logs each file's
// "released" event exactly once, and marks the release published.
func (s *Service) publish(ctx context.Context, id string) error {
	r, err := s.cfg.Store.Get(ctx, id)
	if err != nil || r.Status != Approved || !r.Publishing {
		return err
	}
	if r.Manifest == nil {
		if err := s.render(ctx, &r); err != nil {
			version := r.Version
			r.PublishError = err.Error()
			if uerr := s.cfg.Store.Update(ctx, r, version); uerr != nil {
				return errors.Join(err, uerr)
			}
			return err
		}
	}
	m, err := verify.ParseReleaseManifest(r.Manifest)
	if err != nil {
		return err
	}
	for i := range r.Files {
		f := &r.Files[i]
		if f.Logged {
			continue
		}
		it, err := s.cfg.Evidence.Get(ctx, f.Evidence)
		if err != nil {
			return err
		}
		index, err := evidence.RecordOnce(ctx, s.cfg.Log, s.cfg.Custody, releasedEvent(r, m, *f, it), f.LogFrom, true)
		if err != nil {
			return err
		}
		f.Logged, f.LogIndex = true, index
	}
	version := r.Version
	r.Status, r.Publishing, r.PublishError = Published, false, ""
	if err := s.cfg.Store.Update(ctx, r, version); err != nil {
		return err
	}
	return s.event(ctx, r, "sightline", "published", false)
}

// releasedEvent is the "released" event of one file: about its original,
// naming the release, the manifest's SHA-256 and the file's. Its time is
// when the release was published, so every attempt logs the same bytes.
func releasedEvent(r Release, m verify.ReleaseManifest, f File, it evidence.Item) evidence.Event {
	return evidence.Event{Type: evidence.Released, Evidence: &evidence.EventSubject{ID: it.ID, SHA256: it.SHA256}, Incident: r.Incident,
		Actor: "sightline", At: evidence.EventTime(r.Published),
		Details: map[string]string{"release": r.ID, "version": fmt.Sprint(r.Number), "manifest_sha256": m.SHA256(),
			"sha256": f.SHA256, "size": fmt.Sprint(f.Size), "mime": "video/mp4"}}
}

// render renders r's spans into blobs and writes its manifest, keeping
// r up to date in the store after each file (a crash goes on from there).
func (s *Service) render(ctx context.Context, r *Release) error {
	tl, err := s.cfg.Incidents.Timeline(ctx, r.Incident)
	if err != nil {
		return err
	}
	at := map[string]float64{} // each recording's start on the incident's clock
	m := verify.ReleaseManifest{Format: verify.ReleaseFormat, Release: r.ID, Version: r.Number, Incident: r.Incident,
		Title: r.Title, Summary: r.Summary, Previous: []verify.ReleaseVersion{}, Withheld: []verify.ReleaseWithheld{},
		Author: r.Author, Approver: r.Approver}
	for _, c := range tl.Clips {
		at[c.Evidence] = c.Offset
		it, err := s.cfg.Evidence.Get(ctx, c.Evidence)
		if err != nil {
			return err
		}
		m.Recordings = append(m.Recordings, verify.ReleaseRecording{Evidence: c.Evidence, SHA256: it.SHA256.String(), Source: string(c.Source),
			IncidentFromS: round(c.Offset), DurationS: round(c.Duration), Method: string(c.Method), Confidence: round(c.Confidence), HasVideo: c.HasVideo})
	}
	earlier, err := s.cfg.Store.OfIncident(ctx, r.Incident)
	if err != nil {
		return err
	}
	for _, e := range earlier {
		if e.Number < r.Number && e.Status == Published {
			m.Previous = append(m.Previous, verify.ReleaseVersion{Release: e.ID, Version: e.Number})
		}
	}
	for _, w := range r.Withheld {
		m.Withheld = append(m.Withheld, verify.ReleaseWithheld{Evidence: w.Evidence, FromS: w.FromS, ToS: w.ToS,
			IncidentFromS: round(at[w.Evidence] + w.FromS), Reason: w.Reason})
	}
	for i, sp := range r.Spans {
		it, err := s.cfg.Evidence.Get(ctx, sp.Evidence)
		if err != nil {
			return err
		}
		plan, err := s.cfg.Redactions.SpanPlan(ctx, it, sp.Redaction)
		if err != nil {
			return err
		}
		m.Tools = plan.Tools
		m.Tools.Detectors = nil
		o := plan.Original
		from, to := int(math.Round(sp.FromS*o.FPS)), min(int(math.Round(sp.ToS*o.FPS)), o.Frames)
		if from >= to {
			return fmt.Errorf("%w: span %d holds no frame", ErrInvalid, i+1)
		}
		if i >= len(r.Files) {
			f, err := s.renderSpan(ctx, it, plan, from, to)
			if err != nil {
				return fmt.Errorf("span %d: %w", i+1, err)
			}
			f.Span, f.FromFrame, f.ToFrame = sp, from, to
			r.Files = append(r.Files, f)
			version := r.Version
			if err := s.cfg.Store.Update(ctx, *r, version); err != nil {
				return err
			}
			r.Version = version + 1
		}
		fp, err := s.cfg.Files.Get(ctx, it.ID, derive.Fingerprint)
		if err == nil && !fp.Logged {
			err = derive.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("span %d: the recording's fingerprint: %w", i+1, err)
		}
		fpFile, err := derive.ReadFingerprint(ctx, s.cfg.Blobs, fp)
		if err != nil {
			return err
		}
		c, err := derive.CommitmentOf(fpFile)
		if err != nil {
			return err
		}
		f := r.Files[i]
		rf := verify.ReleaseFile{Original: o, Fingerprint: verify.ReleaseCommitment{RecordsRoot: c.Root, Records: c.Records, LogIndex: fp.LogIndex},
			FromFrame: from, ToFrame: to, FromS: round(float64(from) / o.FPS), ToS: round(float64(to) / o.FPS),
			IncidentFromS: round(at[it.ID] + float64(from)/o.FPS), Changes: within(plan.Changes, from, to, o.FPS),
			SHA256: f.SHA256, Size: f.Size, StreamHashes: f.Streams}
		if sp.Redaction != "" {
			rf.Redaction, rf.RedactionPlan = sp.Redaction, plan.SHA256()
		}
		m.Files = append(m.Files, rf)
	}
	from, err := s.cfg.Log.NextIndex(ctx)
	if err != nil {
		return err
	}
	for i := range r.Files {
		r.Files[i].LogFrom = from
	}
	r.Manifest, r.Published = m.Canonical(), s.cfg.Now().UTC()
	version := r.Version
	if err := s.cfg.Store.Update(ctx, *r, version); err != nil {
		return err
	}
	r.Version = version + 1
	return nil
}

// renderSpan renders frames [from, to) of it with plan into a new blob.
func (s *Service) renderSpan(ctx context.Context, it evidence.Item, plan verify.Manifest, from, to int) (File, error) {
	path, cleanup, err := blob.LocalPath(ctx, s.cfg.Blobs, it.SHA256, s.cfg.Tmp)
	if err != nil {
		return File{}, err
	}
	defer cleanup()
	dir, err := os.MkdirTemp(s.cfg.Tmp, "release-")
	if err != nil {
		return File{}, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "span.mp4")
	m, err := redact.RenderSpan(ctx, s.cfg.Media, media.Source{Path: path, Container: it.Container}, plan, from, to, out, dir)
	if err != nil {
		return File{}, err
	}
	ref, err := blob.ParseRef(m.Output.SHA256)
	if err != nil {
		return File{}, err
	}
	if err := blob.StoreFile(ctx, s.cfg.Blobs, ref, out); err != nil {
		return File{}, err
	}
	return File{SHA256: m.Output.SHA256, Size: m.Output.Size, Streams: m.StreamHashes}, nil
}

// within are the changes of a plan that touch frames [from, to).
func within(cs []verify.Change, from, to int, fps float64) []verify.Change {
	out := []verify.Change{}
	for _, c := range cs {
		switch c.Kind {
		case verify.ChangeBox:
			if c.From < to && c.To >= from {
				out = append(out, c)
			}
		default:
			if c.FromS < float64(to)/fps && c.ToS > float64(from)/fps {
				out = append(out, c)
			}
		}
	}
	return slices.Clip(out)
}

// round keeps a time to the microsecond, so the manifest reads cleanly.
func round(x float64) float64 { return math.Round(x*1e6) / 1e6 }

// Disclose returns the records of the seconds file f of a manifest shows
// (those wholly inside its span), as hex, with their inclusion proofs in
// the tree of all its original's records (fp, its fingerprint).
func Disclose(fp *fingerprint.Fingerprint, f verify.ReleaseFile) ([]string, [][]string, error) {
	first, last := int(math.Ceil(f.FromS-1e-6)), min(int(math.Floor(f.ToS+1e-6)), len(fp.Records))
	records, proofs := []string{}, [][]string{}
	if first >= last {
		return records, proofs, nil
	}
	ps, err := verify.ProveRecords(fp.Records, first, last)
	if err != nil {
		return nil, nil, err
	}
	for i, p := range ps {
		records = append(records, hex.EncodeToString(fp.Records[first+i].Bytes()))
		proofs = append(proofs, verify.EncodeProofHashes(p))
	}
	return records, proofs, nil
}
