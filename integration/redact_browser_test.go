package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sightline/sightline/internal/media"
	"github.com/sightline/sightline/internal/media/mediatest"
	"github.com/sightline/sightline/verify"
)

// A supervisor redacts a body camera clip in the editor in headless
// Chromium: draws a box by hand, keyframes it at two frames, mutes a
// second of sound and submits; a second supervisor approves and renders
// it. In every frame of the box's range its pixels are black in the
// output, the muted second is silent, and `sightline redact` renders the
// manifest again offline to the same bytes; a changed manifest does not.
func TestRedactInTheEditor(t *testing.T) {
	data := t.TempDir()
	srv := startServer(t, data, 0, "--models", filepath.Join(repoRoot, "models"))
	authorLink := createUser(t, data, srv.URL, "supervisor", "sgt.reyes", "central", "301")
	approverLink := createUser(t, data, srv.URL, "supervisor", "sgt.cole", "central", "302")
	device := adminToken(t, data, "device-token", "--unit", "central", "--device", "cam-1")
	api := adminToken(t, data, "token", "--user", "sgt.reyes")

	dir := t.TempDir()
	original := filepath.Join(dir, "bodycam.mp4")
	copyFile(t, mediatest.Clip(t, "bodycam.mp4", "3"), original)
	if _, errOut, err := sightline(t, "upload", "--server", srv.URL, "--token", device, "--source", "bodycam", "--state-dir", t.TempDir(), original); err != nil {
		t.Fatalf("upload: %v %s", err, errOut)
	}
	var rc struct{ ID string }
	if b, err := os.ReadFile(original + ".sightline.json"); err != nil || json.Unmarshal(b, &rc) != nil {
		t.Fatalf("receipt: %v", err)
	}

	ctx := browser(t)
	signInNew(t, ctx, authorLink, "sgt.reyes")
	editor := srv.URL + "/staff/redact/" + rc.ID
	tctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := chromedp.Do(tctx,
		chromedp.Navigate(editor),
		chromedp.WaitVisible(chromedp.ID("start-button")),
		chromedp.Click(chromedp.ID("auto-faces")), // boxes by hand only
		chromedp.Click(chromedp.ID("start-button")),
		chromedp.WaitVisible(chromedp.ID("overlay")),
	); err != nil {
		t.Fatalf("starting: %v\n%s", err, pageText(ctx))
	}
	waitText(t, ctx, "#tracks", "Nothing found.")
	rid, err := chromedp.Run(ctx, chromedp.Evaluate[string](`new URLSearchParams(location.search).get("redaction")`))
	if err != nil || rid == "" {
		t.Fatalf("the editor's redaction: %q %v", rid, err)
	}

	// Two keyframes of one box, drawn on the picture (video pixels of the
	// 320x240 clip, as CSS pixels of the canvas).
	draw := func(frame int, x0, y0, x1, y1 float64) {
		t.Helper()
		js := fmt.Sprintf(`(async () => { const v = document.getElementById("video");
			if (v.readyState < 1) await new Promise(r => v.addEventListener("loadedmetadata", r, {once: true}));
			v.currentTime = (%d + 0.5) / 30; return true })()`, frame)
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js, chromedp.EvalAwaitPromise)); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`document.getElementById("at").textContent.startsWith("frame %d ")`, frame),
			chromedp.WithPollingTimeout(time.Minute))); err != nil {
			t.Fatalf("seeking to frame %d: %v\n%s", frame, err, pageText(ctx))
		}
		var r struct{ Left, Top, Width, Height float64 }
		rect, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const c = document.getElementById("overlay");
			c.scrollIntoView({block: "start"}); return JSON.stringify(c.getBoundingClientRect()) })()`))
		if err != nil || json.Unmarshal([]byte(strings.ToLower(rect)), &r) != nil {
			t.Fatalf("the canvas: %v %s", err, rect)
		}
		at := func(x, y float64) (float64, float64) { return r.Left + x*r.Width/320, r.Top + y*r.Height/240 }
		ax, ay := at(x0, y0)
		bx, by := at(x1, y1)
		if err := chromedp.Do(ctx,
			chromedp.MouseEvent(chromedp.MousePressed, ax, ay, chromedp.ButtonLeft),
			chromedp.MouseEvent(chromedp.MouseMoved, (ax+bx)/2, (ay+by)/2, chromedp.ButtonLeft),
			chromedp.MouseEvent(chromedp.MouseMoved, bx, by, chromedp.ButtonLeft),
			chromedp.MouseEvent(chromedp.MouseReleased, bx, by, chromedp.ButtonLeft),
		); err != nil {
			t.Fatal(err)
		}
	}
	draw(10, 40, 40, 120, 100)
	waitText(t, ctx, "#boxes", "1 keyframe")
	draw(60, 180, 120, 260, 180)
	waitText(t, ctx, "#boxes", "2 keyframes (frames 10–60)")
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("mute-from"), "1"),
		chromedp.SendKeys(chromedp.ID("mute-to"), "2"),
		chromedp.Click(chromedp.ID("add-mute")),
		chromedp.Click(chromedp.ID("submit")),
	); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#status", "Status: submitted (yours). Someone else must approve it.")

	// The second supervisor approves and renders.
	ctx2 := browser(t)
	signInNew(t, ctx2, approverLink, "sgt.cole")
	if err := chromedp.Do(ctx2,
		chromedp.Navigate(editor+"?redaction="+rid),
		chromedp.WaitVisible(chromedp.ID("approve")),
		chromedp.Click(chromedp.ID("approve")),
		chromedp.WaitVisible(chromedp.ID("render")),
		chromedp.Click(chromedp.ID("render")),
	); err != nil {
		t.Fatalf("approving: %v\n%s", err, pageText(ctx2))
	}
	waitText(t, ctx2, "#status", "Rendered and logged at index")

	// The output: the box black in every frame of its range, the span
	// silent.
	get := func(path string) []byte {
		t.Helper()
		b, err := bearer("GET", srv.URL+"/api/v1/redactions/"+rid+path, api, "", 200)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	manifestBytes, video, receipt := get("/manifest"), get("/video"), get("/receipt")
	m, err := verify.ParseManifest(manifestBytes)
	if err != nil {
		t.Fatal(err)
	}
	var box *verify.Change
	mutes := 0
	for i, c := range m.Changes {
		switch c.Kind {
		case verify.ChangeBox:
			box = &m.Changes[i]
		case verify.ChangeMute:
			mutes++
			if math.Abs(c.FromS-1) > 1e-9 || math.Abs(c.ToS-2) > 1e-9 {
				t.Errorf("the mute: %+v", c)
			}
		}
	}
	if box == nil || mutes != 1 || len(m.Changes) != 2 || box.From != 10 || box.To != 60 || len(box.Keyframes) != 2 || m.Author == m.Approver {
		t.Fatalf("the manifest: %s", manifestBytes)
	}
	if k := box.Keyframes[0]; abs(k.X-40) > 3 || abs(k.Y-40) > 3 || abs(k.W-80) > 4 || abs(k.H-60) > 4 {
		t.Errorf("the first keyframe is not where it was drawn: %+v", k)
	}
	out := filepath.Join(dir, "redacted.mp4")
	if err := os.WriteFile(out, video, 0o600); err != nil {
		t.Fatal(err)
	}
	tool := &media.Tool{}
	f := media.Frames{Width: 320, Height: 240, Count: m.Original.Frames}
	var orig [][]byte
	if err := tool.Decode(t.Context(), media.Source{Path: original, Container: "mp4"}, f, "yuv420p", 1, func(n int, fr []byte) error {
		orig = append(orig, append([]byte(nil), fr...))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	covered := 0
	if err := tool.Decode(t.Context(), media.Source{Path: out, Container: "mp4"}, f, "yuv420p", 1, func(n int, fr []byte) error {
		k, ok := box.BoxAt(n)
		if !ok {
			return nil
		}
		covered++
		bright, changed, all := 0, 0, 0
		for y := k.Y + 2; y < k.Y+k.H-2; y++ {
			for x := k.X + 2; x < k.X+k.W-2; x++ {
				all++
				if fr[y*320+x] > 24 {
					bright++
				}
				if abs(int(fr[y*320+x])-int(orig[n][y*320+x])) > 8 {
					changed++
				}
			}
		}
		if bright > 0 || changed < all*8/10 {
			t.Errorf("frame %d: %d of %d pixels of the box are not black, %d changed", n, bright, all, changed)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if covered != 51 {
		t.Errorf("the box covered %d frames, want 51 (10 to 60)", covered)
	}
	if r := mediatest.Loudness(t, out, 1.01, 1.99); r > 1e-3 {
		t.Errorf("the muted second has sound (rms %.4f)", r)
	}
	if r := mediatest.Loudness(t, out, 0.2, 0.9); r < 0.05 {
		t.Errorf("the sound before the mute is gone (rms %.4f)", r)
	}

	// Offline: the same bytes again from the manifest and the original;
	// the video and the receipt check; a changed manifest does not.
	mpath, rpath := filepath.Join(dir, "m.json"), filepath.Join(dir, "receipt.json")
	os.WriteFile(mpath, manifestBytes, 0o600)
	os.WriteFile(rpath, receipt, 0o600)
	stdout, errOut, err := sightline(t, "redact", "--manifest", mpath, "--original", original, "-o", filepath.Join(dir, "again.mp4"))
	if err != nil || !strings.Contains(stdout, "OK: the same bytes") || fileSHA(t, filepath.Join(dir, "again.mp4")) != m.Output.SHA256 {
		t.Fatalf("sightline redact: %v %s %s", err, stdout, errOut)
	}
	key := logKey(t, data)
	if stdout, errOut, err := sightline(t, "verify-redaction", out, "--manifest", mpath, "--receipt", rpath, "--key", key); err != nil || !strings.Contains(stdout, "OK: the log holds it") {
		t.Fatalf("sightline verify-redaction: %v %s %s", err, stdout, errOut)
	}
	changed := m
	changed.Changes = []verify.Change{*box, m.Changes[1]}
	if m.Changes[0].Kind != verify.ChangeBox {
		changed.Changes = []verify.Change{m.Changes[0], *box}
	}
	for i := range changed.Changes {
		if changed.Changes[i].Kind == verify.ChangeBox {
			kf := append([]verify.Keyframe{}, changed.Changes[i].Keyframes...)
			kf[1].X -= 20
			changed.Changes[i].Keyframes = kf
		}
	}
	cpath := filepath.Join(dir, "changed.json")
	os.WriteFile(cpath, changed.Canonical(), 0o600)
	if stdout, _, err := sightline(t, "redact", "--manifest", cpath, "--original", original, "-o", filepath.Join(dir, "changed.mp4")); err == nil || !strings.Contains(stdout, "FAIL") {
		t.Errorf("a changed manifest rendered to its output: %v %s", err, stdout)
	}
	if stdout, _, err := sightline(t, "verify-redaction", out, "--manifest", cpath, "--receipt", rpath, "--key", key); err == nil || !strings.Contains(stdout, "not the one logged") {
		t.Errorf("a changed manifest verified: %v %s", err, stdout)
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
