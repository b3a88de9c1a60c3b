package server_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/media/mediatest"
	"github.com/sightline/sightline/internal/server"
	"github.com/sightline/sightline/internal/server/servertest"
)

// flaky is a blob store that stops answering when down is set, as a
// bucket whose network is cut.
type flaky struct {
	blob.Store
	down *atomic.Bool
}

var errDown = errors.New("the store does not answer")

func (f flaky) Stat(ctx context.Context, ref blob.Ref) (int64, error) {
	if f.down.Load() {
		return 0, errDown
	}
	return f.Store.Stat(ctx, ref)
}

// /readyz says ready while the stores answer and 503, with why, once the
// blob store does not, so that a balancer drains the server; /healthz
// says only that the process answers. /metrics counts what the server
// did: bytes received, log appends, jobs, refusals by rule.
func TestReadinessAndMetrics(t *testing.T) {
	var down atomic.Bool
	wrapped := false
	env := servertest.Start(t, func(c *server.Config) {
		if c.SharedLog != nil {
			return // a replica's uploads need the bucket itself, not a wrapper
		}
		wrapped = true
		if c.Blobs == nil {
			b, err := blob.NewLocal(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			c.Blobs = b
		}
		c.Blobs = flaky{c.Blobs, &down}
	})
	get := func(path string) (int, string) {
		resp, err := http.Get(env.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/readyz"); code != http.StatusOK || !strings.HasPrefix(body, "ready") {
		t.Fatalf("/readyz: %d %q", code, body)
	}
	if wrapped {
		down.Store(true)
		if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "blob store does not answer") {
			t.Errorf("/readyz with the blob store down: %d %q, want 503 saying why", code, body)
		}
		if code, _ := get("/healthz"); code != http.StatusOK {
			t.Errorf("/healthz with the blob store down: %d, want 200 (the process answers)", code)
		}
		down.Store(false)
	}

	wav := mediatest.NoiseWAV(120_000, 3)
	u := env.Create(int64(len(wav)), map[string]string{"source": "dashcam"})
	if resp, body := env.Patch(u, 0, wav); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	rc := env.Receipt(u)
	id := rc.ID
	// The receipt waits for a checkpoint covering the upload's event.
	if _, err := env.Client().Receipt(t.Context(), rc.ID, rc.AccessToken); err != nil {
		t.Fatal(err)
	}
	if resp, _ := env.Do("GET", "/api/v1/evidence/"+id, map[string]string{"Authorization": "Bearer slc_wrong"}, nil); resp.StatusCode == http.StatusOK {
		t.Fatal("a wrong token read an item")
	}
	_, metrics := get("/metrics")
	value := func(series string) float64 {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(metrics)
		if m == nil {
			t.Errorf("/metrics lacks %s", series)
			return 0
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	if v := value("sightline_upload_bytes_received_total"); v != float64(len(wav)) {
		t.Errorf("bytes received: %v, want %d", v, len(wav))
	}
	if v := value("sightline_uploads_in_flight"); v != 0 {
		t.Errorf("uploads in flight after the upload: %v", v)
	}
	if v := value("sightline_log_append_seconds_count"); v < 1 {
		t.Errorf("log appends timed: %v, want the upload's at least", v)
	}
	value(`sightline_jobs{state="queued"}`) // the upload's media jobs wait (none run here)
	if v := value("sightline_log_checkpoint_size"); v < 1 {
		t.Errorf("log checkpoint size %v", v)
	}
	// The denial's rule, as the access table names it.
	if !regexp.MustCompile(`(?m)^sightline_refusals_total\{rule="[^"]+"\} [1-9]`).MatchString(metrics) {
		t.Errorf("/metrics counts no refusal:\n%s", metrics)
	}
}
