// Package derive makes, from each original, the files reviewers and the
// aligner need: a poster frame and a strip of thumbnails, the sound as
// 8 kHz mono PCM for alignment, a review copy when browsers cannot
// play the original (HEVC, for example), and its fingerprint (what a clip
// of it is found by, and its seconds' records, whose Merkle root the
// fingerprint's event commits to). Each is a new blob that names its
// parent; the original is only read. Making one is a custody event
// ("derived", about the parent, with the new blob's hash and size), so a
// review copy shown in court can be traced to the original it came from.
//
// The work runs as durable jobs (package jobs), one kind per file, each
// idempotent: a job interrupted by a crash runs again and finds what it
// already made.
package derive

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/sightline/sightline/internal/align"
	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/fingerprint"
	"github.com/sightline/sightline/internal/jobs"
	"github.com/sightline/sightline/internal/media"
	"github.com/sightline/sightline/verify"
)

// Kind names a derived file, and the job that makes it.
type Kind string

// The derived files.
const (
	Poster      Kind = "poster"      // JPEG frame
	Thumbnails  Kind = "thumbnails"  // JPEG strip of frames
	Audio       Kind = "audio"       // raw f32le mono at align.Rate
	Review      Kind = "review"      // H.264/AAC MP4
	Fingerprint Kind = "fingerprint" // fingerprint file (package fingerprint)
)

// Kinds lists every kind of derived file, in the order jobs are queued.
var Kinds = []Kind{Audio, Poster, Thumbnails, Review, Fingerprint}

// MIME is the media type of each kind.
var MIME = map[Kind]string{Poster: "image/jpeg", Thumbnails: "image/jpeg", Audio: "application/octet-stream", Review: "video/mp4",
	Fingerprint: "application/octet-stream"}

// File is a derived file: which original it came from, and which blob
// holds it. It is recorded before its blob is stored and its event
// logged, so that a crash in between leaves a record to finish from, not
// a blob that belongs to nothing; until it is logged it is not served.
type File struct {
	Parent    string // evidence id
	Kind      Kind
	SHA256    blob.Ref
	Size      int64
	MIME      string
	CreatedAt time.Time // also the time of its event
	LogFrom   uint64    // the log's next index before its event was first appended
	Logged    bool      // its "derived" event is in the log, at LogIndex
	LogIndex  uint64
	// Commitment is what a fingerprint's event commits to, read from its
	// file: the Merkle root of the recording's seconds' records and their
	// number (not stored: the file is).
	Commitment *Commitment
}

// Commitment is a recording's commitment to its seconds' records.
type Commitment struct {
	Root    string // hex SHA-256 Merkle root (verify.RecordsRoot)
	Records int
}

// event is the custody event that records f (the same bytes on every
// attempt, so that a retry finds it in the log).
func (f File) event(it evidence.Item) evidence.Event {
	e := evidence.Event{Type: evidence.Derived, Evidence: &evidence.EventSubject{ID: it.ID, SHA256: it.SHA256},
		Actor: "sightline", At: evidence.EventTime(f.CreatedAt),
		Details: map[string]string{"kind": string(f.Kind), "sha256": f.SHA256.String(), "size": fmt.Sprint(f.Size), "mime": f.MIME}}
	if c := f.Commitment; c != nil {
		e.Details["records_root"], e.Details["records"] = c.Root, fmt.Sprint(c.Records)
	}
	return e
}

// ErrNotFound says a file has not been derived (yet, or ever).
var ErrNotFound = errors.New("derive: no such derived file")

// Store keeps the record of derived files.
type Store interface {
	// Put records f, not yet logged; it replaces an earlier record of the
	// same parent and kind only if that one was not logged either.
	Put(ctx context.Context, f File) error
	// SetLogged records that f's event is in the log at index.
	SetLogged(ctx context.Context, parent string, kind Kind, index uint64) error
	// Get returns the parent's file of kind, or ErrNotFound.
	Get(ctx context.Context, parent string, kind Kind) (File, error)
}

// ThumbnailCount is how many frames a thumbnail strip holds.
const ThumbnailCount = 10

// Config is what a Deriver needs.
type Config struct {
	Evidence evidence.Store
	Blobs    blob.Store
	Files    Store
	Log      evidence.OnceLog
	Index    evidence.CustodyIndex
	// Media runs ffmpeg, with the time and memory limits of derivations.
	Media *media.Tool
	// Tmp holds files being made; on the blob store's file system so that
	// a finished file is linked, not copied.
	Tmp    string
	Logger *slog.Logger
	Now    func() time.Time
}

// Deriver makes derived files as jobs.
type Deriver struct{ cfg Config }

// New returns a Deriver.
func New(cfg Config) (*Deriver, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Deriver{cfg}, os.MkdirAll(cfg.Tmp, 0o700)
}

// Register adds a job handler per kind to q; done is called after a
// file is made or found not needed (the aligner waits for audio).
func (d *Deriver) Register(q *jobs.Queue, done func(ctx context.Context, parent string, k Kind) error) {
	for _, k := range Kinds {
		q.Handle(string(k), func(ctx context.Context, j jobs.Job) error {
			if err := d.make(ctx, j.Subject, k); err != nil {
				return err
			}
			if done != nil {
				return done(ctx, j.Subject, k)
			}
			return nil
		})
	}
}

// Needed reports whether an item should have a file of kind: pictures
// and review copies only for video, a review copy only when browsers
// cannot play the original or cannot seek in it (a recording streamed from
// a browser states no duration and no index), audio when it has sound.
func Needed(it evidence.Item, k Kind) bool {
	switch k {
	case Poster, Thumbnails:
		return it.Video != nil && it.DurationS != nil && *it.DurationS > 0
	case Audio:
		return it.Audio != nil
	case Review:
		// A still image is shown as it is: its "video" stream is the
		// picture.
		return it.MediaType == media.Video && it.Video != nil && (!media.BrowserPlays(it.Info) || it.Unindexed)
	case Fingerprint:
		return (it.MediaType == media.Video || it.MediaType == media.Audio) && it.DurationS != nil && *it.DurationS > 0 &&
			(it.Audio != nil || it.Video != nil)
	}
	return false
}

// make makes the parent's file of kind unless it exists or is not needed.
func (d *Deriver) make(ctx context.Context, parent string, k Kind) error {
	it, err := d.cfg.Evidence.Get(ctx, parent)
	if err != nil {
		return err
	}
	if !Needed(it, k) {
		return nil
	}
	f, err := d.cfg.Files.Get(ctx, parent, k)
	switch {
	case err == nil && f.Logged:
		return nil
	case err == nil && d.stored(ctx, f):
		// Made before a crash, not yet logged: finish it.
	case err == nil || errors.Is(err, ErrNotFound):
		if f, err = d.makeFile(ctx, it, k); err != nil {
			return err
		}
	default:
		return err
	}
	if k == Fingerprint {
		if f.Commitment, err = d.commitment(ctx, f); err != nil {
			return err
		}
	}
	index, err := evidence.RecordOnce(ctx, d.cfg.Log, d.cfg.Index, f.event(it), f.LogFrom, true)
	if err != nil {
		return err
	}
	d.cfg.Logger.Info("derived", "evidence", parent, "kind", k, "size", f.Size)
	return d.cfg.Files.SetLogged(ctx, parent, k, index)
}

// stored reports whether f's blob is in the store, whole.
func (d *Deriver) stored(ctx context.Context, f File) bool {
	size, err := d.cfg.Blobs.Stat(ctx, f.SHA256)
	return err == nil && size == f.Size
}

// makeFile makes the file of kind from it's original, records it and
// stores its blob.
func (d *Deriver) makeFile(ctx context.Context, it evidence.Item, k Kind) (File, error) {
	parent := it.ID
	path, cleanup, err := blob.LocalPath(ctx, d.cfg.Blobs, it.SHA256, d.cfg.Tmp)
	if err != nil {
		return File{}, err
	}
	defer cleanup()
	in := media.Source{Path: path, Container: it.Container}
	dir, err := os.MkdirTemp(d.cfg.Tmp, string(k)+"-")
	if err != nil {
		return File{}, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, string(k))
	var dur float64
	if it.DurationS != nil {
		dur = *it.DurationS
	}
	switch k {
	case Poster:
		err = d.cfg.Media.Poster(ctx, in, out, dur)
	case Thumbnails:
		err = d.cfg.Media.Thumbnails(ctx, in, out, dur, ThumbnailCount)
	case Audio:
		err = d.cfg.Media.Audio(ctx, in, out, align.Rate)
	case Review:
		err = d.cfg.Media.ReviewCopy(ctx, in, out)
	case Fingerprint:
		err = d.fingerprint(ctx, it, in, dir, out)
	}
	if err != nil {
		return File{}, fmt.Errorf("making the %s of %s: %w", k, parent, err)
	}
	ref, size, err := blob.HashFile(out)
	if err != nil {
		return File{}, err
	}
	if size == 0 && k != Audio {
		return File{}, fmt.Errorf("making the %s of %s: ffmpeg wrote nothing (the %s cannot be decoded)", k, parent, it.MediaType)
	}
	// A sound track that decodes to much less than the clip's length is
	// damaged: aligning by what is left would mislead.
	if got := float64(size) / 4 / align.Rate; k == Audio && dur > 2 && got < dur/2 {
		return File{}, fmt.Errorf("making the %s of %s: only %.1f s of %.1f s of sound could be decoded", k, parent, got, dur)
	}
	from, err := d.cfg.Log.NextIndex(ctx)
	if err != nil {
		return File{}, err
	}
	f := File{Parent: parent, Kind: k, SHA256: ref, Size: size, MIME: MIME[k], CreatedAt: d.cfg.Now().UTC().Truncate(time.Microsecond), LogFrom: from}
	if err := d.cfg.Files.Put(ctx, f); err != nil {
		return File{}, err
	}
	return f, blob.StoreFile(ctx, d.cfg.Blobs, ref, out)
}

// ReadAudio returns an item's sound for alignment; ErrNotFound if it has
// none (yet).
func (d *Deriver) ReadAudio(ctx context.Context, parent string) ([]float32, error) {
	f, err := d.cfg.Files.Get(ctx, parent, Audio)
	if err == nil && !f.Logged {
		err = ErrNotFound // its job has not finished
	}
	if err != nil {
		return nil, err
	}
	r, err := d.cfg.Blobs.Open(ctx, f.SHA256)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return align.FromF32LE(b), nil
}

// ReadAudioSpan reads n samples of an audio file (raw f32le mono at
// align.Rate) from sample from on: fewer at its end, none past it.
func ReadAudioSpan(ctx context.Context, blobs blob.Store, f File, from, n int) ([]float32, error) {
	if f.Kind != Audio || from < 0 || n < 0 {
		return nil, fmt.Errorf("derive: no span %d+%d of a %s file", from, n, f.Kind)
	}
	r, err := blobs.Open(ctx, f.SHA256)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	start := min(int64(from)*4, f.Size)
	if _, err := r.Seek(start, io.SeekStart); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(r, min(int64(n)*4, f.Size-start)))
	if err != nil {
		return nil, err
	}
	return align.FromF32LE(b), nil
}

// fingerprint writes the fingerprint file of it (sound and pictures, the
// seconds' records) to out.
func (d *Deriver) fingerprint(ctx context.Context, it evidence.Item, in media.Source, dir, out string) error {
	fin := fingerprint.Input{Source: in, Sound: it.Audio != nil}
	if it.MediaType == media.Video && it.Video != nil {
		fin.Width, fin.Height = it.Video.Width, it.Video.Height
	}
	fp, err := fingerprint.Make(ctx, d.cfg.Media, fin, dir)
	if err != nil {
		return err
	}
	return os.WriteFile(out, fp.Marshal(), 0o600)
}

// ReadFingerprint reads a fingerprint file from the blob store.
func ReadFingerprint(ctx context.Context, blobs blob.Store, f File) (*fingerprint.Fingerprint, error) {
	r, err := blobs.Open(ctx, f.SHA256)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, f.Size+1))
	if err != nil {
		return nil, err
	}
	return fingerprint.Unmarshal(b)
}

// commitment reads what a fingerprint file commits to.
func (d *Deriver) commitment(ctx context.Context, f File) (*Commitment, error) {
	fp, err := ReadFingerprint(ctx, d.cfg.Blobs, f)
	if err != nil {
		return nil, err
	}
	return CommitmentOf(fp)
}

// CommitmentOf is the commitment of a fingerprint's records.
func CommitmentOf(fp *fingerprint.Fingerprint) (*Commitment, error) {
	root, err := verify.RecordsRoot(fp.Records)
	if err != nil {
		return nil, err
	}
	return &Commitment{Root: hex.EncodeToString(root[:]), Records: len(fp.Records)}, nil
}
