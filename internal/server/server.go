// Package server wires Sightline's parts into one running server from one
// configuration: which database and which blob store (an explicit choice
// here, not a registry), the ingest service, and the HTTP handler.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sightline/sightline/internal/account"
	"github.com/sightline/sightline/internal/audit"
	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/db"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/ingest"
	"github.com/sightline/sightline/internal/ledger"
	"github.com/sightline/sightline/internal/media"
	"github.com/sightline/sightline/internal/web"
)

// Config is the server's whole configuration; each field's comment is its
// manual.
type Config struct {
	// Data is the folder holding everything the server keeps:
	//   sightline.db  the metadata (SQLite)
	//   blobs/        originals, named by SHA-256, read-only
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
	// MediaTimeout bounds each ffprobe or ffmpeg run on an uploaded file.
	// Default 1 minute.
	MediaTimeout time.Duration
	// FailureLimit is how many failed token guesses, and how many failed
	// sign-ins, one client address may make in 10 minutes before it is
	// refused with 429. Default 20.
	FailureLimit int
	// Logger receives the server's log; discarded if nil.
	Logger *slog.Logger
	// Now is the clock; time.Now if nil. For tests.
	Now func() time.Time
}

// DefaultLogOrigin names a new custody log whose configuration names none.
const DefaultLogOrigin = "localhost/sightline/log"

// Server is a configured Sightline server, ready to serve.
type Server struct {
	cfg      Config
	db       *db.DB
	blobs    *blob.Local
	ingest   *ingest.Service
	handler  http.Handler
	evidence evidence.Store
	log      *ledger.Log
	accounts *account.Service
	admin    http.Handler
	lock     *os.File
}

// Open opens (creating if needed) the data folder, recovers uploads cut
// short by a crash, and prepares the handler.
func Open(ctx context.Context, cfg Config) (*Server, error) {
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
	if _, err := os.Stat(KeyFile(cfg.Data)); cfg.LogOrigin == "" && errors.Is(err, os.ErrNotExist) {
		cfg.LogOrigin = DefaultLogOrigin
	}
	s := &Server{cfg: cfg}
	paths := AuditPaths(cfg.Data)
	if s.db, err = db.OpenSQLite(ctx, paths.DB); err != nil {
		return nil, err
	}
	s.evidence = s.db.Evidence()
	if s.blobs, err = blob.NewLocal(paths.Blobs); err != nil {
		return nil, errors.Join(err, s.db.Close())
	}
	s.log, err = ledger.Open(ctx, ledger.Config{
		Dir:                paths.Log,
		KeyFile:            paths.KeyFile,
		Origin:             cfg.LogOrigin,
		CheckpointInterval: cfg.CheckpointInterval,
		HistoryFile:        paths.History,
		Logger:             cfg.Logger,
	})
	if err != nil {
		return nil, errors.Join(err, s.db.Close())
	}
	s.ingest, err = ingest.New(ingest.Config{
		Dir:             filepath.Join(cfg.Data, "uploads"),
		MaxSize:         cfg.MaxSize,
		ExpireAfter:     cfg.UploadExpiry,
		CheckpointEvery: cfg.UploadCheckpoint,
		Blobs:           s.blobs,
		Evidence:        s.evidence,
		Media:           &media.Tool{Timeout: cfg.MediaTimeout},
		Log:             s.log,
		Custody:         s.db.Custody(),
		Logger:          cfg.Logger,
		Now:             cfg.Now,
	})
	if err == nil {
		err = s.ingest.Recover(ctx)
	}
	recorder := evidence.Recorder{Log: s.log, Index: s.db.Custody()}
	s.accounts = account.NewService(account.Config{Store: s.db.Accounts(), Record: recorder.Record, Now: cfg.Now})
	if err == nil {
		s.handler, err = web.New(web.Config{Ingest: s.ingest, Evidence: s.evidence, Blobs: s.blobs, MaxSize: cfg.MaxSize, Logger: cfg.Logger, Log: s.log, Custody: s.db.Custody(),
			Accounts: s.accounts, Facts: s.db.Facts(), FailureLimit: cfg.FailureLimit})
	}
	if err != nil {
		return nil, errors.Join(err, s.log.Close(ctx), s.db.Close())
	}
	s.admin = web.NewAdmin(s.accounts, cfg.Logger)
	s.lock, lock = lock, nil
	return s, nil
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

// Run does the server's background work (expiring silent uploads) until
// ctx ends.
func (s *Server) Run(ctx context.Context) { s.ingest.Run(ctx, time.Minute) }

// Evidence is the evidence store, for tools and tests.
func (s *Server) Evidence() evidence.Store { return s.evidence }

// Blobs is the blob store, for tools and tests.
func (s *Server) Blobs() *blob.Local { return s.blobs }

// Ingest is the upload service, for tools and tests.
func (s *Server) Ingest() *ingest.Service { return s.ingest }

// Log is the custody log.
func (s *Server) Log() *ledger.Log { return s.log }

// KeyFile is where the custody log's signing key is kept in a data folder.
func KeyFile(data string) string { return filepath.Join(data, "log.key") }

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
	return errors.Join(s.log.Close(ctx), s.db.Close(), s.lock.Close())
}
