package ingest_test

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/client"
	"github.com/sightline/sightline/internal/ingest"
	"github.com/sightline/sightline/internal/media"
	"github.com/sightline/sightline/internal/media/mediatest"
	"github.com/sightline/sightline/internal/server"
	"github.com/sightline/sightline/internal/server/servertest"
)

var lookupClip = map[string]string{"purpose": "lookup", "filename": "viral.mp4", "note": "from a repost"}

func uploadIDOf(u string) string { return u[strings.LastIndex(u, "/")+1:] }

// A clip uploaded to be looked up is never evidence: nothing is logged
// or stored in the blob store, its metadata is dropped, it survives a
// restart unchanged, and a lookup takes it once, which removes it.
func TestClipUploadIsNotEvidence(t *testing.T) {
	dir := t.TempDir()
	env := servertest.StartIn(t, dir)
	data := clip(t)
	next, err := env.Server.Log().NextIndex(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	u := env.Create(int64(len(data)), lookupClip)
	if resp, body := env.Patch(u, 0, data[:10_000]); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("first PATCH: %d %s", resp.StatusCode, body)
	}
	if _, err := env.Server.Ingest().Clip(t.Context(), uploadIDOf(u)); !errors.Is(err, ingest.ErrClipUnfinished) {
		t.Fatalf("taking an unfinished clip: %v, want ErrClipUnfinished", err)
	}
	resp, body := env.Patch(u, 10_000, data[10_000:])
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("last PATCH: %d %s", resp.StatusCode, body)
	}
	exp, err := http.ParseTime(resp.Header.Get("Upload-Expires"))
	if err != nil || exp.After(env.Clock.Now().Add(61*time.Minute)) {
		t.Errorf("a finished clip's Upload-Expires %q (%v), want within the hour", resp.Header.Get("Upload-Expires"), err)
	}
	if resp, _ := env.Do("GET", u+"/evidence", nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the evidence of a clip to look up: %d, want 404", resp.StatusCode)
	}
	_, state, err := env.Server.Ingest().Saved(t.Context(), uploadIDOf(u))
	if err != nil || bytes.Contains(state, []byte("viral")) || bytes.Contains(state, []byte("repost")) {
		t.Errorf("the clip's saved state keeps its declared metadata (%v): %s", err, state)
	}

	env.Stop()
	env = servertest.StartIn(t, dir)
	if c := env.Contents(); c.Evidence != 0 || c.Blobs != 0 || len(c.UploadFiles) != 2 {
		t.Fatalf("after a restart the data folder holds %+v, want the clip's two files and nothing else", c)
	}
	if now, err := env.Server.Log().NextIndex(t.Context()); err != nil || now != next {
		t.Errorf("the log grew from %d to %d (%v) for a clip to look up", next, now, err)
	}
	c, err := env.Server.Ingest().Clip(t.Context(), uploadIDOf(u))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(c.Path)
	if err != nil || !bytes.Equal(got, data) || c.Format.Kind != media.Video || c.Size != int64(len(data)) {
		t.Fatalf("the clip taken: %d bytes (%v), format %+v, size %d", len(got), err, c.Format, c.Size)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Server.Ingest().Clip(t.Context(), uploadIDOf(u)); !errors.Is(err, ingest.ErrNoClip) {
		t.Errorf("taking a clip twice: %v, want ErrNoClip", err)
	}
	if c := env.Contents(); len(c.UploadFiles) != 0 {
		t.Errorf("a clip looked up left %v", c.UploadFiles)
	}
	// An upload of evidence is no clip.
	ev := env.Create(int64(len(data)), phone)
	env.Patch(ev, 0, data)
	if _, err := env.Server.Ingest().Clip(t.Context(), uploadIDOf(ev)); !errors.Is(err, ingest.ErrNoClip) {
		t.Errorf("taking evidence's upload as a clip: %v, want ErrNoClip", err)
	}
	for _, id := range []string{"", "../uploads", strings.Repeat("a", 32)} {
		if _, err := env.Server.Ingest().Clip(t.Context(), id); !errors.Is(err, ingest.ErrNoClip) {
			t.Errorf("taking clip %q: %v, want ErrNoClip", id, err)
		}
	}
}

// A clip not looked up is removed an hour after its last byte, finished
// or not, while evidence's upload of the same age stays.
func TestClipsExpireWithinTheHour(t *testing.T) {
	env := servertest.Start(t)
	data := clip(t)
	done := env.Create(int64(len(data)), lookupClip)
	env.Patch(done, 0, data)
	half := env.Create(int64(len(data)), lookupClip)
	env.Patch(half, 0, data[:10_000])
	ev := env.Create(int64(len(data)), phone)
	env.Patch(ev, 0, data[:10_000])
	env.Clock.Advance(30 * time.Minute)
	if n, err := env.Server.Ingest().Expire(t.Context()); err != nil || n != 0 {
		t.Fatalf("Expire after half an hour removed %d (%v), want 0", n, err)
	}
	env.Clock.Advance(31 * time.Minute)
	if n, err := env.Server.Ingest().Expire(t.Context()); err != nil || n != 2 {
		t.Fatalf("Expire after an hour removed %d (%v), want the 2 clips", n, err)
	}
	if c := env.Contents(); len(c.UploadFiles) != 2 || !strings.HasPrefix(c.UploadFiles[0], uploadIDOf(ev)) {
		t.Errorf("left %v, want only the evidence's upload", c.UploadFiles)
	}
}

// What a clip to look up may not be is refused when it is created or at
// its first bytes, and nothing of it is kept.
func TestClipRefusals(t *testing.T) {
	env := servertest.Start(t, func(c *server.Config) { c.MaxLookup = 1 << 20 })
	create := func(h map[string]string) (*http.Response, string) {
		return env.Do("POST", "/api/v1/uploads/", h, nil)
	}
	meta := client.EncodeMetadata
	for _, c := range []struct {
		name string
		h    map[string]string
		want int
	}{
		{"larger than a lookup reads", map[string]string{"Upload-Length": "2000000", "Upload-Metadata": meta(map[string]string{"purpose": "lookup"})}, http.StatusRequestEntityTooLarge},
		{"without its length", map[string]string{"Upload-Defer-Length": "1", "Upload-Metadata": meta(map[string]string{"purpose": "lookup"})}, http.StatusBadRequest},
		{"another purpose", map[string]string{"Upload-Length": "1000", "Upload-Metadata": meta(map[string]string{"purpose": "archive", "source": "phone"})}, http.StatusBadRequest},
	} {
		if resp, body := create(c.h); resp.StatusCode != c.want {
			t.Errorf("a clip %s: %d %s, want %d", c.name, resp.StatusCode, body, c.want)
		}
	}
	png, err := os.ReadFile(mediatest.FFmpeg(t, "still.png", "-f", "lavfi", "-i", "color=red:s=64x64", "-frames:v", "1"))
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"a still image": png, "text": []byte(strings.Repeat("not a video ", 200))} {
		u := env.Create(int64(len(b)), lookupClip)
		if resp, body := env.Patch(u, 0, b); resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("a clip of %s: %d %s, want 415", name, resp.StatusCode, body)
		}
	}
	if c := env.Contents(); len(c.UploadFiles) != 0 || c.Evidence != 0 {
		t.Errorf("refused clips left %+v", c)
	}
}
