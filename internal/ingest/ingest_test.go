package ingest_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/media/mediatest"
	"github.com/sightline/sightline/internal/server"
	"github.com/sightline/sightline/internal/server/servertest"
)

var (
	clipOnce sync.Once
	clipData []byte
)

// clip returns the bytes of a real MP4 of a few hundred kilobytes.
func clip(t *testing.T) []byte {
	clipOnce.Do(func() {
		b, err := os.ReadFile(mediatest.Clip(t, "clip.mp4", "4", "-metadata", "creation_time=2024-05-01T12:34:56Z"))
		if err != nil {
			t.Fatal(err)
		}
		clipData = b
	})
	if clipData == nil {
		t.Fatal("no clip")
	}
	return clipData
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

var phone = map[string]string{"filename": "clip.mp4", "source": "phone"}

func TestUploadInChunks(t *testing.T) {
	env := servertest.Start(t)
	data := clip(t)
	u := env.Create(int64(len(data)), phone)

	// Not evidence until the last byte.
	if resp, _ := env.Do("GET", u+"/evidence", nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("evidence of an unfinished upload: %d, want 404", resp.StatusCode)
	}
	cuts := []int{0, 100, 5000, len(data) / 2, len(data)}
	for i := 1; i < len(cuts); i++ {
		chunk := data[cuts[i-1]:cuts[i]]
		var extra []string
		if i%2 == 0 {
			extra = []string{"Upload-Checksum", servertest.Checksum(chunk)}
		}
		resp, body := env.Patch(u, int64(cuts[i-1]), chunk, extra...)
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Upload-Offset") != strconv.Itoa(cuts[i]) {
			t.Fatalf("PATCH %d: %d %s, offset %s", i, resp.StatusCode, body, resp.Header.Get("Upload-Offset"))
		}
		if i < len(cuts)-1 && resp.Header.Get("Upload-Expires") == "" {
			t.Errorf("PATCH %d: no Upload-Expires on an unfinished upload", i)
		}
	}
	r := env.Receipt(u)
	if r.SHA256.String() != sha(data) || r.Size != int64(len(data)) {
		t.Fatalf("evidence sha256 %s size %d; want %s %d", r.SHA256, r.Size, sha(data), len(data))
	}
	if r.AccessToken == "" || r.Source != "phone" || r.Filename != "clip.mp4" || r.MediaType != "video" || r.Video == nil || r.Video.Codec != "h264" {
		t.Fatalf("incomplete evidence: %+v", r)
	}
	if r.CapturedAt == nil || r.CapturedAt.Format(time.RFC3339) != "2024-05-01T12:34:56Z" {
		t.Errorf("captured_at = %v", r.CapturedAt)
	}
	// The custody log holds the "received" event, once.
	it, err := env.Server.Evidence().Get(t.Context(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	entry, err := env.Server.Log().Entry(t.Context(), it.ReceivedIndex)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := evidence.ParseEvent(entry)
	if err != nil || ev.Type != evidence.Received || ev.Evidence.ID != r.ID || ev.Evidence.SHA256 != r.SHA256 {
		t.Fatalf("log entry %d = %s (%v); want the received event of %s", it.ReceivedIndex, entry, err, r.ID)
	}
	if strings.Contains(string(entry), "clip.mp4") || strings.Contains(string(entry), r.AccessToken) {
		t.Errorf("the public log entry carries the file name or the token: %s", entry)
	}
	// The upload still answers HEAD, as complete, so a client asking again
	// does not start over.
	resp, _ := env.Do("HEAD", u, nil, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Upload-Offset") != strconv.Itoa(len(data)) {
		t.Errorf("HEAD after completion: %d offset %s", resp.StatusCode, resp.Header.Get("Upload-Offset"))
	}
	c := env.Contents()
	if c.Evidence != 1 || c.Blobs != 1 || len(c.UploadFiles) != 1 || !strings.HasSuffix(c.UploadFiles[0], ".json") {
		t.Errorf("data folder holds %+v; want 1 evidence, 1 blob and only the upload's tombstone", c)
	}
	// The original is stored byte for byte.
	got, err := os.ReadFile(env.BlobFile(r.SHA256))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("stored original differs from the upload (%v)", err)
	}
}

func TestCreationWithUploadAndDeferredLength(t *testing.T) {
	env := servertest.Start(t)
	data := clip(t)
	half := len(data) / 2

	// creation-with-upload and creation-defer-length together.
	resp, body := env.Do("POST", "/api/v1/uploads/", map[string]string{
		"Upload-Defer-Length": "1", "Upload-Metadata": "source cGhvbmU=",
		"Content-Type": "application/offset+octet-stream"}, data[:half])
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Upload-Offset") != strconv.Itoa(half) {
		t.Fatalf("POST with body: %d %s offset %q", resp.StatusCode, body, resp.Header.Get("Upload-Offset"))
	}
	u := resp.Header.Get("Location")
	resp, body = env.Patch(u, int64(half), data[half:], "Upload-Length", strconv.Itoa(len(data)))
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("final PATCH declaring the length: %d %s", resp.StatusCode, body)
	}
	if r := env.Receipt(u); r.SHA256.String() != sha(data) {
		t.Fatalf("sha256 %s, want %s", r.SHA256, sha(data))
	}
}

// A stream's last PATCH declares its length; cut off after the server
// took the length, it is sent again with the length again (as a phone
// does, not knowing how far the first got), and the rest is taken. A
// different length is still refused.
func TestLengthDeclaredByACutPatchMaySayItAgain(t *testing.T) {
	env := servertest.Start(t)
	data := clip(t)
	resp, body := env.Do("POST", "/api/v1/uploads/", map[string]string{"Upload-Defer-Length": "1", "Upload-Metadata": "source cGhvbmU="}, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	u := resp.Header.Get("Location")
	id := u[strings.LastIndex(u, "/")+1:]
	half := len(data) / 2
	if resp, body := env.Patch(u, 0, data[:half]); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("first half: %d %s", resp.StatusCode, body)
	}

	// The last PATCH, declaring the length, cut off after a few bytes.
	addr, _ := url.Parse(env.URL)
	conn, err := net.Dial("tcp", addr.Host)
	if err != nil {
		t.Fatal(err)
	}
	path, _ := url.Parse(u)
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: %s\r\nTus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\nUpload-Offset: %d\r\nUpload-Length: %d\r\nContent-Length: %d\r\n\r\n",
		path.Path, addr.Host, half, len(data), len(data)-half)
	conn.Write(data[half : half+100])
	// The length is saved before any byte is read: wait for it, then cut.
	deadline := time.Now().Add(time.Minute) // for a busy machine
	for {
		_, raw, err := env.Server.Ingest().Saved(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			Info struct{ SizeIsDeferred bool }
		}
		if err := json.Unmarshal(raw, &st); err != nil {
			t.Fatal(err)
		}
		if !st.Info.SizeIsDeferred {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cut PATCH's length was never saved")
		}
		time.Sleep(20 * time.Millisecond)
	}
	conn.Close()

	// Where it stands, once the cut request is over (it holds the lock).
	var off int64
	for {
		resp, _ := env.Do("HEAD", u, nil, nil)
		if resp.StatusCode == http.StatusOK {
			if resp.Header.Get("Upload-Length") != strconv.Itoa(len(data)) {
				t.Fatalf("HEAD after the cut PATCH: Upload-Length %q, want %d", resp.Header.Get("Upload-Length"), len(data))
			}
			off, _ = strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("HEAD after the cut PATCH: %d", resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if off < int64(half) || off > int64(half+100) {
		t.Fatalf("after the cut PATCH the offset is %d, want between %d and %d", off, half, half+100)
	}
	if resp, body := env.Patch(u, off, data[off:], "Upload-Length", strconv.Itoa(len(data)+1)); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a different length after one was declared: %d %s, want 400", resp.StatusCode, body)
	}
	if resp, body := env.Patch(u, off, data[off:], "Upload-Length", strconv.Itoa(len(data))); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("the rest, with the same length again: %d %s, want 204", resp.StatusCode, body)
	}
	if r := env.Receipt(u); r.SHA256.String() != sha(data) {
		t.Fatalf("sha256 %s, want %s", r.SHA256, sha(data))
	}
}

// A stream (no length at creation) is held to --max-size like any
// upload: a PATCH that would take it past the limit is refused whole, and
// so is declaring a length past it; what was acknowledged stays.
func TestStreamsAreHeldToTheMaxSize(t *testing.T) {
	data := clip(t)
	limit := len(data) - 100
	env := servertest.Start(t, func(c *server.Config) { c.MaxSize = int64(limit) })
	resp, body := env.Do("POST", "/api/v1/uploads/", map[string]string{"Upload-Defer-Length": "1", "Upload-Metadata": "source cGhvbmU="}, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	u := resp.Header.Get("Location")
	half := len(data) / 2
	if resp, body := env.Patch(u, 0, data[:half]); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("first half: %d %s", resp.StatusCode, body)
	}
	if resp, body := env.Patch(u, int64(half), data[half:]); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a PATCH past the limit: %d %s, want 413", resp.StatusCode, body)
	}
	if resp, body := env.Patch(u, int64(half), nil, "Upload-Length", strconv.Itoa(limit+1)); resp.StatusCode != http.StatusRequestEntityTooLarge &&
		resp.StatusCode != http.StatusBadRequest {
		t.Errorf("declaring a length past the limit: %d %s, want a refusal", resp.StatusCode, body)
	}
	resp, _ = env.Do("HEAD", u, nil, nil)
	if got := resp.Header.Get("Upload-Offset"); got != strconv.Itoa(half) {
		t.Errorf("after the refusals the upload holds %s bytes, want %d", got, half)
	}
}

func TestOptionsAdvertisesTheProtocol(t *testing.T) {
	env := servertest.Start(t, func(c *server.Config) { c.MaxSize = 1 << 30 })
	resp, _ := env.Do("OPTIONS", "/api/v1/uploads/", nil, nil)
	ext := strings.Split(resp.Header.Get("Tus-Extension"), ",")
	for _, want := range []string{"creation", "creation-with-upload", "creation-defer-length", "termination", "expiration", "checksum"} {
		if !slices.Contains(ext, want) {
			t.Errorf("Tus-Extension %q lacks %s", resp.Header.Get("Tus-Extension"), want)
		}
	}
	if !strings.Contains(resp.Header.Get("Tus-Checksum-Algorithm"), "sha256") {
		t.Errorf("Tus-Checksum-Algorithm = %q", resp.Header.Get("Tus-Checksum-Algorithm"))
	}
	if resp.Header.Get("Tus-Max-Size") != strconv.Itoa(1<<30) || resp.Header.Get("Tus-Version") != "1.0.0" {
		t.Errorf("Tus-Max-Size %q, Tus-Version %q", resp.Header.Get("Tus-Max-Size"), resp.Header.Get("Tus-Version"))
	}
}

// Every bad input gets its error and leaves nothing behind: no evidence, no
// blob, and no upload file but those of a still-resumable upload, which
// holds only its acknowledged bytes.
func TestBadInput(t *testing.T) {
	data := clip(t)
	text := []byte("Dear Sir, this is a letter, not a video.\n")
	tests := []struct {
		name    string
		run     func(env *servertest.Env) (*http.Response, string)
		status  int
		mention string
		// resumable, if not -1, is the offset at which the upload must remain.
		resumable int
	}{
		{"missing source", func(env *servertest.Env) (*http.Response, string) {
			return env.Do("POST", "/api/v1/uploads/", map[string]string{"Upload-Length": "10", "Upload-Metadata": "filename YS5tcDQ="}, nil)
		}, 400, "source", -1},
		{"unknown source", func(env *servertest.Env) (*http.Response, string) {
			return env.Do("POST", "/api/v1/uploads/", map[string]string{"Upload-Length": "10", "Upload-Metadata": "source ZHJvbmU="}, nil)
		}, 400, "drone", -1},
		{"path in filename", func(env *servertest.Env) (*http.Response, string) {
			return env.Do("POST", "/api/v1/uploads/", map[string]string{"Upload-Length": "10",
				"Upload-Metadata": "source cGhvbmU=,filename Li4vLi4vZXRjL3Bhc3N3ZA=="}, nil) // ../../etc/passwd
		}, 400, "filename", -1},
		{"control character in filename", func(env *servertest.Env) (*http.Response, string) {
			return env.Do("POST", "/api/v1/uploads/", map[string]string{"Upload-Length": "10",
				"Upload-Metadata": "source cGhvbmU=,filename YQpiLm1wNA=="}, nil) // "a\nb.mp4"
		}, 400, "control character", -1},
		{"over the maximum size", func(env *servertest.Env) (*http.Response, string) {
			return env.Do("POST", "/api/v1/uploads/", map[string]string{"Upload-Length": strconv.Itoa(2 << 20), "Upload-Metadata": "source cGhvbmU="}, nil)
		}, 413, "", -1},
		{"not media", func(env *servertest.Env) (*http.Response, string) {
			u := env.Create(int64(len(text)), phone)
			return env.Patch(u, 0, text)
		}, 415, "not video, audio or a still image", -1},
		{"not media, sent in pieces", func(env *servertest.Env) (*http.Response, string) {
			u := env.Create(int64(len(text)), phone)
			if resp, body := env.Patch(u, 0, text[:5]); resp.StatusCode != http.StatusNoContent {
				return resp, body
			}
			return env.Patch(u, 5, text[5:])
		}, 415, "not video", -1},
		{"not media, in the creation request", func(env *servertest.Env) (*http.Response, string) {
			return env.Do("POST", "/api/v1/uploads/", map[string]string{"Upload-Length": strconv.Itoa(len(text)),
				"Upload-Metadata": "source cGhvbmU=", "Content-Type": "application/offset+octet-stream"}, text)
		}, 415, "not video", -1},
		{"empty file", func(env *servertest.Env) (*http.Response, string) {
			return env.Do("POST", "/api/v1/uploads/", map[string]string{"Upload-Length": "0", "Upload-Metadata": "source cGhvbmU="}, nil)
		}, 415, "", -1},
		{"wrong offset", func(env *servertest.Env) (*http.Response, string) {
			u := env.Create(int64(len(data)), phone)
			env.Patch(u, 0, data[:1000])
			return env.Patch(u, 500, data[500:2000])
		}, 409, "", 1000},
		{"checksum mismatch", func(env *servertest.Env) (*http.Response, string) {
			u := env.Create(int64(len(data)), phone)
			env.Patch(u, 0, data[:1000])
			return env.Patch(u, 1000, data[1000:3000], "Upload-Checksum", servertest.Checksum(data[1000:2999]))
		}, 460, "Upload-Checksum", 1000},
		{"unsupported checksum algorithm", func(env *servertest.Env) (*http.Response, string) {
			u := env.Create(int64(len(data)), phone)
			env.Patch(u, 0, data[:1000])
			return env.Patch(u, 1000, data[1000:3000], "Upload-Checksum", "crc32 AAAAAA==")
		}, 400, "algorithm", 1000},
		{"file digest mismatch", func(env *servertest.Env) (*http.Response, string) {
			u := env.Create(int64(len(data)), phone)
			env.Patch(u, 0, data[:1000])
			other := sha256.Sum256(data[1:])
			return env.Patch(u, 1000, data[1000:], "Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(other[:])+":")
		}, 460, "Repr-Digest", -1},
		{"malformed file digest", func(env *servertest.Env) (*http.Response, string) {
			u := env.Create(int64(len(data)), phone)
			env.Patch(u, 0, data[:1000])
			return env.Patch(u, 1000, data[1000:], "Repr-Digest", "sha-256=:bm90IGEgZGlnZXN0:")
		}, 400, "Repr-Digest", 1000},
		{"chunk past the declared length", func(env *servertest.Env) (*http.Response, string) {
			u := env.Create(1000, phone)
			return env.Patch(u, 0, data[:2000])
		}, 413, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := servertest.Start(t, func(c *server.Config) { c.MaxSize = 1 << 20 })
			resp, body := tc.run(env)
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.mention) {
				t.Fatalf("got %d %q; want %d mentioning %q", resp.StatusCode, body, tc.status, tc.mention)
			}
			c := env.Contents()
			if c.Evidence != 0 || c.Blobs != 0 {
				t.Fatalf("after refused input the data folder holds %+v", c)
			}
			if tc.resumable < 0 {
				if len(c.UploadFiles) != 0 {
					t.Fatalf("refused upload left files %v", c.UploadFiles)
				}
				return
			}
			want := 2 // its state and its bytes
			if env.LogDB != "" && tc.resumable == 0 {
				want = 1 // a shared spool has no object before the first byte
			}
			if len(c.UploadFiles) != want {
				t.Fatalf("upload files %v; want the resumable upload's %d", c.UploadFiles, want)
			}
			for _, f := range c.UploadFiles {
				id, ok := strings.CutSuffix(f, ".json")
				if !ok {
					continue
				}
				if saved, _, err := env.Server.Ingest().Saved(t.Context(), id); err != nil || saved != int64(tc.resumable) {
					t.Fatalf("upload %s saved at %d (%v); want the %d acknowledged", id, saved, err, tc.resumable)
				}
				if env.LogDB == "" {
					fi, err := os.Stat(filepath.Join(env.Data, "uploads", id+".bin"))
					if err != nil || fi.Size() != int64(tc.resumable) {
						t.Fatalf("%s.bin holds %d bytes (%v); want the %d acknowledged", id, fi.Size(), err, tc.resumable)
					}
				}
			}
		})
	}
}

func TestMatchingFileDigestIsAccepted(t *testing.T) {
	env := servertest.Start(t)
	data := clip(t)
	sum := sha256.Sum256(data)
	digest := "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
	resp, body := env.Do("POST", "/api/v1/uploads/", map[string]string{
		"Upload-Length": strconv.Itoa(len(data)), "Upload-Metadata": "source cGhvbmU=", "Repr-Digest": digest}, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create with Repr-Digest: %d %s", resp.StatusCode, body)
	}
	u := resp.Header.Get("Location")
	if resp, body := env.Patch(u, 0, data); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH: %d %s", resp.StatusCode, body)
	}
	if r := env.Receipt(u); r.SHA256.String() != sha(data) {
		t.Fatal("wrong sha256")
	}
}

// A recording cut short (the phone was seized) is evidence all the same,
// stored as sent, with what could not be read in media_error.
func TestTruncatedRecordingIsStoredAsSent(t *testing.T) {
	env := servertest.Start(t)
	whole, err := os.ReadFile(mediatest.Clip(t, "cut.mp4", "6", "-movflags", "+faststart"))
	if err != nil {
		t.Fatal(err)
	}
	data := whole[:len(whole)*2/3]
	u := env.Create(int64(len(data)), phone)
	if resp, body := env.Patch(u, 0, data); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH: %d %s", resp.StatusCode, body)
	}
	r := env.Receipt(u)
	if r.SHA256.String() != sha(data) || r.Size != int64(len(data)) {
		t.Fatal("the truncated file was not stored as sent")
	}
	if r.MediaType != "video" || !strings.Contains(r.Error, "truncated") {
		t.Fatalf("media_type %q, media_error %q; want video and a mention of the truncation", r.MediaType, r.Error)
	}
}

func TestRefusedChunkCanBeResent(t *testing.T) {
	env := servertest.Start(t)
	data := clip(t)
	u := env.Create(int64(len(data)), phone)
	if resp, body := env.Patch(u, 0, data, "Upload-Checksum", servertest.Checksum(data[1:])); resp.StatusCode != 460 {
		t.Fatalf("bad checksum: %d %s", resp.StatusCode, body)
	}
	if resp, body := env.Patch(u, 0, data, "Upload-Checksum", servertest.Checksum(data)); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("good resend: %d %s", resp.StatusCode, body)
	}
	if r := env.Receipt(u); r.SHA256.String() != sha(data) {
		t.Fatal("wrong sha256 after a resent chunk")
	}
}

func TestSameBytesTwiceStoredOnce(t *testing.T) {
	env := servertest.Start(t)
	data := clip(t)
	var ids []string
	for range 2 {
		u := env.Create(int64(len(data)), phone)
		env.Patch(u, 0, data)
		r := env.Receipt(u)
		if r.SHA256.String() != sha(data) {
			t.Fatal("wrong sha256")
		}
		ids = append(ids, r.ID)
	}
	if ids[0] == ids[1] {
		t.Fatal("two submissions share one evidence record")
	}
	if c := env.Contents(); c.Evidence != 2 || c.Blobs != 1 {
		t.Fatalf("data folder holds %+v; want 2 evidence records and 1 blob", c)
	}
}

// A client that drops the connection mid-PATCH keeps what arrived, and
// resumes from the offset HEAD reports.
func TestDroppedConnectionResumes(t *testing.T) {
	env := servertest.Start(t)
	data := clip(t)
	u := env.Create(int64(len(data)), phone)
	part := len(data) / 3

	addr, _ := url.Parse(env.URL)
	conn, err := net.Dial("tcp", addr.Host)
	if err != nil {
		t.Fatal(err)
	}
	path, _ := url.Parse(u)
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: %s\r\nTus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: %d\r\n\r\n",
		path.Path, addr.Host, len(data))
	conn.Write(data[:part])
	time.Sleep(200 * time.Millisecond)
	conn.Close()

	var offset int
	deadline := time.Now().Add(time.Minute) // for a busy machine
	for {
		resp, _ := env.Do("HEAD", u, nil, nil)
		offset, _ = strconv.Atoi(resp.Header.Get("Upload-Offset"))
		if offset == part || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if offset != part {
		t.Fatalf("after a dropped connection HEAD says %d bytes; %d arrived", offset, part)
	}
	if resp, body := env.Patch(u, int64(offset), data[offset:]); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("resume: %d %s", resp.StatusCode, body)
	}
	if r := env.Receipt(u); r.SHA256.String() != sha(data) {
		t.Fatal("wrong sha256 after resuming")
	}
}

// A long PATCH saves its progress while it runs, so a crash in the middle
// of a large request keeps most of what arrived.
func TestLongPatchCheckpoints(t *testing.T) {
	env := servertest.Start(t, func(c *server.Config) { c.UploadCheckpoint = 64 << 10 })
	data := clip(t)
	u := env.Create(int64(len(data)), phone)
	id := u[strings.LastIndex(u, "/")+1:]

	addr, _ := url.Parse(env.URL)
	conn, err := net.Dial("tcp", addr.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	path, _ := url.Parse(u)
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: %s\r\nTus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: %d\r\n\r\n",
		path.Path, addr.Host, len(data))
	conn.Write(data[:len(data)*3/4])

	// The request is still open; its progress is already saved.
	var saved int64
	deadline := time.Now().Add(time.Minute) // for a busy machine
	for saved < 3*64<<10 && time.Now().Before(deadline) {
		saved, _, _ = env.Server.Ingest().Saved(t.Context(), id)
		time.Sleep(20 * time.Millisecond)
	}
	if saved < 3*64<<10 {
		t.Fatalf("mid-request, the saved offset is %d; checkpoints every 64 KiB should have saved more", saved)
	}
}

// Bytes on disk past the saved state were never acknowledged (a crash
// between write and state): they are cut off, and hashing stays right.
func TestUnacknowledgedTailIsDiscarded(t *testing.T) {
	env := servertest.Start(t)
	if env.LogDB != "" {
		t.Skip("a folder's own: a shared spool names the objects that hold the acknowledged bytes, and writes none past them")
	}
	data := clip(t)
	u := env.Create(int64(len(data)), phone)
	env.Patch(u, 0, data[:4096])
	bin := filepath.Join(env.Data, "uploads", u[strings.LastIndex(u, "/")+1:]+".bin")
	f, err := os.OpenFile(bin, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(bytes.Repeat([]byte{0xee}, 777)) // garbage that was never acknowledged
	f.Close()
	resp, _ := env.Do("HEAD", u, nil, nil)
	if resp.Header.Get("Upload-Offset") != "4096" {
		t.Fatalf("HEAD offset %s, want 4096", resp.Header.Get("Upload-Offset"))
	}
	env.Patch(u, 4096, data[4096:])
	if r := env.Receipt(u); r.SHA256.String() != sha(data) {
		t.Fatal("wrong sha256 after discarding an unacknowledged tail")
	}
}

// When the evidence cannot be made (here: ffprobe is missing), the final
// PATCH fails, and the upload is finished as soon as the server can: at the
// next request, or on restart.
func TestCompleteUploadFinishedOnRestart(t *testing.T) {
	data := clip(t)
	dir := t.TempDir()
	env := servertest.StartIn(t, dir)
	u := env.Create(int64(len(data)), phone)
	path := os.Getenv("PATH")
	t.Setenv("PATH", t.TempDir()) // no ffprobe, no ffmpeg
	resp, _ := env.Patch(u, 0, data)
	if resp.StatusCode < 500 {
		t.Fatalf("final PATCH without ffprobe answered %d, want a server error", resp.StatusCode)
	}
	if c := env.Contents(); c.Evidence != 0 {
		t.Fatal("evidence exists although finishing failed")
	}
	env.Stop()
	os.Setenv("PATH", path)

	env = servertest.StartIn(t, dir) // Recover finishes it
	p, _ := url.Parse(u)
	if r := env.Receipt(p.Path); r.SHA256.String() != sha(data) {
		t.Fatal("wrong sha256 after recovery")
	}
	if c := env.Contents(); c.Evidence != 1 || c.Blobs != 1 || len(c.UploadFiles) != 1 {
		t.Fatalf("after recovery the data folder holds %+v", c)
	}
}

// A crash after an upload's tombstone was saved but before its data file
// was removed (found by the SIGKILL test) leaves the data file; the next
// start removes it, and the evidence is untouched.
func TestRecoverRemovesDataLeftByATombstone(t *testing.T) {
	data := clip(t)
	dir := t.TempDir()
	env := servertest.StartIn(t, dir)
	u := env.Create(int64(len(data)), phone)
	env.Patch(u, 0, data)
	r := env.Receipt(u)
	env.Stop()
	id := u[strings.LastIndex(u, "/")+1:]
	// As if the removal never happened: the bytes are still in the spool.
	if env.LogDB != "" {
		if err := env.Server.Blobs().(*blob.S3).PutScratch(t.Context(), "uploads/"+id+"/part-000000000000-left", data); err != nil {
			t.Fatal(err)
		}
	} else if err := os.WriteFile(filepath.Join(dir, "uploads", id+".bin"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	env = servertest.StartIn(t, dir)
	if names, _ := env.Server.Ingest().Spooled(t.Context()); slices.Contains(names, id+".bin") {
		t.Fatalf("the finished upload's bytes are still there after a restart: %v", names)
	}
	if c := env.Contents(); c.Evidence != 1 || c.Blobs != 1 || len(c.UploadFiles) != 1 {
		t.Fatalf("after recovery the data folder holds %+v", c)
	}
	p, _ := url.Parse(u)
	if got := env.Receipt(p.Path); got.ID != r.ID {
		t.Fatalf("the upload now names evidence %s, was %s", got.ID, r.ID)
	}
}

// A damaged upload state does not keep the server from starting, nor the
// other uploads from recovering.
func TestRecoverSkipsADamagedUpload(t *testing.T) {
	data := clip(t)
	dir := t.TempDir()
	env := servertest.StartIn(t, dir)
	good := env.Create(int64(len(data)), phone)
	env.Patch(good, 0, data[:1000])
	bad := env.Create(int64(len(data)), phone)
	env.Stop()
	badID := bad[strings.LastIndex(bad, "/")+1:]
	if err := os.WriteFile(filepath.Join(dir, "uploads", badID+".json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	env = servertest.StartIn(t, dir)
	p, _ := url.Parse(good)
	resp, _ := env.Do("HEAD", p.Path, nil, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Upload-Offset") != "1000" {
		t.Fatalf("the good upload after restart: %d, offset %s", resp.StatusCode, resp.Header.Get("Upload-Offset"))
	}
}

func TestSilentUploadExpires(t *testing.T) {
	env := servertest.Start(t, func(c *server.Config) { c.UploadExpiry = time.Hour })
	data := clip(t)
	u := env.Create(int64(len(data)), phone)
	resp, _ := env.Patch(u, 0, data[:5000])
	exp, err := http.ParseTime(resp.Header.Get("Upload-Expires"))
	if err != nil || exp.Before(env.Clock.Now().Add(59*time.Minute)) || exp.After(env.Clock.Now().Add(61*time.Minute)) {
		t.Fatalf("Upload-Expires %q (%v), want an hour from now", resp.Header.Get("Upload-Expires"), err)
	}
	env.Clock.Advance(2 * time.Hour)
	if resp, _ := env.Do("HEAD", u, nil, nil); resp.StatusCode != http.StatusGone {
		t.Fatalf("HEAD of an expired upload: %d, want 410", resp.StatusCode)
	}
	n, err := env.Server.Ingest().Expire(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("Expire removed %d (%v), want 1", n, err)
	}
	if c := env.Contents(); len(c.UploadFiles) != 0 {
		t.Fatalf("expired upload left %v", c.UploadFiles)
	}
}

func TestTermination(t *testing.T) {
	env := servertest.Start(t)
	data := clip(t)
	u := env.Create(int64(len(data)), phone)
	env.Patch(u, 0, data[:5000])
	if resp, body := env.Do("DELETE", u, nil, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", resp.StatusCode, body)
	}
	if resp, _ := env.Do("HEAD", u, nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("HEAD after DELETE: %d", resp.StatusCode)
	}
	if c := env.Contents(); len(c.UploadFiles) != 0 || c.Blobs != 0 {
		t.Fatalf("terminated upload left %+v", c)
	}
}
