// Package ingest takes in footage over the tus 1.0 resumable upload
// protocol and turns each complete upload into evidence; an upload of a
// clip to look up is held for its lookup instead (clips.go).
//
// Its promises: an offset the server reports is durable (fsynced in the
// data folder, or, when replicas share the uploads, in their bucket and
// database: see spool.go and shared.go); the SHA-256 is computed while
// the bytes arrive; the final PATCH is answered only once the
// original is in the blob store and its evidence record is committed; and a
// crash at any moment leaves every upload either resumable or evidence,
// never half of one. Files that are not video, audio or still images are
// refused (415) at their first bytes and nothing of them is kept.
//
// An upload created without a length is a stream, a recording sent while
// it is made: it is logged as it grows and kept as partial evidence if its
// sender falls silent (stream.go).
package ingest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	tusd "github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"

	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/durable"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/media"
)

// BasePath is where the tus endpoint is mounted.
const BasePath = "/api/v1/uploads/"

// Config is what a Service needs.
type Config struct {
	// Dir holds uploads in progress. It should be on the same file system
	// as a local blob store, so that finishing an upload is a link rather
	// than a copy.
	Dir string
	// MaxSize is the largest upload accepted, announced as Tus-Max-Size.
	MaxSize int64
	// ExpireAfter is how long an unfinished upload may stay silent before
	// it is discarded (announced as Upload-Expires). Default 7 days.
	ExpireAfter time.Duration
	// CheckpointEvery is how many bytes of one long PATCH may arrive between
	// durable checkpoints. Default 64 MiB.
	CheckpointEvery int64
	// MaxClip is the largest clip to look up taken as an upload (see
	// clips.go); 0: none. ClipExpireAfter is how long one is kept after
	// its last byte, finished or not (DefaultClipExpireAfter if 0).
	MaxClip         int64
	ClipExpireAfter time.Duration

	Blobs    blob.Store
	Evidence evidence.Store
	Media    *media.Tool
	Log      CustodyLog
	Custody  evidence.CustodyIndex
	Logger   *slog.Logger
	Now      func() time.Time // for tests; time.Now if nil
	// Stored, if set, is told of each new evidence item once it is
	// durable (the server queues its media jobs). It is not told again
	// after a crash; whoever needs every item must also look at start-up.
	Stored func(ctx context.Context, it evidence.Item)
	// PartialEvery is how often, at least, a growing stream is logged
	// ("partial" events). Default 10 s.
	PartialEvery time.Duration
	// PartialAfter is how long a stream may stay silent before it is
	// finalized as partial evidence. Default 10 minutes.
	PartialAfter time.Duration
	// Metrics, if set, receives the service's own: uploads being written
	// and bytes acknowledged.
	Metrics prometheus.Registerer
	// PublicURL, if set, is where the upload URLs handed to clients
	// (Location) point, instead of the request's host.
	PublicURL string
	// Shared, if set, keeps the uploads in progress where every server
	// sharing it may continue them, instead of in Dir.
	Shared *Shared
}

// CustodyLog is what ingest needs of the custody log (ledger.Log): the
// "received" event is logged exactly once.
type CustodyLog = evidence.OnceLog

// Service is the ingest endpoint and its upload store.
type Service struct {
	uploads *uploads
	handler *tusd.Handler
	locker  tusd.Locker
	// shared is the spool every server continues uploads in, nil if this
	// server's own; lead releases the sweeps' lock while this server
	// holds it (leading).
	shared  *Shared
	leadMu  sync.Mutex
	lead    func()
	blobs   blob.Store
	items   evidence.Store
	media   *media.Tool
	custody CustodyLog
	index   evidence.CustodyIndex
	log     *slog.Logger
	now     func() time.Time
	stored  func(context.Context, evidence.Item)

	partialEvery, partialAfter time.Duration
}

// New creates the service and the upload directory.
func New(cfg Config) (*Service, error) {
	if cfg.Blobs == nil || cfg.Evidence == nil || cfg.Media == nil || cfg.Log == nil || cfg.Custody == nil {
		return nil, errors.New("ingest: Blobs, Evidence, Media, Log and Custody are required")
	}
	if cfg.ExpireAfter <= 0 {
		cfg.ExpireAfter = 7 * 24 * time.Hour
	}
	if cfg.PartialEvery <= 0 {
		cfg.PartialEvery = 10 * time.Second
	}
	if cfg.PartialAfter <= 0 {
		cfg.PartialAfter = 10 * time.Minute
	}
	if cfg.ClipExpireAfter <= 0 {
		cfg.ClipExpireAfter = DefaultClipExpireAfter
	}
	if cfg.CheckpointEvery <= 0 {
		cfg.CheckpointEvery = 64 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := durable.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	s := &Service{
		blobs:        cfg.Blobs,
		items:        cfg.Evidence,
		media:        cfg.Media,
		custody:      cfg.Log,
		index:        cfg.Custody,
		log:          cfg.Logger,
		now:          cfg.Now,
		stored:       cfg.Stored,
		partialEvery: cfg.PartialEvery,
		partialAfter: cfg.PartialAfter,
	}
	var sp spool = fileSpool{dir: cfg.Dir}
	s.locker = memorylocker.New()
	if s.shared = cfg.Shared; s.shared != nil {
		sp = newSharedSpool(cfg.Shared)
		s.locker = sharedLocker{local: memorylocker.New(), locks: cfg.Shared.Locks}
	}
	s.uploads = &uploads{
		spool:           sp,
		checkpointEvery: cfg.CheckpointEvery,
		expireAfter:     cfg.ExpireAfter,
		clipExpireAfter: cfg.ClipExpireAfter,
		maxClip:         cfg.MaxClip,
		maxSize:         cfg.MaxSize,
		finish:          s.finish,
		now:             cfg.Now,
		writing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sightline_uploads_in_flight",
			Help: "Upload requests (PATCH) whose bytes are being received and written now.",
		}),
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sightline_upload_bytes_received_total",
			Help: "Bytes of uploads received and acknowledged (durable).",
		}),
	}
	if cfg.Metrics != nil {
		for _, c := range []prometheus.Collector{s.uploads.writing, s.uploads.received} {
			if err := cfg.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("ingest: metrics: %w", err)
			}
		}
	}
	composer := tusd.NewStoreComposer()
	composer.UseCore(s.uploads)
	composer.UseTerminater(s.uploads)
	composer.UseLengthDeferrer(s.uploads)
	composer.UseLocker(s.locker)
	h, err := tusd.NewHandler(tusd.Config{
		BasePath:                strings.TrimSuffix(cfg.PublicURL, "/") + BasePath,
		StoreComposer:           composer,
		MaxSize:                 cfg.MaxSize,
		DisableDownload:         true,
		PreUploadCreateCallback: s.validateCreation,
		Logger:                  tusdLogger(cfg.Logger),
	})
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	s.handler = h
	return s, nil
}

// Handler serves the tus endpoint; mount it at BasePath.
func (s *Service) Handler() http.Handler {
	return http.StripPrefix(strings.TrimSuffix(BasePath, "/"), s.protocolExtensions(s.handler))
}

// validateCreation refuses, before anything is stored, an upload whose
// declared metadata is unusable, and stamps the upload with who sends it
// (established by the web layer; see WithUploader).
func (s *Service) validateCreation(ev tusd.HookEvent) (tusd.HTTPResponse, tusd.FileInfoChanges, error) {
	if _, ok := ev.Upload.MetaData[MetaPurpose]; ok {
		meta, err := s.validateClip(ev)
		return tusd.HTTPResponse{}, tusd.FileInfoChanges{MetaData: meta}, err
	}
	if _, err := evidence.ParseSubmission(ev.Upload.MetaData); err != nil {
		return tusd.HTTPResponse{}, tusd.FileInfoChanges{}, tusd.NewError("ERR_INVALID_METADATA", "Upload-Metadata: "+err.Error(), http.StatusBadRequest)
	}
	who, _ := ev.Context.Value(uploaderKey{}).(evidence.Uploader)
	return tusd.HTTPResponse{}, tusd.FileInfoChanges{MetaData: who.Stamp(ev.Upload.MetaData)}, nil
}

type uploaderKey struct{}

// WithUploader returns ctx saying who sends the uploads of its request, as
// the caller established it; without it, a civilian.
func WithUploader(ctx context.Context, u evidence.Uploader) context.Context {
	return context.WithValue(ctx, uploaderKey{}, u)
}

// finish turns the complete upload u into evidence: it reads the file's
// metadata, puts the original in the blob store, logs the "received" event
// and commits the record. It is idempotent, so that it can run again after
// a crash at any step, and the event is logged exactly once.
func (s *Service) finish(ctx context.Context, u *upload) (string, error) {
	digest := evidence.Digest(u.id())
	if it, err := s.items.ByUpload(ctx, digest); err == nil {
		return it.ID, nil
	} else if !errors.Is(err, evidence.ErrNotFound) {
		return "", err
	}
	sub, err := evidence.ParseSubmission(u.st.Info.MetaData)
	if err != nil {
		return "", err // validated at creation; only a corrupt state gets here
	}
	ref, err := u.sum()
	if err != nil {
		return "", err
	}
	// Only an event prepared by an earlier attempt can already be in the
	// log; a fresh one is appended without searching.
	retry := u.st.Received != nil
	if !retry {
		if err := s.prepareReceived(ctx, u, ref, sub); err != nil {
			return "", err
		}
	}
	event, err := evidence.ParseEvent(u.st.Received)
	if err != nil {
		return "", fmt.Errorf("ingest: upload %s: saved event: %w", u.id(), err)
	}
	path, done, err := s.uploads.spool.file(ctx, &u.st)
	if err != nil {
		return "", err
	}
	defer done()
	var info media.Info
	if u.st.Continues != "" {
		// The middle and end of a recording: no header of its own for a
		// tool to read. It plays joined to the part it continues.
		f := *u.st.Format
		info = media.Info{MediaType: f.Kind, MIME: f.MIME, Container: f.Container,
			Error: "the rest of a recording: it continues " + u.st.Continues + " and plays joined to it"}
	} else if info, err = s.media.Inspect(ctx, path, *u.st.Format); err != nil {
		return "", fmt.Errorf("ingest: inspect upload %s: %w", u.id(), err)
	}
	if err := s.storeBlob(ctx, ref, path); err != nil {
		return "", err
	}
	index, err := evidence.RecordOnce(ctx, s.custody, s.index, event, u.st.LogFrom, retry)
	if err != nil {
		return "", err
	}
	at, _ := time.Parse(time.RFC3339Nano, event.At)
	it := evidence.Item{
		ID:            event.Evidence.ID,
		SHA256:        ref,
		Size:          u.st.Info.Size,
		Filename:      sub.Filename,
		Source:        sub.Source,
		Device:        sub.Device,
		Officer:       sub.Officer,
		Note:          sub.Note,
		Uploader:      evidence.UploaderOf(u.st.Info.MetaData),
		ReceivedAt:    at,
		Info:          info,
		ReceivedIndex: index,
		UploadDigest:  digest,
		TokenDigest:   evidence.Digest(evidence.AccessToken(u.id())),
		Partial:       u.st.Partial,
		Continues:     u.st.Continues,
	}
	if err := s.items.Create(ctx, it); err != nil {
		if errors.Is(err, evidence.ErrExists) {
			prev, err := s.items.ByUpload(ctx, digest)
			return prev.ID, err
		}
		return "", err
	}
	s.log.Info("evidence stored", "evidence", it.ID, "sha256", ref.String(), "size", it.Size, "source", it.Source,
		"media_type", it.MediaType, "log_index", index)
	if s.stored != nil {
		s.stored(ctx, it)
	}
	return it.ID, nil
}

// prepareReceived fixes the "received" event of u (its evidence id and
// time) and saves it in the upload's state before anything is logged. The
// public log carries no declared text (file name, device, badge, note):
// only what identifies the evidence, and the uploader as a pseudonym.
func (s *Service) prepareReceived(ctx context.Context, u *upload, ref blob.Ref, sub evidence.Submission) error {
	from, err := s.custody.NextIndex(ctx)
	if err != nil {
		return err
	}
	e := evidence.Event{
		Type:     evidence.Received,
		Evidence: &evidence.EventSubject{ID: cmp.Or(u.st.EvidenceID, evidence.NewID()), SHA256: ref},
		Actor:    u.actor(),
		At:       evidence.EventTime(s.now()),
		Details:  map[string]string{"size": strconv.FormatInt(u.st.Info.Size, 10), "source": string(sub.Source)},
	}
	if u.st.Partial {
		e.Details["partial"] = "true"
	}
	if u.st.Continues != "" {
		e.Details["continues"] = u.st.Continues
	}
	u.st.Received, u.st.LogFrom = e.Canonical(), from
	return u.save(ctx)
}

func (s *Service) storeBlob(ctx context.Context, ref blob.Ref, path string) error {
	if a, ok := s.blobs.(blob.Adopter); ok {
		return a.Adopt(ctx, ref, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return s.blobs.Put(ctx, ref, f)
}

// Evidence returns the evidence made from the upload with this id, or
// evidence.ErrNotFound while it is not stored yet.
func (s *Service) Evidence(ctx context.Context, uploadID string) (evidence.Item, error) {
	if !validID(uploadID) {
		return evidence.Item{}, evidence.ErrNotFound
	}
	return s.items.ByUpload(ctx, evidence.Digest(uploadID))
}

// EvidenceID is the id the evidence an upload becomes has, known from the
// moment the upload is created: a phone still recording can give its
// evidence page's link to someone else. ErrNotFound if there is no such
// upload. Also who sends it (a device token's scope, or nobody).
func (s *Service) EvidenceID(ctx context.Context, uploadID string) (string, evidence.Uploader, error) {
	st, err := s.uploads.readState(ctx, uploadID)
	if err == nil && st.EvidenceID != "" {
		return st.EvidenceID, evidence.UploaderOf(st.Info.MetaData), nil
	}
	it, err := s.Evidence(ctx, uploadID)
	return it.ID, it.Uploader, err
}

// Spooled names what the spool of uploads in progress holds, for tools
// and tests: the file names of a folder spool; for a shared one <id>.json
// for each upload's state and <id>.bin for each upload with bytes in the
// bucket.
func (s *Service) Spooled(ctx context.Context) ([]string, error) {
	return s.uploads.spool.contents(ctx)
}

// Saved is an upload's saved state as it is kept, and the offset it
// acknowledges, read without its lock (a request may be writing it), for
// tools and tests.
func (s *Service) Saved(ctx context.Context, id string) (int64, []byte, error) {
	st, err := s.uploads.readState(ctx, id)
	if err != nil {
		return 0, nil, err
	}
	b, err := json.Marshal(st)
	return st.Info.Offset, b, err
}

// Recover brings the upload directory to a consistent state after a crash:
// complete uploads become evidence, and files that belong to no upload are
// removed. Call it before serving. An upload that cannot be recovered is
// logged and left as it is, to be tried again when a client asks for it;
// one bad upload does not keep the server from starting.
func (s *Service) Recover(ctx context.Context) error {
	if err := s.uploads.spool.clean(ctx); err != nil {
		return err
	}
	ids, err := s.uploads.spool.ids(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if st, err := s.uploads.readState(ctx, id); err == nil && st.Evidence != "" {
			// A crash between the tombstone and the removal of the bytes
			// leaves them: the evidence has them already.
			if err := s.uploads.spool.drop(ctx, id); err != nil {
				return err
			}
			continue
		}
		if err := s.recover(ctx, id); err != nil && !errors.Is(err, errExpired) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.log.Error("cannot recover upload", "upload", evidence.Digest(id)[:16], "err", err)
		}
	}
	return nil
}

// recover loads an upload under its lock, which finishes it if it is
// complete: another server sharing the spool may be writing it.
func (s *Service) recover(ctx context.Context, id string) error {
	unlock, ok, err := s.lockSilent(ctx, id)
	if err != nil || !ok {
		return err
	}
	defer unlock()
	_, err = s.uploads.GetUpload(ctx, id)
	return err
}

// Run removes expired uploads (and the tombstones of old finished ones)
// every interval until ctx ends.
func (s *Service) Run(ctx context.Context, interval time.Duration) {
	every(ctx, interval, func() {
		if !s.leading(ctx) {
			return
		}
		if n, err := s.Expire(ctx); err != nil {
			s.log.Error("expiring uploads", "err", err)
		} else if n > 0 {
			s.log.Info("expired uploads removed", "count", n)
		}
	})
}

// every runs f every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, f func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// Expire removes the uploads silent for longer than the expiry, and
// returns how many it removed.
func (s *Service) Expire(ctx context.Context) (int, error) {
	ids, err := s.uploads.spool.ids(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		st, err := s.uploads.readState(ctx, id)
		if err != nil || !s.now().After(s.uploads.expiresAt(st)) {
			continue
		}
		unlock, ok, err := s.lockSilent(ctx, id)
		if err != nil {
			return n, err
		}
		if !ok {
			continue // in use: not silent after all
		}
		u, err := s.uploads.load(ctx, id)
		if err == nil && s.now().After(s.uploads.expiresAt(u.st)) {
			if err = u.Terminate(ctx); err == nil {
				n++
			}
		}
		unlock()
		if err != nil && !errors.Is(err, tusd.ErrNotFound) {
			return n, err
		}
	}
	return n, nil
}

// lockSilent takes the lock of an upload that looks silent, for the
// background work on it (expiry, finalizing a stream). If a request holds
// the lock for more than a second, the upload is not silent after all:
// ok is false.
func (s *Service) lockSilent(ctx context.Context, id string) (unlock func(), ok bool, err error) {
	lock, err := s.locker.NewLock(id)
	if err != nil {
		return nil, false, err
	}
	lctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := lock.Lock(lctx, func() {}); err != nil {
		return nil, false, nil
	}
	return func() { lock.Unlock() }, true, nil
}
