package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/durable"
)

// Journal remembers the uploads a client has started, so that a later run
// resumes them instead of starting over. Entries are keyed by the server,
// the file's absolute path, size and modification time.
type Journal struct {
	Dir string
}

// DefaultJournal is kept in the user's cache directory.
func DefaultJournal() (*Journal, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return nil, err
	}
	return &Journal{Dir: filepath.Join(d, "sightline", "uploads")}, nil
}

type journalEntry struct {
	URL  string `json:"url"`
	Path string `json:"path"`
	Size int64  `json:"size"`
}

func (j *Journal) key(server, path string, fi os.FileInfo) string {
	abs, _ := filepath.Abs(path)
	h := sha256.Sum256([]byte(server + "\x00" + abs + "\x00" + strconv.FormatInt(fi.Size(), 10) + "\x00" + fi.ModTime().UTC().Format(time.RFC3339Nano)))
	return hex.EncodeToString(h[:16])
}

func (j *Journal) load(key string) (journalEntry, bool) {
	var e journalEntry
	b, err := os.ReadFile(filepath.Join(j.Dir, key+".json"))
	if err != nil || json.Unmarshal(b, &e) != nil || e.URL == "" {
		return e, false
	}
	return e, true
}

func (j *Journal) save(key string, e journalEntry) error {
	if err := durable.MkdirAll(j.Dir, 0o700); err != nil {
		return err
	}
	b, _ := json.Marshal(e)
	return durable.WriteFile(filepath.Join(j.Dir, key+".json"), b, 0o600)
}

func (j *Journal) forget(key string) { os.Remove(filepath.Join(j.Dir, key+".json")) }

// Progress is told how far an upload has got.
type Progress func(sent, total int64)

// Result is the outcome of UploadFile.
type Result struct {
	Receipt
	UploadURL string // the upload's URL: its sender's capability
	ResumedAt int64  // the offset a resumed upload continued from; 0 if new
}

// ErrHashMismatch means the server stored bytes other than the file's.
var ErrHashMismatch = errors.New("the server's SHA-256 differs from the file's")

// UploadFile uploads the file at path, resuming an upload of it that the
// journal remembers, and checks that the evidence the server made has the
// file's SHA-256. Network failures are retried with back-off, each retry
// asking the server where to continue.
func (c *Client) UploadFile(ctx context.Context, path string, meta map[string]string, j *Journal, progress Progress) (Result, error) {
	var res Result
	f, err := os.Open(path)
	if err != nil {
		return res, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return res, err
	}
	size := fi.Size()
	key := j.key(c.Server, path, fi)

	var uploadURL string
	offset := int64(0)
	if e, ok := j.load(key); ok {
		off, length, err := c.Offset(ctx, e.URL)
		switch {
		case err == nil && length == size:
			uploadURL, offset, res.ResumedAt = e.URL, off, off
		case err == nil || errors.Is(err, ErrUploadGone):
			j.forget(key) // gone or not ours: start again
		default:
			return res, err
		}
	}
	if uploadURL == "" {
		if uploadURL, err = c.Create(ctx, size, meta); err != nil {
			return res, err
		}
		if err := j.save(key, journalEntry{URL: uploadURL, Path: path, Size: size}); err != nil {
			return res, err
		}
	}

	if progress != nil {
		progress(offset, size)
	}
	report := func(off int64) {
		if progress != nil {
			progress(off, size)
		}
	}
	var h hash.Hash
	for attempt := 0; ; attempt++ {
		// The hash of what the server has; Send adds the rest.
		h = sha256.New()
		if _, err := io.Copy(h, io.NewSectionReader(f, 0, offset)); err != nil {
			return res, err
		}
		err = c.Send(ctx, uploadURL, f, offset, size, h, report)
		if err == nil || !retryable(err) || attempt >= 8 || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(time.Duration(1<<min(attempt, 4)) * time.Second):
		}
		off, _, herr := c.Offset(ctx, uploadURL)
		if herr != nil && !retryable(herr) {
			return res, herr
		}
		if herr == nil {
			offset = off
		}
	}
	if err != nil {
		return res, err
	}
	res.UploadURL = uploadURL
	res.Receipt, err = c.UploadEvidence(ctx, uploadURL)
	if err != nil {
		return res, err
	}
	if want := blob.Ref(h.Sum(nil)); res.SHA256 != want {
		return res, fmt.Errorf("%s: %w: server %s, file %s", path, ErrHashMismatch, res.SHA256, want)
	}
	j.forget(key)
	return res, nil
}

// retryable tells a dropped connection or a busy server from a refusal.
func retryable(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		switch se.Status {
		case http.StatusConflict, http.StatusLocked, 460, http.StatusInternalServerError,
			http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	return !errors.Is(err, ErrUploadGone) && !errors.Is(err, context.Canceled)
}
