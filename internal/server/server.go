// Package server wires Sightline's parts into one running server from one
// configuration: which database and which blob store (an explicit choice
// here, not a registry), the ingest service, and the HTTP handler.
package server

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sightline/sightline/internal/account"
	"github.com/sightline/sightline/internal/audit"
	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/cases"
	"github.com/sightline/sightline/internal/court"
	"github.com/sightline/sightline/internal/db"
	"github.com/sightline/sightline/internal/derive"
	"github.com/sightline/sightline/internal/durable"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/incident"
	"github.com/sightline/sightline/internal/ingest"
	"github.com/sightline/sightline/internal/jobs"
	"github.com/sightline/sightline/internal/ledger"
	"github.com/sightline/sightline/internal/lookup"
	"github.com/sightline/sightline/internal/media"
	"github.com/sightline/sightline/internal/notify"
	"github.com/sightline/sightline/internal/redact"
	"github.com/sightline/sightline/internal/release"
	"github.com/sightline/sightline/internal/review"
	"github.com/sightline/sightline/internal/web"
)

// Config is the server's whole configuration; each field's comment is its
// manual.
type Config struct {
	// Database is where the records are kept: a postgres:// URL, or ""
	// for the SQLite file sightline.db in Data.
	Database string
	// Log is the custody log's folder; Data's log/ if empty. Servers
	// sharing one database must append to one log: on one host, give
	// each the same folder (tessera's POSIX storage takes a file lock
	// around each write) and the same key (a copy of log.key in each data
	// folder).
	Log string
	// SharedLog, if set, is the custody log several servers append to at
	// once, from any number of hosts: tiles in a bucket, entries
	// sequenced in a MySQL-compatible database (ledger.Shared). Log is
	// then unused, the log's checkpoint history is kept in the database,
	// and the signing key must exist already (LogKey or LogKeyFile): two
	// servers starting at once must not each make one.
	SharedLog *ledger.Shared
	// LogKey is the custody log's signing key itself, in note format (as
	// replicas get it from their environment); if empty, it is read from
	// LogKeyFile, Data's log.key if that is empty (made there for a new
	// log kept in a folder).
	LogKey, LogKeyFile string
	// Blobs keeps the originals and the files made from them; if nil, a
	// blob.Local in Data's blobs/ (blob.Open opens the store --blobs
	// names).
	Blobs blob.Store
	// Data is the folder holding what the server keeps on its own disk:
	//   sightline.db  the metadata (SQLite, unless Database names another)
	//   blobs/        originals, named by SHA-256, read-only (unless Blobs
	//                 is another store)
	//   log/          the custody log, and log.key its signing key
	//   uploads/      uploads in progress
	// It is created if missing. Keep it on a local file system with honest
	// fsync (ext4, XFS, ZFS).
	Data string
	// MaxSize is the largest file accepted, announced to tus clients as
	// Tus-Max-Size. Default 64 GiB.
	MaxSize int64
	// UploadExpiry is how long an unfinished upload may stay silent before
	// it is discarded; announced as Upload-Expires. Default 7 days.
	UploadExpiry time.Duration
	// UploadCheckpoint is how many bytes of one long PATCH may arrive between
	// durable checkpoints of its progress. Default 64 MiB.
	UploadCheckpoint int64
	// PartialEvery is how often, at least, a recording streamed while it is
	// made is logged as it grows ("partial" events). Default 10 s.
	PartialEvery time.Duration
	// PartialAfter is how long a streamed recording may stay silent before
	// it is kept as evidence marked partial (its phone may have been taken).
	// Default 10 minutes.
	PartialAfter time.Duration
	// ShareCodeTTL is how long a civilian's share code may be claimed by a
	// supervisor. Default 30 minutes.
	ShareCodeTTL time.Duration
	// CaseDeadline is how long from receipt a case may stay open
	// (default 365 days); CaseTarget is the goal (default 180 days);
	// CaseNoticeEvery is how often an open case's complainant is told it
	// is still open (default 180 days).
	CaseDeadline, CaseTarget, CaseNoticeEvery time.Duration
	// AlertAllegations flags an officer named in that many allegations
	// within AlertWindow (default 365 days) for early intervention; 0
	// flags no one.
	AlertAllegations int
	AlertWindow      time.Duration
	// SMTP is the host:port of a mail relay that sends complainants their
	// notices, from SMTPFrom; none means notices are only on their page.
	SMTP, SMTPFrom string
	// Organization names who runs the server, in evidence packages
	// (their bag-info Source-Organization); the log's origin if empty.
	Organization string
	// LogOrigin names the custody log in its signed checkpoints; it should
	// be the schema-less URL where the log is published, such as
	// "evidence.example.org/log". It is fixed when the log's key is created
	// (log.key in Data) and must not change afterwards. Empty means the
	// existing key's origin, or DefaultLogOrigin for a new log.
	LogOrigin string
	// CheckpointInterval bounds how long after an event is acknowledged a
	// signed checkpoint covers it, and so how long a receipt waits.
	// Default 1 s.
	CheckpointInterval time.Duration
	// WitnessPolicy, a C2SP tlog-policy file's contents, names the
	// witnesses whose quorum must cosign every checkpoint before it is
	// published (--witness-policy); none if empty: the log is not
	// witnessed.
	WitnessPolicy []byte
	// MediaTimeout bounds each ffprobe or ffmpeg run on an uploaded file.
	// Default 1 minute.
	MediaTimeout time.Duration
	// FailureLimit is how many failed token guesses, and how many failed
	// sign-ins, one client address may make in 10 minutes before it is
	// refused with 429. Default 20.
	FailureLimit int
	// WriteLimit is how many uploads, share codes and shares one client
	// address without a staff account may begin in 10 minutes. Default
	// 600.
	WriteLimit int
	// LookupLimit is how many clip lookups one client address without a
	// staff account may ask for in 10 minutes (0: 20); MaxLookup the
	// largest clip, in bytes (0: 500 MB).
	LookupLimit int
	MaxLookup   int64
	// PublicURL, such as https://sightline.example.org, is where the links
	// and upload URLs the server hands out point: behind a load balancer,
	// the balancer's address. If empty, the host each request names.
	PublicURL string
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client, for per-address limits (--trusted-proxy). None by
	// default: the peer is the client.
	TrustedProxies []netip.Prefix
	// BodyTimeout is how long a request body other than an upload's may
	// take to arrive. Default 30 s.
	BodyTimeout time.Duration
	// JobTimeout bounds each ffmpeg run of a media job (posters, sound,
	// review copies). Default 30 minutes.
	JobTimeout time.Duration
	// JobAttempts is how many times a failing media job runs before it is
	// reported failed. Default 3.
	JobAttempts int
	// JobBackoff is the wait before a failed job's first retry; each later
	// one waits four times longer. Default 10 s.
	JobBackoff time.Duration
	// JobLease is how long a running job stays this server's without a
	// renewal (renewed every third of it): when the server dies, another
	// sharing its database takes the job over after at most this long.
	// Default 1 minute.
	JobLease time.Duration
	// Models is the folder of the face detector redactions run
	// (scripts/models.sh installs it); "models" if empty. Without it,
	// faces are not found, and boxes are drawn by hand.
	Models string
	// RedactionBases are the legal bases a redaction's changes may give;
	// redact.DefaultBases if empty.
	RedactionBases []redact.Basis
	// Grouping says which items are suggested for an incident (time
	// tolerance, distance).
	Grouping incident.Grouping
	// Logger receives the server's log; discarded if nil.
	Logger *slog.Logger
	// Now is the clock; time.Now if nil. For tests.
	Now func() time.Time
}

// DefaultLogOrigin names a new custody log whose configuration names none.
const DefaultLogOrigin = "localhost/sightline/log"

// Server is a configured Sightline server, ready to serve.
type Server struct {
	cfg       Config
	db        *db.DB
	blobs     blob.Store
	ingest    *ingest.Service
	reviews   *review.Service
	cases     *cases.Service
	handler   http.Handler
	evidence  evidence.Store
	log       *ledger.Log
	history   *ledger.HistoryFile // nil if the database keeps the history
	locks     ingest.Locks        // shared with the other replicas; nil for a server of its own
	metrics   *prometheus.Registry
	accounts  *account.Service
	admin     http.Handler
	lock      *os.File
	jobs      *jobs.Queue
	deriver   *derive.Deriver
	incidents *incident.Service
	redact    *redact.Service
	lookup    *lookup.Service
	releases  *release.Service
}

// Open opens (creating if needed) the data folder, recovers uploads cut
// short by a crash, and prepares the handler.
func Open(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = 64 << 30
	}
	for _, tool := range []string{"ffprobe", "ffmpeg"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s is not installed; install ffmpeg (`make run` does)", tool)
		}
	}
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return nil, err
	}
	lock, err := lockData(cfg.Data)
	if err != nil {
		return nil, err
	}
	defer func() {
		if lock != nil { // Open failed
			lock.Close()
		}
	}()
	s := &Server{cfg: cfg, metrics: prometheus.NewRegistry()}
	paths := AuditPaths(cfg.Data)
	if cfg.Database != "" {
		paths.DB = cfg.Database
	}
	if cfg.Log != "" {
		paths.Log = cfg.Log
	}
	paths.KeyFile = cmp.Or(cfg.LogKeyFile, paths.KeyFile)
	if _, err := os.Stat(paths.KeyFile); cfg.LogKey == "" && errors.Is(err, os.ErrNotExist) {
		if cfg.SharedLog != nil {
			return nil, fmt.Errorf("the shared custody log's signing key %s does not exist: make it once with `sightline keys --new %[1]s --origin NAME` and give every server the same", paths.KeyFile)
		}
		cfg.LogOrigin = cmp.Or(cfg.LogOrigin, DefaultLogOrigin)
	}
	if s.db, err = db.Open(ctx, paths.DB); err != nil {
		return nil, err
	}
	s.evidence = s.db.Evidence()
	if s.blobs = cfg.Blobs; s.blobs == nil {
		if s.blobs, err = blob.NewLocal(paths.Blobs); err != nil {
			return nil, errors.Join(err, s.db.Close())
		}
	}
	var storage ledger.Storage = ledger.Folder(paths.Log)
	var history ledger.HistoryStore = s.db.Checkpoints()
	if cfg.SharedLog != nil {
		storage = cfg.SharedLog
	} else {
		s.history = ledger.NewHistoryFile(paths.History)
		history = s.history
	}
	s.log, err = ledger.Open(ctx, ledger.Config{
		Storage:            storage,
		KeyFile:            paths.KeyFile,
		Key:                cfg.LogKey,
		Origin:             cfg.LogOrigin,
		CheckpointInterval: cfg.CheckpointInterval,
		History:            history,
		WitnessPolicy:      cfg.WitnessPolicy,
		Logger:             cfg.Logger,
		Metrics:            s.metrics,
	})
	if err != nil {
		return nil, errors.Join(err, s.db.Close())
	}
	// Replicas recover from a crash one at a time (the index, complete
	// uploads, unlogged reviews), so that what one left is done once.
	if cfg.SharedLog != nil {
		if s.locks, err = s.db.Locks(); err != nil {
			return nil, errors.Join(err, s.log.Close(ctx), s.db.Close())
		}
		unlock, err := s.locks.Lock(ctx, "start-up recovery")
		if err != nil {
			return nil, errors.Join(fmt.Errorf("waiting for the other replicas' start-up: %w", err), s.log.Close(ctx), s.db.Close())
		}
		defer unlock()
	}
	// Before anything is appended: events a crash left out of the index.
	if n, err := evidence.Reconcile(ctx, s.log, s.db.Custody()); err != nil {
		return nil, errors.Join(fmt.Errorf("reconciling the custody index with the log: %w", err), s.log.Close(ctx), s.db.Close())
	} else if n > 0 {
		cfg.Logger.Info("custody index reconciled with the log", "entries_read", n)
	}
	if err := s.openJobs(cfg, evidence.Recorder{Log: s.log, Index: s.db.Custody()}); err != nil {
		return nil, errors.Join(err, s.log.Close(ctx), s.db.Close())
	}
	s.metrics.MustRegister(s.jobs.Collector())
	shared, err := s.sharedUploads(cfg)
	if err != nil {
		return nil, errors.Join(err, s.log.Close(ctx), s.db.Close())
	}
	s.ingest, err = ingest.New(ingest.Config{
		Shared:          shared,
		PublicURL:       cfg.PublicURL,
		Dir:             filepath.Join(cfg.Data, "uploads"),
		MaxSize:         cfg.MaxSize,
		ExpireAfter:     cfg.UploadExpiry,
		CheckpointEvery: cfg.UploadCheckpoint,
		MaxClip:         cmp.Or(cfg.MaxLookup, lookup.DefaultMaxClip),
		PartialEvery:    cfg.PartialEvery,
		PartialAfter:    cfg.PartialAfter,
		Blobs:           s.blobs,
		Evidence:        s.evidence,
		Media:           &media.Tool{Timeout: cfg.MediaTimeout},
		Log:             s.log,
		Custody:         s.db.Custody(),
		Logger:          cfg.Logger,
		Now:             cfg.Now,
		Stored:          func(ctx context.Context, it evidence.Item) { s.queueMedia(ctx, it.ID) },
		Metrics:         s.metrics,
	})
	if err == nil {
		err = s.ingest.Recover(ctx)
	}
	recorder := evidence.Recorder{Log: s.log, Index: s.db.Custody()}
	s.accounts = account.NewService(account.Config{Store: s.db.Accounts(), Record: recorder.Record, Now: cfg.Now})
	s.reviews = review.NewService(review.Config{Store: s.db.Reviews(), Log: s.log, Custody: s.db.Custody(), CodeTTL: cfg.ShareCodeTTL, Now: cfg.Now})
	if err == nil {
		err = s.reviews.Finish(ctx) // reviews a crash kept from being logged
	}
	s.cases = cases.NewService(cases.Config{Store: s.db.Cases(), Evidence: s.evidence, Blobs: s.blobs, Record: recorder.Record, Now: cfg.Now,
		Deadline: cfg.CaseDeadline, Target: cfg.CaseTarget, NoticeEvery: cfg.CaseNoticeEvery,
		AlertAllegations: cfg.AlertAllegations, AlertWindow: cfg.AlertWindow})
	if err == nil {
		s.handler, err = web.New(web.Config{Ingest: s.ingest, Evidence: s.evidence, Blobs: s.blobs, MaxSize: cfg.MaxSize, Logger: cfg.Logger, Log: s.log, Custody: s.db.Custody(),
			Accounts: s.accounts, Facts: s.db.Facts(), FailureLimit: cfg.FailureLimit, TrustedProxies: cfg.TrustedProxies, PublicURL: cfg.PublicURL, BodyTimeout: cfg.BodyTimeout, Now: cfg.Now, WriteLimit: cfg.WriteLimit,
			Incidents: s.incidents, Grouping: cfg.Grouping, Derived: s.db.Derived(), Jobs: s.jobs, Reviews: s.reviews, Cases: s.cases,
			Digests: s.db.Digests(), Organization: cfg.Organization, Redactions: s.redact, Lookup: s.lookup, LookupLimit: cfg.LookupLimit, Releases: s.releases,
			Tally: s.db.Tallies(), Metrics: web.NewMetrics(s.metrics), Ready: s.ready})
	}
	if err != nil {
		return nil, errors.Join(err, s.log.Close(ctx), s.db.Close())
	}
	s.admin = web.NewAdmin(s.accounts, cfg.Logger)
	s.lock, lock = lock, nil
	return s, nil
}

// sharedUploads is where a server sharing its custody log with others (a
// replica) keeps the uploads in progress, so that any replica continues
// any upload: their states in the database, their bytes in the bucket,
// under the database's locks. Nil for a server of its own.
func (s *Server) sharedUploads(cfg Config) (*ingest.Shared, error) {
	if cfg.SharedLog == nil {
		return nil, nil
	}
	bucket, ok := s.blobs.(*blob.S3)
	if !ok {
		return nil, errors.New("a server sharing its log with others keeps the uploads in progress in their bucket: give it an S3 blob store")
	}
	return &ingest.Shared{States: s.db.Uploads(), Bytes: bucket, Locks: s.locks, Tmp: filepath.Join(cfg.Data, "uploads")}, nil
}

// ready reports whether the database and the blob store answer: a
// blob's Stat that finds nothing is an answer.
func (s *Server) ready(ctx context.Context) error {
	if err := s.db.Ping(ctx); err != nil {
		return fmt.Errorf("the database does not answer: %w", err)
	}
	if _, err := s.blobs.Stat(ctx, blob.Ref{}); err != nil && !errors.Is(err, blob.ErrNotFound) {
		return fmt.Errorf("the blob store does not answer: %w", err)
	}
	return nil
}

// serverName names this server among those sharing a database (the owner
// of the jobs it runs): a random name made once and kept in its data
// folder, which only it holds (lockData).
func serverName(data string) (string, error) {
	file := filepath.Join(data, "server-name")
	if b, err := os.ReadFile(file); err == nil && len(b) > 0 {
		return string(b), nil
	}
	var b [8]byte
	rand.Read(b[:])
	name := hex.EncodeToString(b[:])
	return name, durable.WriteFile(file, []byte(name), 0o600)
}

// lockData takes an exclusive lock on the data folder, so that two
// processes never run a server on it at once.
func lockData(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("the data folder %s is in use by another sightline process", dir)
	}
	return f, nil
}

// AdminSocket is where a running server answers `sightline admin`: a Unix
// socket in the data folder, so that the operator's access to the folder
// is the credential.
func AdminSocket(data string) string { return filepath.Join(data, "admin.sock") }

// AdminHandler serves the operator's account administration (see
// web.NewAdmin), for the admin socket or in process.
func (s *Server) AdminHandler() http.Handler { return s.admin }

// Custody lists the logged events about an item.
func (s *Server) Custody() evidence.CustodyIndex { return s.db.Custody() }

// Facts are the access facts (involvement, shares), for tools and tests.
func (s *Server) Facts() db.Facts { return s.db.Facts() }

// Accounts is the staff account service.
func (s *Server) Accounts() *account.Service { return s.accounts }

// Handler serves every route.
func (s *Server) Handler() http.Handler { return s.handler }

// Run does the server's background work until ctx ends: media and
// alignment jobs (first queuing those a crash kept from being queued),
// expiring silent uploads, logging growing streams and finalizing silent
// ones.
func (s *Server) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() {
		for _, k := range itemJobs() {
			for id, err := range s.db.EvidenceWithoutJob(ctx, k) {
				if err == nil {
					err = s.jobs.Enqueue(ctx, k, id)
				}
				if err != nil {
					s.cfg.Logger.Error("queuing media jobs", "err", err)
					break
				}
			}
		}
		if err := s.jobs.Run(ctx); err != nil {
			s.cfg.Logger.Error("media jobs", "err", err)
		}
	})
	wg.Go(func() { s.ingest.RunStreams(ctx) })
	if s.cfg.SMTP != "" {
		wg.Go(func() { s.sendNotices(ctx) })
	}
	s.ingest.Run(ctx, time.Minute)
	wg.Wait()
}

// sendNotices emails complainants their notices every minute.
func (s *Server) sendNotices(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		if _, err := s.SendNotices(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Logger.Warn("sending notices", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SendNotices emails the complainants' notices not sent yet (none when
// there is no --smtp), and reports how many it sent.
func (s *Server) SendNotices(ctx context.Context) (int, error) {
	if s.cfg.SMTP == "" {
		return 0, nil
	}
	from := s.cfg.SMTPFrom
	if from == "" {
		from = "sightline@localhost"
	}
	// Replicas send them one at a time: whoever holds the lock this round.
	if s.locks != nil {
		unlock, ok, err := s.locks.TryLock(ctx, "case notices")
		if err != nil || !ok {
			return 0, err
		}
		defer unlock()
	}
	return s.cases.SendNotices(ctx, notify.SMTP{Addr: s.cfg.SMTP, From: from})
}

// alignJob is the kind of the job that aligns an incident's clips.
const alignJob = "align"

// openJobs prepares the media and alignment jobs and the incident service.
func (s *Server) openJobs(cfg Config, recorder evidence.Recorder) error {
	timeout := cfg.JobTimeout
	if timeout <= 0 {
		timeout = 30 * time.Minute
	}
	work := filepath.Join(cfg.Data, "work") // files being made; nothing in it outlives a run
	if err := os.RemoveAll(work); err != nil {
		return err
	}
	owner, err := serverName(cfg.Data)
	if err != nil {
		return err
	}
	s.deriver, err = derive.New(derive.Config{Evidence: s.evidence, Blobs: s.blobs, Files: s.db.Derived(), Log: s.log, Index: s.db.Custody(),
		Media: &media.Tool{Timeout: timeout, Parallel: 1}, Tmp: work, Logger: cfg.Logger, Now: cfg.Now})
	if err != nil {
		return err
	}
	// Jobs keep real time even when a test sets the clock: a retry must
	// come due.
	s.jobs = jobs.New(jobs.Config{Store: s.db.Jobs(), Attempts: cfg.JobAttempts, Backoff: cfg.JobBackoff, Logger: cfg.Logger,
		Owner: owner, Lease: cfg.JobLease,
		Failed: func(ctx context.Context, j jobs.Job) {
			if j.Kind == string(derive.Audio) {
				s.realignWith(ctx, j.Subject) // its clips are placed by metadata instead
			}
			if err := s.redact.JobFailed(ctx, j.Kind, j.Subject, j.LastError); err != nil {
				cfg.Logger.Error("recording a failed redaction job", "job", j.Kind, "redaction", j.Subject, "err", err)
			}
			if err := s.releases.JobFailed(ctx, j.Kind, j.Subject, j.LastError); err != nil {
				cfg.Logger.Error("recording a failed release job", "job", j.Kind, "release", j.Subject, "err", err)
			}
		}})
	s.incidents = incident.NewService(incident.Config{Store: s.db.Incidents(), Evidence: s.evidence, Record: recorder.Record,
		Sound: s.sound, Realign: func(ctx context.Context, id string) error { return s.jobs.Enqueue(ctx, alignJob, id) },
		Logger: cfg.Logger, Now: cfg.Now})
	s.lookup = lookup.New(lookup.Config{Files: s.db.Derived(), Blobs: s.blobs, Media: &media.Tool{Timeout: 5 * time.Minute, Parallel: 1},
		Tmp: work, Logger: cfg.Logger, MaxClip: cfg.MaxLookup, Dir: filepath.Join(cfg.Data, "lookup")})
	if err := s.lookup.Load(context.Background()); err != nil {
		return err
	}
	s.deriver.Register(s.jobs, func(ctx context.Context, parent string, k derive.Kind) error {
		switch k {
		case derive.Audio:
			s.realignWith(ctx, parent)
		case derive.Fingerprint:
			f, err := s.db.Derived().Get(ctx, parent, k)
			if err == nil {
				err = s.lookup.Add(ctx, f)
			}
			if err != nil && !errors.Is(err, derive.ErrNotFound) {
				return err
			}
		}
		return nil
	})
	s.jobs.Handle(alignJob, func(ctx context.Context, j jobs.Job) error { return s.incidents.Align(ctx, j.Subject) })
	models := cfg.Models
	if models == "" {
		models = "models"
	}
	s.redact, err = redact.NewService(redact.Config{Store: s.db.Redactions(), Evidence: s.evidence, Blobs: s.blobs,
		Record: recorder.Record, Log: s.log, Custody: s.db.Custody(), Enqueue: s.jobs.Enqueue,
		Media: &media.Tool{Timeout: timeout, Parallel: 1}, Models: models, Bases: cfg.RedactionBases,
		Tmp: work, Logger: cfg.Logger, Now: cfg.Now})
	if err != nil {
		return err
	}
	var bases []string
	for _, b := range s.redact.Bases() {
		bases = append(bases, b.Code)
	}
	s.releases = release.NewService(release.Config{Store: s.db.Releases(), Evidence: s.evidence, Incidents: s.incidents,
		Redactions: s.redact, Files: s.db.Derived(), Blobs: s.blobs, Media: &media.Tool{Timeout: timeout, Parallel: 1}, Tmp: work,
		Bases: bases, Record: recorder.Record, Log: s.log, Custody: s.db.Custody(), Enqueue: s.jobs.Enqueue, Now: cfg.Now})
	s.releases.Register(func(kind string, h func(context.Context, string) error) {
		s.jobs.Handle(kind, func(ctx context.Context, j jobs.Job) error { return h(ctx, j.Subject) })
	})
	s.redact.Register(func(kind string, h func(context.Context, string) error) {
		s.jobs.Handle(kind, func(ctx context.Context, j jobs.Job) error { return h(ctx, j.Subject) })
	})
	digests := court.Digests{Store: s.db.Digests(), Blobs: s.blobs}
	s.jobs.Handle(court.DigestJob, func(ctx context.Context, j jobs.Job) error {
		it, err := s.evidence.Get(ctx, j.Subject)
		if err == nil {
			_, err = digests.SHA512(ctx, it.SHA256)
		}
		return err
	})
	return nil
}

// itemJobs are the kinds of job run on every new item: the media jobs,
// and its SHA-512 for evidence packages.
func itemJobs() []string {
	kinds := []string{court.DigestJob}
	for _, k := range derive.Kinds {
		kinds = append(kinds, string(k))
	}
	return kinds
}

// queueMedia queues the jobs of a new item (itemJobs).
func (s *Server) queueMedia(ctx context.Context, id string) {
	for _, k := range itemJobs() {
		if err := s.jobs.Enqueue(ctx, k, id); err != nil {
			s.cfg.Logger.Error("queuing a media job", "evidence", id, "kind", k, "err", err)
		}
	}
}

// realignWith queues the alignment of every incident an item is in.
func (s *Server) realignWith(ctx context.Context, id string) {
	incs, err := s.db.Incidents().Containing(ctx, id)
	for _, inc := range incs {
		if err == nil {
			err = s.jobs.Enqueue(ctx, alignJob, inc)
		}
	}
	if err != nil {
		s.cfg.Logger.Error("queuing alignment", "evidence", id, "err", err)
	}
}

// sound is an item's sound for alignment, as its audio job left it.
func (s *Server) sound(ctx context.Context, id string) (incident.Sound, error) {
	it, err := s.evidence.Get(ctx, id)
	if err != nil {
		return incident.Sound{}, err
	}
	if !derive.Needed(it, derive.Audio) {
		return incident.Sound{State: incident.SoundNone, Detail: "the file has no sound track"}, nil
	}
	samples, err := s.deriver.ReadAudio(ctx, id)
	if err == nil {
		return incident.Sound{State: incident.SoundReady, Samples: samples}, nil
	}
	if !errors.Is(err, derive.ErrNotFound) {
		return incident.Sound{}, err
	}
	j, ok, err := s.jobs.Latest(ctx, string(derive.Audio), id)
	if err != nil {
		return incident.Sound{}, err
	}
	if ok && j.State == jobs.Failed {
		return incident.Sound{State: incident.SoundFailed, Detail: "its sound could not be extracted: " + j.LastError}, nil
	}
	return incident.Sound{State: incident.SoundPending}, nil
}

// Reviews issues share codes and keeps on-scene reviews.
func (s *Server) Reviews() *review.Service { return s.reviews }

// Cases keeps complaints and internal reviews.
func (s *Server) Cases() *cases.Service { return s.cases }

// Jobs is the media and alignment job queue, for tools and tests.
func (s *Server) Jobs() *jobs.Queue { return s.jobs }

// Incidents is the incident service, for tools and tests.
func (s *Server) Incidents() *incident.Service { return s.incidents }

// Releases returns the release service.
func (s *Server) Releases() *release.Service { return s.releases }

// Evidence is the evidence store, for tools and tests.
func (s *Server) Evidence() evidence.Store { return s.evidence }

// Engine names the database engine: "sqlite" or "postgres".
func (s *Server) Engine() string { return s.db.Engine() }

// Blobs is the blob store, for tools and tests.
func (s *Server) Blobs() blob.Store { return s.blobs }

// Ingest is the upload service, for tools and tests.
func (s *Server) Ingest() *ingest.Service { return s.ingest }

// Log is the custody log.
func (s *Server) Log() *ledger.Log { return s.log }

// KeyFile is where the custody log's signing key is kept in a data folder.
func KeyFile(data string) string { return filepath.Join(data, "log.key") }

// OpenBlobs opens the blob store of a server on data: the one where names
// (an s3:// URL, blob.Open), spooling in data, or else data's blobs/.
func OpenBlobs(ctx context.Context, data, where string) (blob.Store, error) {
	return blob.Open(ctx, cmp.Or(where, AuditPaths(data).Blobs), filepath.Join(data, "spool"))
}

// AuditPaths names the parts of a data folder for the audit.
func AuditPaths(data string) audit.Paths {
	return audit.Paths{
		DB:      filepath.Join(data, "sightline.db"),
		Blobs:   filepath.Join(data, "blobs"),
		Log:     filepath.Join(data, "log"),
		KeyFile: KeyFile(data),
		History: filepath.Join(data, "checkpoints.jsonl"),
	}
}

// Close publishes what the log has sequenced and releases the database.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := errors.Join(s.redact.Close(), s.log.Close(ctx), s.db.Close(), s.lock.Close())
	if s.history != nil {
		err = errors.Join(err, s.history.Close())
	}
	return err
}

// Derived records the files made from originals, for tools and tests.
func (s *Server) Derived() db.DerivedStore { return s.db.Derived() }
