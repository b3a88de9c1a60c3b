package server_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/client"
	"github.com/sightline/sightline/internal/derive"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/jobs"
	"github.com/sightline/sightline/internal/media/mediatest"
	"github.com/sightline/sightline/internal/server/servertest"
	"github.com/sightline/sightline/verify"
)

// liveWebM is a WebM of the given seconds written as a live stream, as
// MediaRecorder writes one (no duration, no cues).
func liveWebM(t *testing.T, seconds string) []byte {
	t.Helper()
	data, err := os.ReadFile(mediatest.Clip(t, "live.webm", seconds, "-c:v", "libvpx", "-deadline", "realtime", "-c:a", "libopus", "-f", "webm", "-live", "1"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// createStream starts an upload without a length, as the capture page
// does.
func createStream(t *testing.T, env *servertest.Env) string {
	t.Helper()
	resp, body := env.Do("POST", "/api/v1/uploads/", map[string]string{"Upload-Defer-Length": "1",
		"Upload-Metadata": client.EncodeMetadata(map[string]string{"source": "phone", "filename": "capture.webm"})}, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	return resp.Header.Get("Location")
}

func patchOK(t *testing.T, env *servertest.Env, url string, off int64, chunk []byte, extra ...string) {
	t.Helper()
	if resp, body := env.Patch(url, off, chunk, extra...); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH at %d: %d %s", off, resp.StatusCode, body)
	}
}

func sweep(t *testing.T, env *servertest.Env) {
	t.Helper()
	if err := env.Server.Ingest().SweepStreams(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// partials lists the partial events about an evidence id.
func partials(t *testing.T, env *servertest.Env, id string) []evidence.LoggedEvent {
	t.Helper()
	events, err := env.Server.Custody().Events(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []evidence.LoggedEvent
	for _, e := range events {
		if e.Type == evidence.Partial {
			out = append(out, e)
		}
	}
	return out
}

// A recording streamed without a length is logged as it grows, at least
// every 10 s, each "partial" event giving the SHA-256 and count of the
// bytes then received. When its sender falls silent for the configured
// time it becomes evidence marked partial holding exactly those bytes; its
// WebM states no duration, which is read from its packets, and it gets a
// review copy.
func TestSilentStreamBecomesPartialEvidence(t *testing.T) {
	env := servertest.Start(t)
	data := liveWebM(t, "6")
	cut := []int64{int64(len(data)) / 3, int64(len(data)) * 2 / 3}
	url := createStream(t, env)

	patchOK(t, env, url, 0, data[:cut[0]])
	sweep(t, env) // the first bytes are logged at once
	env.Clock.Advance(5 * time.Second)
	patchOK(t, env, url, cut[0], data[cut[0]:cut[1]])
	sweep(t, env) // 5 s later: not yet
	env.Clock.Advance(5 * time.Second)
	sweep(t, env) // 10 s after the first
	env.Clock.Advance(5 * time.Second)
	sweep(t, env) // nothing new arrived: nothing to log

	// Silent for 10 minutes: the phone was taken.
	env.Clock.Advance(10 * time.Minute)
	sweep(t, env)

	r := env.Receipt(url)
	if !r.Partial || r.Size != cut[1] {
		t.Fatalf("evidence partial=%v size=%d, want partial with %d bytes", r.Partial, r.Size, cut[1])
	}
	want := sha256.Sum256(data[:cut[1]])
	if r.SHA256.String() != hex.EncodeToString(want[:]) {
		t.Fatalf("evidence SHA-256 %s is not that of the bytes sent", r.SHA256)
	}
	if r.DurationS == nil || *r.DurationS < 3 || *r.DurationS > 5 || !r.Unindexed || r.Video == nil || r.Video.Codec != "vp8" {
		t.Errorf("inspected as %+v (duration %v), want an unindexed VP8 of about 4 s", r.Info, r.DurationS)
	}

	ps := partials(t, env, r.ID)
	if len(ps) != 2 {
		t.Fatalf("%d partial events, want 2: %+v", len(ps), ps)
	}
	for i, p := range ps {
		n, _ := strconv.ParseInt(p.Details["size"], 10, 64)
		if n != cut[i] {
			t.Errorf("partial event %d covers %d bytes, want %d", i, n, cut[i])
		}
		entry, err := env.Server.Log().Entry(t.Context(), p.Index)
		if err != nil {
			t.Fatal(err)
		}
		e, err := evidence.ParseEvent(entry)
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(data[:n]); e.Evidence.SHA256.String() != hex.EncodeToString(sum[:]) {
			t.Errorf("partial event %d: SHA-256 %s is not that of the first %d bytes", i, e.Evidence.SHA256, n)
		}
	}

	// The receipt proves the bytes and says they are partial.
	resp, body := env.Do("GET", "/api/v1/evidence/"+r.ID+"/receipt", map[string]string{"Authorization": "Bearer " + r.AccessToken}, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("receipt: %d %s", resp.StatusCode, body)
	}
	rc, err := verify.Parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verify.Check(rc, env.Server.Log().VerifierKey()); err != nil {
		t.Fatal(err)
	}
	e, _ := evidence.ParseEvent([]byte(rc.Entry))
	if e.Details["partial"] != "true" {
		t.Errorf("received event %s does not say partial", rc.Entry)
	}

	// Its review copy is made (browsers cannot seek in it as it is).
	env.RunJobs()
	if j := env.WaitJob(string(derive.Review), r.ID); j.State != jobs.Done {
		t.Fatalf("review copy: %+v", j)
	}
	if c := env.Contents(); len(c.UploadFiles) != 1 { // the tombstone
		t.Errorf("uploads left: %v", c.UploadFiles)
	}
}

// A stream its sender finishes (the length declared with the last bytes)
// is ordinary evidence; a stream silent before any byte arrived leaves
// nothing.
func TestFinishedStreamIsWholeAndEmptyOneIsDropped(t *testing.T) {
	env := servertest.Start(t)
	data := liveWebM(t, "2")
	url := createStream(t, env)
	half := int64(len(data) / 2)
	patchOK(t, env, url, 0, data[:half])
	patchOK(t, env, url, half, data[half:], "Upload-Length", strconv.Itoa(len(data)))
	r := env.Receipt(url)
	if r.Partial || r.Size != int64(len(data)) {
		t.Errorf("finished stream: partial=%v size=%d, want whole %d", r.Partial, r.Size, len(data))
	}

	empty := createStream(t, env)
	env.Clock.Advance(11 * time.Minute)
	sweep(t, env)
	if resp, _ := env.Do("HEAD", empty, nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("empty silent stream: HEAD %d, want 404", resp.StatusCode)
	}
	if c := env.Contents(); c.Evidence != 1 {
		t.Errorf("%d evidence items, want 1", c.Evidence)
	}
}

// A phone that comes back after its stream was kept as partial evidence
// is told so (410, ERR_KEPT_AS_PARTIAL) rather than answered 204 for
// bytes thrown away. It sends the rest as a new upload that continues the
// partial one; the two items, joined in order, are every byte, and the
// new item's received event names the one it continues.
func TestLatePhoneContinuesItsPartialRecording(t *testing.T) {
	env := servertest.Start(t)
	data := liveWebM(t, "4")
	cut := int64(len(data)) / 2
	url := createStream(t, env)
	patchOK(t, env, url, 0, data[:cut])
	env.Clock.Advance(11 * time.Minute)
	sweep(t, env)
	first := env.Receipt(url)
	if !first.Partial || first.Size != cut {
		t.Fatalf("first part: partial=%v size %d", first.Partial, first.Size)
	}

	// The phone is back, sending where it stopped.
	resp, body := env.Patch(url, cut, data[cut:])
	if resp.StatusCode != http.StatusGone || !strings.Contains(body, "ERR_KEPT_AS_PARTIAL") {
		t.Fatalf("late PATCH: %d %s, want 410 ERR_KEPT_AS_PARTIAL", resp.StatusCode, body)
	}
	// Only a stream kept as partial can be continued.
	for _, bad := range []string{"0123456789abcdef0123456789abcdef", "../x", createStream(t, env)[len(env.URL)+len("/api/v1/uploads/"):]} {
		resp, body := env.Do("POST", "/api/v1/uploads/", map[string]string{"Upload-Defer-Length": "1", "Upload-Continues": bad,
			"Upload-Metadata": client.EncodeMetadata(map[string]string{"source": "phone"})}, nil)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("continuing %q: %d %s", bad, resp.StatusCode, body)
		}
	}
	id := url[strings.LastIndex(url, "/")+1:]
	resp, body = env.Do("POST", "/api/v1/uploads/", map[string]string{"Upload-Defer-Length": "1", "Upload-Continues": id,
		"Upload-Metadata": client.EncodeMetadata(map[string]string{"source": "phone"})}, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("continuation: %d %s", resp.StatusCode, body)
	}
	next := resp.Header.Get("Location")
	patchOK(t, env, next, 0, data[cut:], "Upload-Length", strconv.Itoa(len(data)-int(cut)))
	rest := env.Receipt(next)
	if rest.Continues != first.ID || rest.Partial {
		t.Fatalf("the rest: continues %q partial %v, want it to continue %s", rest.Continues, rest.Partial, first.ID)
	}
	joined := sha256.Sum256(data)
	var both []byte
	for _, r := range []client.Receipt{first, rest} {
		resp, b := env.Do("GET", "/api/v1/evidence/"+r.ID+"/original", map[string]string{"Authorization": "Bearer " + r.AccessToken}, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("original of %s: %d", r.ID, resp.StatusCode)
		}
		both = append(both, b...)
	}
	if sha256.Sum256(both) != joined {
		t.Errorf("the two parts joined (%d bytes) are not the recording (%d bytes)", len(both), len(data))
	}
	var received []evidence.Event
	for _, e := range logged(t, env) {
		if e.Type == evidence.Received && e.Evidence.ID == rest.ID {
			received = append(received, e)
		}
	}
	if len(received) != 1 || received[0].Details["continues"] != first.ID {
		t.Errorf("the rest's received events: %+v", received)
	}
}

// The sweeper decides from what it remembers of each stream: an idle
// stream's state file is not read every second, only when there is a
// partial event to log or a silence to end. (Its state is made unreadable
// here: a sweep that read it would fail.)
func TestIdleStreamsAreNotReadEverySweep(t *testing.T) {
	env := servertest.Start(t)
	if env.LogDB != "" {
		t.Skip("a folder spool's: the sweeper of replicas reads the streams' states from the database at every sweep, for the others receive them")
	}
	data := liveWebM(t, "2")
	url := createStream(t, env)
	patchOK(t, env, url, 0, data)
	sweep(t, env) // logs the bytes
	state := filepath.Join(env.Data, "uploads", url[strings.LastIndex(url, "/")+1:]+".json")
	good, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(state, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 30 {
		env.Clock.Advance(time.Second)
		sweep(t, env) // idle: nothing to read
	}
	env.Clock.Advance(10 * time.Minute)
	if err := env.Server.Ingest().SweepStreams(t.Context()); err == nil {
		t.Error("a sweep at the end of the silence did not read the stream's state")
	}
	if err := os.WriteFile(state, good, 0o600); err != nil {
		t.Fatal(err)
	}
	sweep(t, env)
	if r := env.Receipt(url); !r.Partial || r.Size != int64(len(data)) {
		t.Errorf("after the silence: partial=%v, %d bytes", r.Partial, r.Size)
	}
}
