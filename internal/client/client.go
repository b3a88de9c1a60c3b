// Package client speaks to a Sightline server: tus uploads that resume
// where they stopped, and the evidence API. The CLI, the benchmarks and the
// end-to-end tests use it; any other tus client works with the server too.
package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/verify"
)

// Client is a Sightline API client.
type Client struct {
	// Server is the server's base URL, such as "http://127.0.0.1:8080".
	Server string
	// HTTP is the client to use; http.DefaultClient if nil.
	HTTP *http.Client
	// ChunkSize is the most bytes sent in one PATCH. Default 32 MiB.
	ChunkSize int64
	// ChunkChecksums sends each chunk's SHA-256 as Upload-Checksum, so that
	// the server refuses a damaged chunk at once rather than the whole
	// upload at its end (Repr-Digest, always sent). It costs a second hash
	// of every byte on both sides.
	ChunkChecksums bool
	// Token is sent as a bearer token on every request, if set.
	Token string
}

// StatusError is an unexpected HTTP answer.
type StatusError struct {
	Op     string
	Status int
	Body   string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s: server answered %d: %s", e.Op, e.Status, strings.TrimSpace(e.Body))
}

// ErrUploadGone is returned when an upload no longer exists on the server
// (it expired, or was refused and removed).
var ErrUploadGone = errors.New("upload no longer exists on the server")

// Receipt is what the server returns for a stored upload: the evidence and
// the access token that reads it.
type Receipt struct {
	evidence.Item
	AccessToken string `json:"access_token"`
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *Client) chunkSize() int64 {
	if c.ChunkSize > 0 {
		return c.ChunkSize
	}
	return 32 << 20
}

func (c *Client) do(req *http.Request) (*http.Response, error) {
	req.Header.Set("Tus-Resumable", "1.0.0")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	return c.http().Do(req)
}

func statusError(op string, resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return &StatusError{Op: op, Status: resp.StatusCode, Body: string(b)}
}

// Create starts an upload of size bytes with the given metadata and
// returns its URL.
func (c *Client) Create(ctx context.Context, size int64, meta map[string]string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.Server, "/")+"/api/v1/uploads/", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Upload-Length", strconv.FormatInt(size, 10))
	req.Header.Set("Upload-Metadata", EncodeMetadata(meta))
	resp, err := c.do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return "", statusError("create upload", resp)
	}
	loc, err := resp.Location()
	if err != nil {
		return "", fmt.Errorf("create upload: %w", err)
	}
	return loc.String(), nil
}

// EncodeMetadata encodes tus Upload-Metadata, keys in a stable order.
func EncodeMetadata(meta map[string]string) string {
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " " + base64.StdEncoding.EncodeToString([]byte(meta[k]))
	}
	return strings.Join(parts, ",")
}

// Offset asks how many bytes of the upload the server has.
func (c *Client) Offset(ctx context.Context, uploadURL string) (offset, length int64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, uploadURL, nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := c.do(req)
	if err != nil {
		return 0, 0, err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK, http.StatusNoContent:
	case http.StatusNotFound, http.StatusGone:
		return 0, 0, ErrUploadGone
	default:
		return 0, 0, statusError("read upload offset", resp)
	}
	offset, err = strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("read upload offset: bad Upload-Offset %q", resp.Header.Get("Upload-Offset"))
	}
	length, _ = strconv.ParseInt(resp.Header.Get("Upload-Length"), 10, 64)
	return offset, length, nil
}

// Send uploads bytes [offset, size) of r in PATCHes of at most ChunkSize,
// reading and hashing the next chunk while the current one is in flight.
// h must hold the SHA-256 state of bytes [0, offset); Send adds every byte
// it reads, and sends the final digest as Repr-Digest with the last chunk,
// so that the server refuses the upload rather than keep bytes other than
// the file's. After an error h is past the acknowledged offset and must be
// rebuilt. progress, if not nil, is told each acknowledged offset.
func (c *Client) Send(ctx context.Context, uploadURL string, r io.ReaderAt, offset, size int64, h hash.Hash, progress func(int64)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type chunk struct {
		off    int64
		data   []byte
		digest []byte // of the whole file, with the last chunk
		err    error
	}
	n := min(c.chunkSize(), max(size-offset, 1))
	// Two buffers: one in flight, one being read and hashed.
	free := make(chan []byte, 2)
	for range 2 {
		free <- make([]byte, n)
	}
	ready := make(chan chunk, 1)
	go func() {
		defer close(ready)
		for off := offset; off < size; {
			var buf []byte
			select {
			case buf = <-free:
			case <-ctx.Done():
				return
			}
			ch := chunk{off: off, data: buf[:min(n, size-off)]}
			if _, err := r.ReadAt(ch.data, off); err != nil && !(err == io.EOF && off+int64(len(ch.data)) == size) {
				ch.err = fmt.Errorf("read at %d: %w", off, err)
			}
			h.Write(ch.data)
			off += int64(len(ch.data))
			if off == size {
				ch.digest = h.Sum(nil)
			}
			select {
			case ready <- ch:
			case <-ctx.Done():
				return
			}
			if ch.err != nil {
				return
			}
		}
	}()
	for ch := range ready {
		if ch.err != nil {
			return ch.err
		}
		next, err := c.patch(ctx, uploadURL, ch.off, ch.data, ch.digest)
		if err != nil {
			return err
		}
		if next != ch.off+int64(len(ch.data)) {
			return fmt.Errorf("server acknowledged offset %d after a chunk from %d to %d", next, ch.off, ch.off+int64(len(ch.data)))
		}
		free <- ch.data[:cap(ch.data)]
		if progress != nil {
			progress(next)
		}
	}
	return ctx.Err()
}

// Patch sends one chunk at offset and returns the offset the server
// acknowledged.
func (c *Client) Patch(ctx context.Context, uploadURL string, offset int64, chunk []byte) (int64, error) {
	return c.patch(ctx, uploadURL, offset, chunk, nil)
}

func (c *Client) patch(ctx context.Context, uploadURL string, offset int64, chunk, fileDigest []byte) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, uploadURL, bytes.NewReader(chunk))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	if c.ChunkChecksums {
		sum := sha256.Sum256(chunk)
		req.Header.Set("Upload-Checksum", "sha256 "+base64.StdEncoding.EncodeToString(sum[:]))
	}
	if fileDigest != nil {
		req.Header.Set("Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(fileDigest)+":")
	}
	resp, err := c.do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNoContent:
	case http.StatusNotFound, http.StatusGone:
		return 0, ErrUploadGone
	default:
		return 0, statusError("send chunk", resp)
	}
	return strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
}

// UploadEvidence fetches the evidence made from a finished upload, with its
// access token.
func (c *Client) UploadEvidence(ctx context.Context, uploadURL string) (Receipt, error) {
	var r Receipt
	u, err := url.Parse(uploadURL)
	if err != nil {
		return r, err
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/evidence"
	err = c.getJSON(ctx, u.String(), "", &r)
	return r, err
}

// Evidence fetches an evidence item with its access token.
func (c *Client) Evidence(ctx context.Context, id, token string) (evidence.Item, error) {
	var it evidence.Item
	err := c.getJSON(ctx, strings.TrimSuffix(c.Server, "/")+"/api/v1/evidence/"+url.PathEscape(id), token, &it)
	return it, err
}

func (c *Client) getJSON(ctx context.Context, u, token string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return statusError("GET "+req.URL.Path, resp)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// Receipt fetches the offline-checkable proof that an evidence item's
// "received" event is in the custody log.
func (c *Client) Receipt(ctx context.Context, id, token string) (verify.Receipt, error) {
	var r verify.Receipt
	err := c.getJSON(ctx, strings.TrimSuffix(c.Server, "/")+"/api/v1/evidence/"+url.PathEscape(id)+"/receipt", token, &r)
	return r, err
}

// UploadReceipt fetches the receipt of the evidence an upload became, by
// the upload's URL (its sender's capability): how a camera dock, which
// holds no token that reads its footage, gets its receipts.
func (c *Client) UploadReceipt(ctx context.Context, uploadURL string) (verify.Receipt, error) {
	var r verify.Receipt
	err := c.getJSON(ctx, strings.TrimSuffix(uploadURL, "/")+"/receipt", "", &r)
	return r, err
}

// Refresh asks the server to bring a receipt up to the log's latest
// checkpoint, with consistency proofs from the checkpoints it held. The
// answer is not checked here: verify it (verify.Check) before trusting it.
func (c *Client) Refresh(ctx context.Context, old verify.Receipt) (verify.Receipt, error) {
	var r verify.Receipt
	body, err := json.Marshal(old)
	if err != nil {
		return r, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.Server, "/")+"/api/v1/receipts/refresh", bytes.NewReader(body))
	if err != nil {
		return r, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http().Do(req)
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return r, statusError("refresh receipt", resp)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return r, err
	}
	return verify.Parse(b)
}
