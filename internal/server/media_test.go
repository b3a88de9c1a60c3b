package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/audit"
	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/client"
	"github.com/sightline/sightline/internal/derive"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/incident"
	"github.com/sightline/sightline/internal/jobs"
	"github.com/sightline/sightline/internal/media/mediatest"
	"github.com/sightline/sightline/internal/server"
	"github.com/sightline/sightline/internal/server/servertest"
)

func upload(t *testing.T, env *servertest.Env, path, source string) client.Receipt {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := env.Create(int64(len(data)), map[string]string{"source": source, "filename": path[strings.LastIndex(path, "/")+1:]})
	if resp, body := env.Patch(u, 0, data); resp.StatusCode != 204 {
		t.Fatalf("upload %s: %d %s", path, resp.StatusCode, body)
	}
	return env.Receipt(u)
}

var sup = incident.Actor{ID: "user:u_test", User: "u_test", Role: "supervisor", Unit: "central"}

// Four cameras of one scene, each a different codec, container and sample
// rate, one without sound, are aligned by the real media jobs (ffmpeg)
// and the alignment job; the offsets come out within a millisecond or
// two, the soundless clip is marked, and a review copy is made only for
// the HEVC clip.
func TestIncidentClipsAreAlignedByTheirSound(t *testing.T) {
	env := servertest.Start(t)
	env.RunJobs()
	clips := []struct {
		path   string
		source string
		start  float64
	}{
		{mediatest.Scene(t, "phone.mp4", 5, 0, 20), "phone", 0},
		{mediatest.Scene(t, "dashcam.webm", 5, 6, 14, "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-c:a", "libopus"), "dashcam", 6},
		{mediatest.Scene(t, "bodycam.mkv", 5, 3, 10, "-c:v", "libx265", "-preset", "ultrafast", "-ar", "22050"), "bodycam", 3},
		{mediatest.Clip(t, "cctv.mp4", "8", "-an"), "surveillance", -1},
	}
	inc, err := env.Server.Incidents().Create(t.Context(), sup, "Four angles")
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(clips))
	for i, c := range clips {
		r := upload(t, env, c.path, c.source)
		ids[i] = r.ID
		it, err := env.Server.Evidence().Get(t.Context(), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := env.Server.Incidents().AddClip(t.Context(), sup, inc.ID, it); err != nil {
			t.Fatal(err)
		}
	}
	tl := waitAligned(t, env, inc.ID)
	// Alignment can end before a clip's review copy, poster or
	// thumbnails: what follows counts every file the jobs make.
	env.WaitIdle()
	for i, c := range tl.Clips {
		want := clips[i]
		if c.Evidence != ids[i] {
			t.Fatalf("clip %d is %s, want %s: clips are listed in the order they were added", i, c.Evidence, ids[i])
		}
		// A clip's clock is its container's: where a codec's priming
		// (AAC in Matroska, Opus) made the muxer start the video a few
		// milliseconds in, the scene's start is that much after 0.
		if want.start >= 0 {
			want.start -= videoStart(t, want.path)
		}
		switch {
		case want.start < 0:
			if c.Status != incident.NoSound || c.Method != incident.ByMetadata || c.Confidence != 0 {
				t.Errorf("%s: %+v, want no-sound placed by metadata with confidence 0", want.source, c)
			}
		case math.Abs(c.Offset-want.start) > 0.002 || c.Method != incident.ByAudio || c.Status != incident.Aligned:
			t.Errorf("%s: offset %.4f s by %s (%s), want %.1f s by audio", want.source, c.Offset, c.Method, c.Status, want.start)
		}
	}
	// Only the HEVC clip needed a review copy; it is H.264 and names its
	// parent in a derived event.
	for i, id := range ids {
		_, err := env.Server.Derived().Get(t.Context(), id, derive.Review)
		if (i == 2) != (err == nil) {
			t.Errorf("%s: review copy %v", clips[i].source, err)
		}
	}
	f, _ := env.Server.Derived().Get(t.Context(), ids[2], derive.Review)
	if out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name", "-of", "csv=p=0",
		env.BlobFile(f.SHA256)).Output(); err != nil || strings.TrimSpace(string(out)) != "h264" {
		t.Errorf("review copy codec %q %v", out, err)
	}
	events, _ := env.Server.Custody().Events(t.Context(), ids[2])
	var kinds []string
	for _, e := range events {
		if e.Type == evidence.Derived {
			kinds = append(kinds, e.Details["kind"])
		}
	}
	if strings.Join(kinds, ",") != "audio,poster,thumbnails,review,fingerprint" {
		t.Errorf("derived events of the HEVC clip: %v", kinds)
	}
	env.Stop()
	if r, err := audit.Run(t.Context(), env.AuditPaths()); err != nil || len(r.Problems) != 0 || r.Derived != 16 { // audio, poster, thumbnails, fingerprint of three; the review copy of the HEVC clip; no audio of the silent one
		t.Errorf("audit: %v, %d derived files, problems %v", err, r.Derived, r.Problems)
	}
}

// videoStart is the time of a file's first video frame on its
// container's clock.
func videoStart(t *testing.T, path string) float64 {
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=start_time", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	var s float64
	fmt.Sscan(strings.TrimSpace(string(out)), &s)
	return s
}

// waitAligned waits until no clip of the incident is pending.
func waitAligned(t *testing.T, env *servertest.Env, id string) incident.Timeline {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		tl, err := env.Server.Incidents().Timeline(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		pending := false
		for _, c := range tl.Clips {
			pending = pending || c.Status == incident.Pending
		}
		if !pending {
			return tl
		}
		if time.Now().After(deadline) {
			t.Fatalf("still pending after 5 minutes: %+v", tl.Clips)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A file that looks like an MP4 but whose media data is garbage becomes
// evidence (it is what was received), but its media jobs fail: each is
// tried JobAttempts times, then reported failed with ffmpeg's reason;
// nothing half-made is kept, and its clip is placed by metadata, marked.
func TestCorruptFileJobsFailCleanly(t *testing.T) {
	env := servertest.Start(t, func(c *server.Config) { c.JobAttempts = 2; c.JobBackoff = time.Millisecond })
	env.RunJobs()
	good := upload(t, env, mediatest.Scene(t, "good.mp4", 9, 0, 10), "phone")
	data, err := os.ReadFile(mediatest.Scene(t, "bad.mp4", 9, 2, 8, "-movflags", "+faststart"))
	if err != nil {
		t.Fatal(err)
	}
	mdat := bytes.Index(data, []byte("mdat"))
	r := rand.New(rand.NewPCG(1, 2))
	for i := mdat + 4; i < len(data); i++ {
		data[i] = byte(r.Uint32())
	}
	path := t.TempDir() + "/bad.mp4"
	os.WriteFile(path, data, 0o600)
	bad := upload(t, env, path, "dashcam")

	inc, _ := env.Server.Incidents().Create(t.Context(), sup, "x")
	for _, id := range []string{good.ID, bad.ID} {
		it, _ := env.Server.Evidence().Get(t.Context(), id)
		env.Server.Incidents().AddClip(t.Context(), sup, inc.ID, it)
	}
	for _, k := range []derive.Kind{derive.Audio, derive.Poster, derive.Thumbnails} {
		j := env.WaitJob(string(k), bad.ID)
		if j.State != jobs.Failed || j.Attempts != 2 || j.LastError == "" {
			t.Errorf("%s job of the corrupt file: %+v, want failed after 2 attempts with a reason", k, j)
		}
		if _, err := env.Server.Derived().Get(t.Context(), bad.ID, k); err == nil {
			t.Errorf("a %s of the corrupt file was kept", k)
		}
		if j := env.WaitJob(string(k), good.ID); j.State != jobs.Done {
			t.Errorf("%s job of the good file: %+v", k, j)
		}
	}
	tl := waitAligned(t, env, inc.ID)
	if c := tl.Clips[1]; c.Status != incident.NoMedia || c.Method != incident.ByMetadata || !strings.Contains(c.Detail, "could not be extracted") {
		t.Errorf("corrupt clip on the timeline: %+v", c)
	}
	// The API says what failed and why.
	resp, body := env.Do("GET", env.URL+"/api/v1/evidence/"+bad.ID, map[string]string{"Authorization": "Bearer " + bad.AccessToken}, nil)
	var rec struct{ Derived map[string]string }
	if err := json.Unmarshal([]byte(body), &rec); resp.StatusCode != 200 || err != nil || !strings.HasPrefix(rec.Derived["audio"], "failed: ") {
		t.Errorf("evidence record: %d %s", resp.StatusCode, body)
	}
	env.Stop()
	if r, err := audit.Run(t.Context(), env.AuditPaths()); err != nil || len(r.Problems) != 0 {
		t.Errorf("audit: %v %v", err, r.Problems)
	}
	if ents, _ := os.ReadDir(env.Data + "/work"); len(ents) != 0 {
		t.Errorf("work folder keeps %d entries: %v", len(ents), fmt.Sprint(ents))
	}
}

// A crash can stop a media job after its file was recorded and stored, or
// even after its event was logged, but before the record says so; the
// job run again finishes it with one event, not two, and no orphan blob.
func TestDerivedFileInterruptedByACrashIsFinishedOnce(t *testing.T) {
	env := servertest.Start(t)
	r := upload(t, env, mediatest.Scene(t, "a.mp4", 4, 0, 4), "phone")
	it, _ := env.Server.Evidence().Get(t.Context(), r.ID)
	for _, logged := range []bool{false, true} {
		kind := derive.Poster
		if logged {
			kind = derive.Thumbnails
		}
		content := []byte("a picture made before the crash, " + string(kind))
		from, _ := env.Server.Log().NextIndex(t.Context())
		at := time.Now().UTC().Truncate(time.Microsecond)
		f := derive.File{Parent: r.ID, Kind: kind, SHA256: blob.Sum(content), Size: int64(len(content)), MIME: "image/jpeg", CreatedAt: at, LogFrom: from}
		if err := env.Server.Derived().Put(t.Context(), f); err != nil {
			t.Fatal(err)
		}
		if err := env.Server.Blobs().Put(t.Context(), f.SHA256, bytes.NewReader(content)); err != nil {
			t.Fatal(err)
		}
		if logged { // the event went in too
			e := evidence.Event{Type: evidence.Derived, Evidence: &evidence.EventSubject{ID: it.ID, SHA256: it.SHA256}, Actor: "sightline",
				At: evidence.EventTime(at), Details: map[string]string{"kind": string(kind), "sha256": f.SHA256.String(), "size": fmt.Sprint(f.Size), "mime": f.MIME}}
			if _, err := env.Server.Log().Append(t.Context(), e.Canonical()); err != nil {
				t.Fatal(err)
			}
		}
	}
	env.RunJobs() // the start-up sweep queues the media jobs of the item
	for _, k := range []derive.Kind{derive.Poster, derive.Thumbnails} {
		if j := env.WaitJob(string(k), r.ID); j.State != jobs.Done {
			t.Fatalf("%s job: %+v", k, j)
		}
		f, err := env.Server.Derived().Get(t.Context(), r.ID, k)
		if err != nil || !f.Logged {
			t.Fatalf("%s: %+v %v", k, f, err)
		}
	}
	env.Stop()
	rep, err := audit.Run(t.Context(), env.AuditPaths())
	if err != nil || len(rep.Problems) != 0 {
		t.Fatalf("audit: %v %v", err, rep.Problems)
	}
	env = servertest.StartIn(t, env.Data)
	events, _ := env.Server.Custody().Events(t.Context(), r.ID)
	count := map[string]int{}
	for _, e := range events {
		if e.Type == evidence.Derived {
			count[e.Details["kind"]]++
		}
	}
	if count["poster"] != 1 || count["thumbnails"] != 1 {
		t.Errorf("derived events: %v, want one each", count)
	}
}
