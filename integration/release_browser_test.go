package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sightline/sightline/internal/media/mediatest"
)

// The records office publishes a three-camera incident on its staff page:
// one span of the first camera withheld (a victim), the third shown
// through a redaction whose box hides a face; a supervisor approves the
// release. On the public page, in headless Chromium with
// no account, every recording has its bar, the withheld span is grey with
// its reason, and the angles play in step. "Download with proof" gives a
// file that `sightline verify-release` accepts; with one byte changed it
// fails.
func TestPublicReleaseOfThreeCameras(t *testing.T) {
	data := t.TempDir()
	srv := startServer(t, data, 0)
	createUser(t, data, srv.URL, "supervisor", "sgt.reyes", "central", "301")
	createUser(t, data, srv.URL, "supervisor", "sgt.cole", "central", "302")
	recordsLink := createUser(t, data, srv.URL, "records", "rec.amos", "central", "")
	device := adminToken(t, data, "device-token", "--unit", "central", "--device", "cam-1")
	sup := adminToken(t, data, "token", "--user", "sgt.reyes")
	cole := adminToken(t, data, "token", "--user", "sgt.cole")
	records := adminToken(t, data, "token", "--user", "rec.amos")

	// Three cameras of one scene, starting 0, 2 and 1 s into it.
	dir := t.TempDir()
	var ids []string
	for i, start := range []float64{0, 2, 1} {
		path := filepath.Join(dir, fmt.Sprintf("cam%d.mp4", i))
		copyFile(t, mediatest.Scene(t, filepath.Base(path), 5, start, 8), path)
		if _, errOut, err := sightline(t, "upload", "--server", srv.URL, "--token", device, "--source", "bodycam", "--state-dir", t.TempDir(), path); err != nil {
			t.Fatalf("upload: %v %s", err, errOut)
		}
		var rc struct{ ID string }
		if b, err := os.ReadFile(path + ".sightline.json"); err != nil || json.Unmarshal(b, &rc) != nil {
			t.Fatalf("receipt: %v", err)
		}
		ids = append(ids, rc.ID)
	}
	call := func(method, path, token, body string, want int, v any) {
		t.Helper()
		b, err := bearer(method, srv.URL+path, token, body, want)
		if err != nil {
			t.Fatal(err)
		}
		if v != nil {
			if err := json.Unmarshal(b, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	var inc struct{ ID string }
	call("POST", "/api/v1/incidents", sup, `{"title":"Stop on 5th"}`, http.StatusCreated, &inc)
	for _, id := range ids {
		call("POST", "/api/v1/incidents/"+inc.ID+"/evidence", sup, `{"evidence_id":"`+id+`"}`, http.StatusNoContent, nil)
	}
	// The third camera's face, hidden by a box a second supervisor approves.
	var red struct{ ID string }
	call("POST", "/api/v1/evidence/"+ids[2]+"/redactions", sup, `{"auto":[]}`, http.StatusCreated, &red)
	call("PATCH", "/api/v1/redactions/"+red.ID, sup, `{"changes":[{"kind":"box","effect":"fill","keyframes":[{"frame":0,"x":100,"y":60,"w":80,"h":80},{"frame":150,"x":100,"y":60,"w":80,"h":80}],"reason":"privacy"}]}`,
		http.StatusOK, nil)
	call("POST", "/api/v1/redactions/"+red.ID+"/submit", sup, "", http.StatusOK, nil)
	call("POST", "/api/v1/redactions/"+red.ID+"/approve", cole, "", http.StatusOK, nil)
	// Every clip placed on the incident's clock before the release.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var tl struct{ Clips []struct{ Status string } }
		call("GET", "/api/v1/incidents/"+inc.ID+"/timeline", sup, "", http.StatusOK, &tl)
		placed := len(tl.Clips) == 3
		for _, c := range tl.Clips {
			placed = placed && c.Status != "pending"
		}
		if placed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("clips not placed: %+v", tl)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The records office makes the release on the incident's releases
	// page, a supervisor approves it, and the records office publishes it
	// there.
	staff := browser(t)
	signInNew(t, staff, recordsLink, "rec.amos")
	row := func(id, field string) chromedp.CSS {
		return chromedp.CSS(fmt.Sprintf(`tr.span-row[data-evidence=%q] .span-%s`, id, field))
	}
	if err := chromedp.Do(staff,
		chromedp.Navigate(srv.URL+"/staff"),
		chromedp.Click(chromedp.CSS(`a.incident`)),
		chromedp.WaitVisible(chromedp.ID("release-form")),
		chromedp.SendKeys(chromedp.ID("release-title"), "Stop on 5th: three cameras"),
		chromedp.SendKeys(chromedp.ID("release-summary"), "Unnarrated."),
		chromedp.SetValue(row(ids[0], "to"), "6"),
		chromedp.SetValue(row(ids[1], "to"), "8"),
		chromedp.SetValue(row(ids[2], "to"), "7"),
		chromedp.SetValue(row(ids[2], "redaction"), red.ID),
		chromedp.SetValue(chromedp.CSS(`.withheld-row .withheld-evidence`), ids[0]),
		chromedp.SetValue(chromedp.CSS(`.withheld-row .withheld-from`), "6"),
		chromedp.SetValue(chromedp.CSS(`.withheld-row .withheld-to`), "8"),
		chromedp.SetValue(chromedp.CSS(`.withheld-row .withheld-reason`), "victim"),
		chromedp.Click(chromedp.ID("release-make")),
		chromedp.WaitVisible(chromedp.CSS(`.version[data-status="draft"]`)),
	); err != nil {
		t.Fatalf("making the release: %v\n%s", err, pageText(staff))
	}
	var rel struct {
		ID, Status string
		Spans      []struct {
			Evidence  string `json:"evidence_id"`
			Redaction string `json:"redaction_id"`
		}
		Withheld []struct{ Reason string }
	}
	rel.ID, _ = chromedp.Run(staff, chromedp.Evaluate[string](`document.querySelector(".version").dataset.release`))
	call("GET", "/api/v1/releases/"+rel.ID, records, "", http.StatusOK, &rel)
	redacted := map[string]string{}
	for _, sp := range rel.Spans {
		redacted[sp.Evidence] = sp.Redaction
	}
	if len(rel.Spans) != 3 || redacted[ids[2]] != red.ID || redacted[ids[0]] != "" || len(rel.Withheld) != 1 || rel.Withheld[0].Reason != "victim" {
		t.Fatalf("the release made on the page: %+v", rel)
	}
	call("POST", "/api/v1/releases/"+rel.ID+"/approve", sup, "", http.StatusOK, nil)
	if err := chromedp.Do(staff,
		chromedp.Reload(),
		chromedp.Click(chromedp.CSS(`button.publish`)),
		chromedp.WaitVisible(chromedp.CSS(`.version[data-status="published"] a.public-link`)),
	); err != nil {
		t.Fatalf("publishing: %v\n%s\n%s", err, pageText(staff), srv.logs)
	}

	// The public page, no account.
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/r/"+rel.ID), chromedp.WaitVisible(chromedp.ID("play"))); err != nil {
		t.Fatalf("the page: %v\n%s", err, pageText(ctx))
	}
	lanes, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(".lane.recording").length`))
	withheld, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll(".lane.recording .segment.withheld")).map(s => s.textContent.trim()).join("|")`))
	angles, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#angles video").length`))
	if lanes != 3 || angles != 3 || withheld == "" || !strings.Contains(pageText(ctx), "seconds 6.0 to 8.0 withheld") {
		t.Fatalf("%d bars, %d angles, withheld %q:\n%s", lanes, angles, withheld, pageText(ctx))
	}
	grey, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector(".segment.withheld")).backgroundColor`))
	if grey != "rgb(156, 163, 175)" {
		t.Errorf("the withheld span is %s, not grey", grey)
	}
	// Played, every angle inside its span is at its moment of the clock.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("play"))); err != nil {
		t.Fatal(err)
	}
	inStep := `window.sightlineRelease.time() > 2.5 && window.sightlineRelease.expected().every(a => !a.inside || Math.abs(a.actual - a.expected) < 0.2)`
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](inStep, chromedp.WithPollingTimeout(time.Minute))); err != nil {
		state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.sightlineRelease.expected())`))
		t.Fatalf("the angles are not in step: %v %s", err, state)
	}

	// Download with proof, then check it offline.
	href, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(".release-angle .download").getAttribute("href")`))
	proofHref, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(".release-angle .proof").getAttribute("href")`))
	get := func(path, to string) {
		t.Helper()
		b, err := bearer("GET", srv.URL+path, "", "", http.StatusOK)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	file, proof := filepath.Join(dir, "released.mp4"), filepath.Join(dir, "proof.json")
	get(href, file)
	get(proofHref, proof)
	key := logKey(t, data)
	out, errOut, err := sightline(t, "verify-release", file, "--manifest", proof, "--key", key)
	if err != nil || !strings.HasPrefix(out, "OK: file 1 of release "+rel.ID) {
		t.Fatalf("verify-release: %v %q %q", err, out, errOut)
	}
	b, _ := os.ReadFile(file)
	b[len(b)/3] ^= 0x20
	os.WriteFile(file, b, 0o600)
	if out, _, err := sightline(t, "verify-release", file, "--manifest", proof, "--key", key); err == nil || !strings.HasPrefix(out, "FAIL:") {
		t.Errorf("a file with a changed byte: %v %q", err, out)
	}
}
