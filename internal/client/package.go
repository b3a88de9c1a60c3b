package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Package is an evidence package saved by DownloadPackage.
type Package struct {
	Path   string
	Size   int64
	SHA256 string
	// Checkpoint is the log size the package is pinned to.
	Checkpoint uint64
}

// partState is what a cut download needs to resume: the checkpoint its
// package is pinned to, and its validator.
type partState struct {
	Checkpoint string `json:"checkpoint"`
	ETag       string `json:"etag"`
}

// DownloadPackage saves the evidence package of an incident or a case
// ("incident" or "case") to path. The bytes go to path.part first, and
// the checkpoint the package is pinned to to path.part.json, so a run
// cut short (by the network, or by the user) resumes where it stopped,
// with Range: the server gives the same bytes for the same checkpoint.
// Connection failures are retried a few times. path appears only once
// the package is whole and on disk.
func (c *Client) DownloadPackage(ctx context.Context, kind, id, reason, path string, progress Progress) (Package, error) {
	part, statePath := path+".part", path+".part.json"
	var st partState
	if b, err := os.ReadFile(statePath); err == nil {
		json.Unmarshal(b, &st) // a damaged state starts afresh below
	}
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return Package{}, ctx.Err()
			case <-time.After(time.Duration(attempt) * time.Second):
			}
		}
		var done bool
		done, err = c.fetchPackage(ctx, kind, id, reason, part, statePath, &st, progress)
		if done {
			break
		}
		var se *StatusError
		if errors.As(err, &se) || ctx.Err() != nil {
			return Package{}, err // the server said no: retrying will not help
		}
	}
	if err != nil {
		return Package{}, err
	}
	f, err := os.Open(part)
	if err != nil {
		return Package{}, err
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	f.Close()
	if err != nil {
		return Package{}, err
	}
	if err := os.Rename(part, path); err != nil {
		return Package{}, err
	}
	os.Remove(statePath)
	size, _ := strconv.ParseUint(st.Checkpoint, 10, 64)
	return Package{Path: path, Size: n, SHA256: hex.EncodeToString(h.Sum(nil)), Checkpoint: size}, nil
}

// fetchPackage makes one request, resuming part if st says how, and
// reports whether part now holds the whole package.
func (c *Client) fetchPackage(ctx context.Context, kind, id, reason, part, statePath string, st *partState, progress Progress) (bool, error) {
	q := url.Values{"reason": {reason}}
	var offset int64
	if fi, err := os.Stat(part); err == nil && st.Checkpoint != "" && st.ETag != "" {
		q.Set("checkpoint", st.Checkpoint)
		offset = fi.Size()
	}
	u := strings.TrimSuffix(c.Server, "/") + "/api/v1/" + kind + "s/" + url.PathEscape(id) + "/package?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, err
	}
	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
		req.Header.Set("If-Range", st.ETag)
	}
	resp, err := c.do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	flags := os.O_WRONLY | os.O_CREATE
	switch {
	case resp.StatusCode == http.StatusOK:
		offset, flags = 0, flags|os.O_TRUNC
		*st = partState{Checkpoint: resp.Header.Get("Sightline-Checkpoint"), ETag: resp.Header.Get("ETag")}
		b, _ := json.Marshal(st)
		if err := os.WriteFile(statePath, b, 0o600); err != nil {
			return false, err
		}
	case resp.StatusCode == http.StatusPartialContent && offset > 0:
		flags |= os.O_APPEND
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && offset > 0:
		// The part is already whole (or longer than the package): start
		// again rather than trust it.
		os.Remove(part)
		return false, fmt.Errorf("the saved part does not fit the package: starting again")
	default:
		return false, statusError("package", resp)
	}
	total := offset + resp.ContentLength
	f, err := os.OpenFile(part, flags, 0o600)
	if err != nil {
		return false, err
	}
	defer f.Close()
	w := &countingWriter{w: f, n: offset, total: total, progress: progress}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return false, err
	}
	if resp.ContentLength >= 0 && w.n != total {
		return false, fmt.Errorf("package: the answer ended at %d of %d bytes", w.n, total)
	}
	return true, f.Sync()
}

type countingWriter struct {
	w        io.Writer
	n, total int64
	progress Progress
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if c.progress != nil {
		c.progress(c.n, c.total)
	}
	return n, err
}
