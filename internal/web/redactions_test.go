package web_test

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/sightline/sightline/internal/account"
	"github.com/sightline/sightline/internal/audit"
	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/db"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/media/mediatest"
	"github.com/sightline/sightline/internal/redact"
	"github.com/sightline/sightline/internal/redact/redacttest"
	"github.com/sightline/sightline/internal/server"
	"github.com/sightline/sightline/internal/server/servertest"
	"github.com/sightline/sightline/verify"
)

// A redaction through the API: faces found as a job, a box and a mute
// added, submitted; its author may not approve it, nobody renders it
// before approval, nobody releases it before it is rendered (each refusal
// logged, nothing rendered); a second supervisor approves it, it renders
// as a job, its manifest and receipt check against the video, and the
// records office releases it.
func TestRedactionStepsAndRefusals(t *testing.T) {
	env := servertest.Start(t)
	env.RunJobs()
	acc := env.Server.Accounts()
	_, device, err := acc.IssueToken(t.Context(), "test", account.Token{Kind: account.DeviceToken, Unit: "central", Device: "cam-1"})
	if err != nil {
		t.Fatal(err)
	}
	author := env.StaffToken("sgt.reyes", account.Supervisor, "central", "301")
	approver := env.StaffToken("sgt.cole", account.Supervisor, "central", "302")
	records := env.StaffToken("rec.amos", account.Records, "central", "")
	otherRecords := env.StaffToken("rec.bell", account.Records, "east", "")

	clip, err := redacttest.Build(t.Context(), t.TempDir(), "faces.mp4", 1280, 720, 30, redacttest.Set(1280, 720))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(clip.Path)
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := uploadAs(t, env, device, data, map[string]string{"source": "bodycam"})
	env.WaitIdle()

	got, body := call(t, env, "POST", "/api/v1/evidence/"+rc.ID+"/redactions", author, `{"auto":["faces"],"effect":"fill","basis":"bystander"}`)
	if got != 400 || !strings.Contains(body, "legal basis") {
		t.Fatalf("an unknown basis: %d %s", got, body)
	}
	if got, body = call(t, env, "POST", "/api/v1/evidence/"+rc.ID+"/redactions", otherRecords, `{"auto":[]}`); got != 404 {
		t.Fatalf("records staff of another unit: %d %s", got, body)
	}
	got, body = call(t, env, "POST", "/api/v1/evidence/"+rc.ID+"/redactions", author, `{"auto":["faces"],"effect":"fill","basis":"privacy"}`)
	var opened struct{ ID string }
	if err := json.Unmarshal([]byte(body), &opened); got != 201 || err != nil {
		t.Fatalf("open: %d %s", got, body)
	}
	red := "/api/v1/redactions/" + opened.ID
	if j := env.WaitJob(redact.DetectJob, opened.ID); j.State != "done" {
		t.Fatalf("detection: %+v", j)
	}
	var rd struct {
		Status    string
		Detection string
		Original  verify.ManifestOriginal
		Tracks    []struct {
			ID   int
			Keep bool
		}
		Output *verify.ManifestFile
	}
	get := func(token string) {
		t.Helper()
		got, body := call(t, env, "GET", red, token, "")
		if err := json.Unmarshal([]byte(body), &rd); got != 200 || err != nil {
			t.Fatalf("get: %d %s", got, body)
		}
	}
	get(author)
	if rd.Detection != "done" || len(rd.Tracks) < 8 || rd.Original.Frames != 30 || !rd.Original.Audio {
		t.Fatalf("after detection: %+v", rd)
	}
	if got, body := call(t, env, "GET", red+"/tracks/1", author, ""); got != 200 || !strings.HasPrefix(body, "\xff\xd8") {
		t.Errorf("a track's picture: %d", got)
	}

	patch := `{"changes":[{"kind":"box","effect":"pixelate","keyframes":[{"frame":2,"x":600,"y":300,"w":80,"h":40},{"frame":20,"x":700,"y":320,"w":80,"h":40}],"reason":"identifiers"},` +
		`{"kind":"mute","from_s":0.2,"to_s":0.6,"reason":"identifiers"}],"tracks":[{"id":1,"keep":false}]}`
	if got, body := callH(t, env, "PATCH", red, author, patch, nil); got != 200 {
		t.Fatalf("edit: %d %s", got, body)
	}
	if got, body := callH(t, env, "PATCH", red, author, `{"changes":[{"kind":"box","effect":"fill","keyframes":[{"frame":2,"x":1250,"y":0,"w":80,"h":40}],"reason":"privacy"}]}`, nil); got != 400 || !strings.Contains(body, "not inside") {
		t.Errorf("a box outside the picture: %d %s", got, body)
	}

	// Refused steps: each a 4xx, a denied event, nothing rendered.
	step := func(token, name string, want int) string {
		t.Helper()
		got, body := call(t, env, "POST", red+"/"+name, token, "")
		if got != want {
			t.Errorf("%s: %d, want %d (%s)", name, got, want, body)
		}
		return body
	}
	step(approver, "approve", 409) // not submitted
	step(author, "submit", 200)
	step(author, "approve", 403)  // its author
	step(author, "render", 409)   // not approved
	step(records, "release", 409) // not rendered
	if _, ok, _ := env.Server.Jobs().Latest(t.Context(), redact.RenderJob, opened.ID); ok {
		t.Error("a refused step queued a render")
	}
	if got, body := call(t, env, "GET", red+"/video", author, ""); got != 409 {
		t.Errorf("the video before a render: %d %s", got, body)
	}
	step(approver, "approve", 200)
	step(author, "render", 202)
	if j := env.WaitJob(redact.RenderJob, opened.ID); j.State != "done" {
		t.Fatalf("render: %+v", j)
	}
	get(author)
	if rd.Status != "rendered" || rd.Output == nil {
		t.Fatalf("after the render: %+v", rd)
	}

	// The manifest, the video and the receipt check offline; the manifest
	// lists the kept faces (not the dropped one), the box and the mute.
	_, manifest := call(t, env, "GET", red+"/manifest", author, "")
	_, video := call(t, env, "GET", red+"/video", author, "")
	_, receipt := call(t, env, "GET", red+"/receipt", author, "")
	var rcpt verify.Receipt
	if err := json.Unmarshal([]byte(receipt), &rcpt); err != nil {
		t.Fatal(err)
	}
	key := env.Server.Log().VerifierKey()
	res, err := verify.RedactionCheck([]byte(manifest), strings.NewReader(video), &rcpt, key)
	if err != nil || !res.Logged {
		t.Fatalf("the redaction does not check: %v", err)
	}
	m := res.Manifest
	if len(m.Changes) != len(rd.Tracks)-1+2 || m.Author == m.Approver || len(m.Tools.Detectors) != 1 || m.Tools.X264 == "" || len(m.StreamHashes) != 2 {
		t.Errorf("the manifest: %d changes for %d tracks, author %s, approver %s, tools %+v", len(m.Changes), len(rd.Tracks), m.Author, m.Approver, m.Tools)
	}
	for _, c := range m.Changes {
		if c.Source == "auto" && c.Track == 1 {
			t.Error("the dropped track is in the manifest")
		}
	}
	changed := m
	changed.Changes = append([]verify.Change{}, m.Changes...)
	changed.Changes[0].Keyframes = append([]verify.Keyframe{}, changed.Changes[0].Keyframes...)
	changed.Changes[0].Keyframes[0].X++
	if _, err := verify.RedactionCheck(changed.Canonical(), strings.NewReader(video), &rcpt, key); !errors.Is(err, verify.ErrNotLogged) {
		t.Errorf("a changed manifest checks against the log: %v", err)
	}
	if _, err := verify.RedactionCheck([]byte(manifest), strings.NewReader(video+"x"), &rcpt, key); !errors.Is(err, verify.ErrOutputDiffers) {
		t.Errorf("another video checks: %v", err)
	}

	if got, body := call(t, env, "POST", red+"/release", approver, ""); got != 404 {
		t.Errorf("a supervisor releases: %d %s", got, body)
	}
	step(records, "release", 200)

	// The log: each step, each refusal with its rule, the render.
	events, err := env.Server.Custody().Events(t.Context(), rc.ID)
	if err != nil {
		t.Fatal(err)
	}
	var steps, denied []string
	redacted := 0
	for _, e := range events {
		switch e.Type {
		case evidence.RedactionEvent:
			steps = append(steps, e.Details["step"])
		case evidence.Denied:
			if e.Details["redaction"] == opened.ID {
				denied = append(denied, e.Details["action"]+": "+e.Details["rule"])
			}
		case evidence.Redacted:
			redacted++
			if e.Details["manifest_sha256"] != res.SHA256 || e.Details["sha256"] != m.Output.SHA256 {
				t.Errorf("the redacted event: %v", e.Details)
			}
		}
	}
	if want := "opened edited submitted approved render released"; strings.Join(steps, " ") != want {
		t.Errorf("steps logged: %v, want %s", steps, want)
	}
	if want := []string{"approve-redaction: the redaction is not at this step", "approve-redaction: its author may not approve it",
		"redact: the redaction is not at this step", "release-redaction: the redaction is not at this step"}; strings.Join(denied, "|") != strings.Join(want, "|") {
		t.Errorf("refusals logged: %q, want %q", denied, want)
	}
	if redacted != 1 {
		t.Errorf("%d redacted events", redacted)
	}

	env.Stop()
	paths := env.AuditPaths()
	r, err := audit.Run(t.Context(), paths)
	if err != nil || len(r.Problems) != 0 || r.Redactions != 1 {
		t.Errorf("audit: %v %v (%d redactions)", err, r.Problems, r.Redactions)
	}
	// A manifest changed in the database no longer matches its event.
	d, err := db.Open(t.Context(), paths.DB)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := d.Redactions().Get(t.Context(), opened.ID)
	if err != nil {
		t.Fatal(err)
	}
	edited := res.Manifest
	edited.Approver = edited.Author
	stored.Manifest = edited.Canonical()
	err = d.Redactions().Update(t.Context(), stored, stored.Version)
	d.Close()
	if err != nil {
		t.Fatal(err)
	}
	r, err = audit.Run(t.Context(), paths)
	if err != nil || len(r.Problems) != 1 || !strings.Contains(r.Problems[0].String(), "redacted event") {
		t.Errorf("audit of a changed manifest: %v %v", err, r.Problems)
	}
}

// A detection or render job that fails for good says why on the
// redaction, and leaves it workable: boxes can be drawn by hand and
// submitted, and the render asked for again.
func TestRedactionJobsThatFailSayWhy(t *testing.T) {
	env := servertest.Start(t, func(c *server.Config) { c.JobAttempts = 1 })
	_, device, err := env.Server.Accounts().IssueToken(t.Context(), "test", account.Token{Kind: account.DeviceToken, Unit: "central", Device: "cam-1"})
	if err != nil {
		t.Fatal(err)
	}
	author := env.StaffToken("sgt.reyes", account.Supervisor, "central", "301")
	approver := env.StaffToken("sgt.cole", account.Supervisor, "central", "302")
	data, err := os.ReadFile(mediatest.Clip(t, "bodycam.mp4", "1"))
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := uploadAs(t, env, device, data, map[string]string{"source": "bodycam"})
	got, body := call(t, env, "POST", "/api/v1/evidence/"+rc.ID+"/redactions", author, `{"auto":["faces"]}`)
	var opened struct{ ID string }
	if err := json.Unmarshal([]byte(body), &opened); got != 201 || err != nil {
		t.Fatalf("open: %d %s", got, body)
	}
	// The original goes missing before the jobs run.
	env.LoseBlob(blob.Sum(data))
	env.RunJobs()
	red := "/api/v1/redactions/" + opened.ID
	if j := env.WaitJob(redact.DetectJob, opened.ID); j.State != "failed" {
		t.Fatalf("detection of a missing original: %+v", j)
	}
	view := func() map[string]any {
		t.Helper()
		got, body := call(t, env, "GET", red, author, "")
		var v map[string]any
		if err := json.Unmarshal([]byte(body), &v); got != 200 || err != nil {
			t.Fatalf("get: %d %s", got, body)
		}
		return v
	}
	if v := view(); v["detection"] != "failed" || v["detect_error"] == nil || v["detect_error"] == "" {
		t.Fatalf("after the failed detection: %v", v)
	}
	if got, body := callH(t, env, "PATCH", red, author, `{"changes":[{"kind":"box","effect":"fill","keyframes":[{"frame":0,"x":0,"y":0,"w":10,"h":10}],"reason":"privacy"}]}`, nil); got != 200 {
		t.Fatalf("edit: %d %s", got, body)
	}
	for _, s := range []struct{ token, step string }{{author, "submit"}, {approver, "approve"}, {author, "render"}} {
		if got, body := call(t, env, "POST", red+"/"+s.step, s.token, ""); got/100 != 2 {
			t.Fatalf("%s: %d %s", s.step, got, body)
		}
	}
	if j := env.WaitJob(redact.RenderJob, opened.ID); j.State != "failed" {
		t.Fatalf("render of a missing original: %+v", j)
	}
	if v := view(); v["status"] != "approved" || v["rendering"] != nil || v["render_error"] == nil {
		t.Fatalf("after the failed render: %v", v)
	}
	if got, body := call(t, env, "POST", red+"/render", author, ""); got != 202 {
		t.Errorf("rendering again: %d %s", got, body)
	}
}
