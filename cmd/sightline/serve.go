package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/db"
	"github.com/sightline/sightline/internal/ingest"
	"github.com/sightline/sightline/internal/media"
	"github.com/sightline/sightline/internal/web"
)

// serveConfig is the server's whole configuration; each field's comment is
// its manual.
type serveConfig struct {
	// Data is the folder holding everything the server keeps:
	//   sightline.db  the metadata (SQLite)
	//   blobs/        originals, named by SHA-256, read-only
	//   uploads/      uploads in progress
	// It is created if missing. Keep it on a local file system with honest
	// fsync (ext4, XFS, ZFS).
	Data string
	// Listen is the TCP address to serve HTTP on; port 0 picks a free port.
	Listen string
	// MaxSize is the largest file accepted, announced to tus clients as
	// Tus-Max-Size.
	MaxSize byteSize
	// UploadExpiry is how long an unfinished upload may stay silent before it
	// is discarded; announced as Upload-Expires.
	UploadExpiry time.Duration
	// MediaTimeout bounds each ffprobe or ffmpeg run on an uploaded file.
	MediaTimeout time.Duration
	// LogLevel is debug, info, warn or error.
	LogLevel string
}

type serveCmd struct {
	*Main
	cfg serveConfig
}

func (c *serveCmd) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("sightline serve", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	c.cfg.MaxSize = 64 << 30
	fs.StringVar(&c.cfg.Data, "data", "./sightline-data", "folder for the database, originals and uploads in progress")
	fs.StringVar(&c.cfg.Listen, "listen", "127.0.0.1:8080", "address to serve HTTP on")
	fs.Var(&c.cfg.MaxSize, "max-size", "largest file accepted")
	fs.DurationVar(&c.cfg.UploadExpiry, "upload-expiry", 7*24*time.Hour, "how long an unfinished upload may stay silent")
	fs.DurationVar(&c.cfg.MediaTimeout, "media-timeout", time.Minute, "time limit of each ffprobe/ffmpeg run")
	fs.StringVar(&c.cfg.LogLevel, "log-level", "info", "debug, info, warn or error")
	return fs
}

func (c *serveCmd) run(ctx context.Context, args []string) error {
	fs := c.flags()
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve takes no arguments, got %q", fs.Args())
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.cfg.LogLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(c.Stderr, &slog.HandlerOptions{Level: level}))

	for _, tool := range []string{"ffprobe", "ffmpeg"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is not installed; install ffmpeg (`make run` does)", tool)
		}
	}
	if err := os.MkdirAll(c.cfg.Data, 0o700); err != nil {
		return err
	}
	database, err := db.OpenSQLite(ctx, filepath.Join(c.cfg.Data, "sightline.db"))
	if err != nil {
		return err
	}
	defer database.Close()
	blobs, err := blob.NewLocal(filepath.Join(c.cfg.Data, "blobs"))
	if err != nil {
		return err
	}
	ing, err := ingest.New(ingest.Config{
		Dir:         filepath.Join(c.cfg.Data, "uploads"),
		MaxSize:     int64(c.cfg.MaxSize),
		ExpireAfter: c.cfg.UploadExpiry,
		Blobs:       blobs,
		Evidence:    database.Evidence(),
		Media:       &media.Tool{Timeout: c.cfg.MediaTimeout},
		Logger:      log,
	})
	if err != nil {
		return err
	}
	if err := ing.Recover(ctx); err != nil {
		return err
	}
	handler, err := web.New(web.Config{
		Ingest:   ing,
		Evidence: database.Evidence(),
		Blobs:    blobs,
		MaxSize:  int64(c.cfg.MaxSize),
		Logger:   log,
	})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", c.cfg.Listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// No overall read or write timeout: uploads and downloads of large
		// files take as long as they take. The tus handler moves a read
		// deadline forward as long as bytes keep arriving.
	}
	go ing.Run(ctx, time.Minute)
	addr := ln.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "localhost"
	}
	url := "http://" + net.JoinHostPort(host, fmt.Sprint(addr.Port))
	fmt.Fprintf(c.Stdout, "sightline: serving on %s (data in %s)\n", url, c.cfg.Data)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
