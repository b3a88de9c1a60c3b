package release_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/sightline/sightline/internal/account"
	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/incident"
	"github.com/sightline/sightline/internal/jobs"
	"github.com/sightline/sightline/internal/media/mediatest"
	"github.com/sightline/sightline/internal/release"
	"github.com/sightline/sightline/internal/server/servertest"
	"github.com/sightline/sightline/verify"
)

// TestReleaseDraftsAndApproval: a release is checked against its
// incident (spans inside its recordings, reasons from the list), numbered
// as the incident's next version, approved only by someone other than
// its author, and changed only as a draft; every step is logged without
// its words.
func TestReleaseDraftsAndApproval(t *testing.T) {
	env := servertest.Start(t)
	env.RunJobs()
	sup := incident.Actor{ID: "user:u_sup", User: "u_sup", Role: string(account.Supervisor), Unit: "central"}
	inc, err := env.Server.Incidents().Create(t.Context(), sup, "Stop on 5th")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i, seconds := range []float64{6, 4} {
		b, err := os.ReadFile(mediatest.Scene(t, "cam.mp4", 5, float64(i), seconds))
		if err != nil {
			t.Fatal(err)
		}
		id := uploadItem(t, env, b)
		it, err := env.Server.Evidence().Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if err := env.Server.Incidents().AddClip(t.Context(), sup, inc.ID, it); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	outside, err := os.ReadFile(mediatest.Scene(t, "other.mp4", 9, 0, 3))
	if err != nil {
		t.Fatal(err)
	}
	notInIncident := uploadItem(t, env, outside)
	env.WaitIdle()

	svc := env.Server.Releases()
	good := release.Input{Title: "Stop on 5th, both cameras", Summary: "What the cameras recorded.", Incident: inc.ID,
		Spans:    []release.Span{{Evidence: ids[0], FromS: 0, ToS: 5}, {Evidence: ids[1], FromS: 1, ToS: 3}},
		Withheld: []release.Withheld{{Evidence: ids[0], FromS: 5, ToS: 6, Reason: "victim"}}}
	for name, change := range map[string]func(*release.Input){
		"no title":           func(in *release.Input) { in.Title = " " },
		"past the end":       func(in *release.Input) { in.Spans[1].ToS = 4.5 },
		"not in incident":    func(in *release.Input) { in.Spans[1].Evidence = notInIncident },
		"unknown reason":     func(in *release.Input) { in.Withheld[0].Reason = "because" },
		"overlapping":        func(in *release.Input) { in.Spans[1] = release.Span{Evidence: ids[0], FromS: 4, ToS: 5.5} },
		"withheld and shown": func(in *release.Input) { in.Withheld[0].FromS = 4 },
		"no spans":           func(in *release.Input) { in.Spans = nil },
	} {
		in := good
		in.Spans, in.Withheld = append([]release.Span(nil), good.Spans...), append([]release.Withheld(nil), good.Withheld...)
		change(&in)
		if _, err := svc.Create(t.Context(), "user:u_rec", in); !errors.Is(err, release.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	r, err := svc.Create(t.Context(), "user:u_rec", good)
	if err != nil || r.Number != 1 || r.Status != release.Draft {
		t.Fatalf("create: %+v %v", r, err)
	}
	second, err := svc.Create(t.Context(), "user:u_rec", good)
	if err != nil || second.Number != 2 {
		t.Fatalf("a second release of the incident: version %d, %v", second.Number, err)
	}
	edited := good
	edited.Title = "Stop on 5th"
	if r, err = svc.Update(t.Context(), "user:u_rec", r.ID, edited); err != nil || r.Title != "Stop on 5th" {
		t.Fatalf("edit: %+v %v", r, err)
	}
	if _, err := svc.Approve(t.Context(), "user:u_rec", r.ID); !errors.Is(err, release.ErrOwn) {
		t.Errorf("its author approved it: %v", err)
	}
	if r, err = svc.Approve(t.Context(), "user:u_rec2", r.ID); err != nil || r.Status != release.Approved || r.Approver != "user:u_rec2" {
		t.Fatalf("approve: %+v %v", r, err)
	}
	if _, err := svc.Update(t.Context(), "user:u_rec", r.ID, good); !errors.Is(err, release.ErrStep) {
		t.Errorf("an approved release edited: %v", err)
	}
	// Published: each span rendered, the manifest kept and logged once
	// per file; then it is never changed.
	if r, err = svc.Publish(t.Context(), "user:u_rec", r.ID); err != nil || !r.Publishing {
		t.Fatalf("publish: %+v %v", r, err)
	}
	if j := env.WaitJob(release.PublishJob, r.ID); j.State != jobs.Done {
		t.Fatalf("the publish job: %+v", j)
	}
	if r, err = svc.Get(t.Context(), r.ID); err != nil || r.Status != release.Published || len(r.Files) != 2 {
		t.Fatalf("published: %+v %v", r, err)
	}
	m, err := verify.ParseReleaseManifest(r.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != 2 || len(m.Recordings) != 2 || len(m.Withheld) != 1 || m.Withheld[0].Reason != "victim" ||
		m.Files[1].FromS != 1 || m.Files[1].ToS != 3 || m.Files[0].Fingerprint.Records != 6 || m.Title != "Stop on 5th" {
		t.Errorf("manifest: %s", r.Manifest)
	}
	for i, f := range r.Files {
		frames, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
			"stream=nb_read_frames", "-of", "csv=p=0", env.BlobFile(blobRef(t, f.SHA256))).Output()
		if err != nil || strings.TrimSpace(string(frames)) != fmt.Sprint(f.ToFrame-f.FromFrame) {
			t.Errorf("file %d: %s frames (%v), want %d", i, frames, err, f.ToFrame-f.FromFrame)
		}
		released := 0
		evs, _ := env.Server.Custody().Events(t.Context(), f.Evidence)
		for _, e := range evs {
			if e.Type == evidence.Released && e.Details["manifest_sha256"] == m.SHA256() && e.Details["sha256"] == f.SHA256 {
				released++
			}
		}
		if released != 1 {
			t.Errorf("file %d: %d released events", i, released)
		}
	}
	if _, err := svc.Approve(t.Context(), "user:u_x", r.ID); !errors.Is(err, release.ErrStep) {
		t.Errorf("a published release approved again: %v", err)
	}
	events, err := env.Server.Custody().IncidentEvents(t.Context(), inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, e := range events {
		if e.Type != evidence.ReleaseEvent {
			continue
		}
		steps = append(steps, e.Details["step"]+" "+e.Details["version"])
		for k, v := range e.Details {
			if strings.Contains(v, "5th") {
				t.Errorf("a release event's %s carries the title: %q", k, v)
			}
		}
	}
	if got := strings.Join(steps, ","); got != "created 1,created 2,edited 1,approved 1,publish 1,published 1" {
		t.Errorf("release events: %s", got)
	}
}

// uploadItem uploads b as a civilian's phone and returns its evidence id.
func uploadItem(t *testing.T, env *servertest.Env, b []byte) string {
	t.Helper()
	url := env.Create(int64(len(b)), map[string]string{"source": "phone"})
	if resp, body := env.Patch(url, 0, b); resp.StatusCode != 204 {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	return env.Receipt(url).ID
}

func blobRef(t *testing.T, s string) blob.Ref {
	t.Helper()
	r, err := blob.ParseRef(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
