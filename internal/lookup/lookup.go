// Package lookup answers "where is this clip from?" for the server. It
// keeps the fingerprint index (package fingerprint) of every recording:
// each recording's fingerprint is a derived file made by a media job at
// intake (package derive), added to the index when it is logged. The
// index keeps its sealed segments in a folder beside the database, each
// written once; at start-up it reads them and adds again the recordings
// they do not hold, from their fingerprint files, so losing the folder
// loses nothing but the time to build it again. A clip is read once (its sound and its frames), searched
// for, and forgotten: nothing of it is stored.
package lookup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/derive"
	"github.com/sightline/sightline/internal/fingerprint"
	"github.com/sightline/sightline/internal/media"
)

// DefaultMaxClip is the largest clip searched for, in bytes, unless
// configured otherwise.
const DefaultMaxClip = 500 << 20

// Files finds the fingerprint files.
type Files interface {
	// Fingerprints lists every logged one.
	Fingerprints(ctx context.Context) ([]derive.File, error)
	// Get returns parent's derived file of kind.
	Get(ctx context.Context, parent string, kind derive.Kind) (derive.File, error)
}

// Config is what a Service needs.
type Config struct {
	Files Files
	Blobs blob.Store
	// Media reads clips, with its time and memory limits; its Parallel
	// bounds how many clips are read at once.
	Media *media.Tool
	// Tmp holds a clip's work files while it is read.
	Tmp    string
	Logger *slog.Logger
	// MaxClip is the largest clip read, in bytes (DefaultMaxClip if 0).
	MaxClip int64
	// Dir keeps the index's segments (fingerprint.Options.Dir).
	Dir string
}

// Service keeps the index and searches it.
type Service struct {
	cfg Config
	ix  *fingerprint.Index
}

// New returns a Service with an empty index; Load fills it.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxClip <= 0 {
		cfg.MaxClip = DefaultMaxClip
	}
	s := &Service{cfg: cfg}
	s.ix = fingerprint.NewIndex(fingerprint.Options{Dir: cfg.Dir, Frames: s.frames})
	return s
}

// frames reads the picture hashes of a recording's frames from its
// fingerprint file, to measure a match by pictures.
func (s *Service) frames(id string) ([]uint64, error) {
	ctx := context.Background()
	f, err := s.cfg.Files.Get(ctx, id, derive.Fingerprint)
	if err != nil {
		return nil, err
	}
	fp, err := derive.ReadFingerprint(ctx, s.cfg.Blobs, f)
	if err != nil {
		return nil, err
	}
	return fp.Frames, nil
}

// MaxClip is the largest clip Search reads, in bytes.
func (s *Service) MaxClip() int64 { return s.cfg.MaxClip }

// Load reads the index's segments, then adds every logged fingerprint
// file they do not hold (those added since the last segment was sealed,
// or all of them if the segments were lost).
func (s *Service) Load(ctx context.Context) error {
	skipped, err := s.ix.Open()
	if err != nil {
		return err
	}
	for _, why := range skipped {
		s.cfg.Logger.Error("a damaged index segment is skipped; its recordings are indexed again", "why", why)
	}
	files, err := s.cfg.Files.Fingerprints(ctx)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := s.Add(ctx, f); err != nil {
			// One damaged file (the audit reports it) does not keep the
			// rest out of the index.
			s.cfg.Logger.Error("indexing a fingerprint", "evidence", f.Parent, "err", err)
		}
	}
	s.cfg.Logger.Info("clip lookup index loaded", "recordings", s.ix.Len())
	return nil
}

// Add indexes a logged fingerprint file.
func (s *Service) Add(ctx context.Context, f derive.File) error {
	if f.Kind != derive.Fingerprint || !f.Logged || s.ix.Has(f.Parent) {
		return nil
	}
	fp, err := derive.ReadFingerprint(ctx, s.cfg.Blobs, f)
	if err != nil {
		return fmt.Errorf("lookup: the fingerprint of %s: %w", f.Parent, err)
	}
	return s.ix.Add(f.Parent, fp)
}

// Errors of a clip.
var (
	// ErrNotMedia says the clip is not a video or a sound file.
	ErrNotMedia = errors.New("lookup: the clip is not a video or sound file")
	// ErrTooLarge says the clip is larger than the service reads.
	ErrTooLarge = errors.New("lookup: the clip is too large")
	// ErrUnreadable says the clip's sound and pictures cannot be decoded.
	ErrUnreadable = errors.New("lookup: nothing of the clip could be decoded")
)

// Search reads a clip from r (at most MaxClip bytes) into a work file,
// and returns where it comes from among the recordings allow allows
// (nil: all), best first. The work file is removed before it returns.
func (s *Service) Search(ctx context.Context, r io.Reader, allow fingerprint.Filter) ([]fingerprint.Match, error) {
	f, err := os.CreateTemp(s.cfg.Tmp, "clip-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	head, format, err := clipHead(r)
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(head); err != nil {
		return nil, err
	}
	copied, err := io.Copy(f, io.LimitReader(r, s.cfg.MaxClip-int64(len(head))+1))
	if err != nil {
		return nil, err
	}
	if int64(len(head))+copied > s.cfg.MaxClip {
		return nil, ErrTooLarge
	}
	return s.search(ctx, f.Name(), format, allow)
}

// SearchFile is Search of a clip already in a file (a finished upload),
// which it only reads.
func (s *Service) SearchFile(ctx context.Context, path string, allow fingerprint.Filter) ([]fingerprint.Match, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > s.cfg.MaxClip {
		return nil, ErrTooLarge
	}
	_, format, err := clipHead(f)
	if err != nil {
		return nil, err
	}
	return s.search(ctx, path, format, allow)
}

// clipHead reads a clip's first bytes and says from them what it is:
// video or sound, or ErrNotMedia.
func clipHead(r io.Reader) ([]byte, media.Format, error) {
	head := make([]byte, media.SniffLen)
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, media.Format{}, err
	}
	format, ok := media.Sniff(head[:n])
	if !ok || (format.Kind != media.Video && format.Kind != media.Audio) {
		return nil, media.Format{}, ErrNotMedia
	}
	return head[:n], format, nil
}

// search fingerprints the clip at path and searches for it.
func (s *Service) search(ctx context.Context, path string, format media.Format, allow fingerprint.Filter) ([]fingerprint.Match, error) {
	info, err := s.cfg.Media.Inspect(ctx, path, format)
	if err != nil {
		return nil, err
	}
	in := fingerprint.Input{Source: media.Source{Path: path, Container: format.Container}, Sound: info.Audio != nil}
	if info.Video != nil && format.Kind == media.Video {
		in.Width, in.Height = info.Video.Width, info.Video.Height
	}
	if !in.Sound && in.Width == 0 {
		return nil, ErrUnreadable
	}
	q, err := fingerprint.QueryFile(ctx, s.cfg.Media, in, s.cfg.Tmp)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnreadable, err)
	}
	matches := s.ix.Search(q, allow)
	for i := range matches {
		if err := s.refine(ctx, q, &matches[i]); err != nil {
			// The landmarks' offset stands.
			s.cfg.Logger.Warn("refining a clip's offset", "evidence", matches[i].ID, "err", err)
		}
	}
	return matches, nil
}

// refine sharpens a match's offset by GCC-PHAT against the recording's
// sound, as its audio job extracted it.
func (s *Service) refine(ctx context.Context, q *fingerprint.Query, m *fingerprint.Match) error {
	_, err := q.Refine(m, func(from, n int) ([]float32, error) {
		f, err := s.cfg.Files.Get(ctx, m.ID, derive.Audio)
		if err == nil && !f.Logged {
			err = fmt.Errorf("lookup: the sound of %s is not extracted yet", m.ID)
		}
		if err != nil {
			return nil, err
		}
		return derive.ReadAudioSpan(ctx, s.cfg.Blobs, f, from, n)
	})
	return err
}
