package integration

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sightline/sightline/internal/media/mediatest"
)

// A supervisor opens an incident of four cameras (H.264, VP9, HEVC that
// needs a review copy, and one more H.264) on its timeline in headless
// Chromium, and plays, pauses, seeks and nudges. After each, every
// angle's video must be where its offset (from the API) puts it on the
// incident clock, within one frame.
func TestTimelinePlaysFourAnglesInStep(t *testing.T) {
	data := t.TempDir()
	srv := startServer(t, data, 0)
	link := createSupervisor(t, data, srv.URL, "sgt.reyes", "central")
	device := adminToken(t, data, "device-token", "--unit", "central", "--device", "dock-1")

	// Four cameras of one scene, starting 0, 2.5, 4 and 1.2 s into it.
	dir := t.TempDir()
	cams := []struct {
		file  string
		start float64
		opts  []string
	}{
		{"phone.mp4", 0, nil},
		{"dashcam.webm", 2.5, []string{"-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-c:a", "libopus"}},
		{"bodycam.mp4", 4, []string{"-c:v", "libx265", "-preset", "ultrafast", "-tag:v", "hvc1"}},
		{"cctv.mp4", 1.2, nil},
	}
	var ids []string
	for _, c := range cams {
		path := filepath.Join(dir, c.file)
		copyFile(t, mediatest.Scene(t, c.file, 11, c.start, 12, c.opts...), path)
		out, errOut, err := sightline(t, "upload", "--server", srv.URL, "--token", device, "--source", "bodycam", "--state-dir", t.TempDir(), path)
		if err != nil {
			t.Fatalf("upload %s: %v %s", c.file, err, errOut)
		}
		var rc struct{ ID string }
		b, err := os.ReadFile(path + ".sightline.json")
		if err != nil || json.Unmarshal(b, &rc) != nil || rc.ID == "" {
			t.Fatalf("receipt of %s: %v %s", c.file, err, out)
		}
		ids = append(ids, rc.ID)
	}

	ctx := browser(t)
	signInNew(t, ctx, link, "sgt.reyes")
	api := adminToken(t, data, "token", "--user", "sgt.reyes")
	b, err := bearer("POST", srv.URL+"/api/v1/incidents", api, `{"title":"Stop at 5th and Main"}`, 201)
	if err != nil {
		t.Fatal(err)
	}
	var inc struct{ ID string }
	json.Unmarshal(b, &inc)
	for _, id := range ids {
		if _, err := bearer("POST", srv.URL+"/api/v1/incidents/"+inc.ID+"/evidence", api, `{"evidence_id":"`+id+`"}`, 204); err != nil {
			t.Fatal(err)
		}
	}
	// Wait for the alignment and for the HEVC clip's review copy.
	timeline := func() map[string]clipPlace {
		var tl struct{ Clips []clipPlace }
		if err := getJSON(srv.URL+"/api/v1/incidents/"+inc.ID+"/timeline", api, &tl); err != nil {
			t.Fatal(err)
		}
		m := map[string]clipPlace{}
		for _, c := range tl.Clips {
			m[c.Evidence] = c
		}
		return m
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var rec struct{ Derived map[string]string }
		getJSON(srv.URL+"/api/v1/evidence/"+ids[2], api, &rec)
		pending := rec.Derived["review"] != "done"
		for _, c := range timeline() {
			pending = pending || c.Status == "pending"
		}
		if !pending {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not aligned in 3 minutes: %+v %+v", timeline(), rec)
		}
		time.Sleep(200 * time.Millisecond)
	}
	places := timeline()
	for i, c := range cams {
		p := places[ids[i]]
		if p.Method != "audio" || math.Abs(p.Offset-c.start) > 0.02 {
			t.Errorf("%s: offset %.3f by %s, want %.1f by audio", c.file, p.Offset, p.Method, c.start)
		}
	}

	// Open the timeline with a reason; all four angles load.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/staff"),
		chromedp.Click(chromedp.CSS("a.incident")),
		chromedp.WaitVisible(chromedp.ID("reason")),
		chromedp.SendKeys(chromedp.ID("reason"), "use of force review"),
		chromedp.Click(chromedp.ID("open")),
		chromedp.WaitVisible(chromedp.ID("play")),
	); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelectorAll("#angles video").length === 4 &&
		[...document.querySelectorAll("#angles video")].every(v => v.readyState >= 2)`, chromedp.WithPollingTimeout(2*time.Minute))); err != nil {
		page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("the four angles did not load: %v\n%s", err, page)
	}

	// offsync reads the incident clock and every angle's time at one
	// instant and says how each is off from where the API's offset puts
	// it, beyond a frame ("" when all are in step).
	const frame = 1.0 / 30
	offsync := func() string {
		t.Helper()
		type snap struct {
			T      float64
			Angles []struct {
				Evidence string
				Time     float64
				Paused   bool
			}
		}
		s, err := chromedp.Run(ctx, chromedp.Evaluate[snap](`(() => ({T: window.sightlineTimeline.time(),
			Angles: [...document.querySelectorAll("#angles video")].map(v => ({Evidence: v.dataset.evidence, Time: v.currentTime, Paused: v.paused}))}))()`))
		if err != nil {
			t.Fatal(err)
		}
		var off []string
		for _, a := range s.Angles {
			p := places[a.Evidence]
			want := (s.T - p.Offset) / (1 + p.Drift*1e-6)
			if want < 0 || want > p.Duration {
				continue // this angle has not started or has ended at T
			}
			if d := a.Time - want; math.Abs(d) > frame {
				off = append(off, fmt.Sprintf("at incident time %.3f, %s is at %.3f s, want %.3f (off by %.0f ms)", s.T, a.Evidence, a.Time, want, d*1000))
			}
		}
		return strings.Join(off, "; ")
	}
	// inStep waits until every angle is in step (the player steers them
	// there after a play, a seek or a nudge) and fails if they never are.
	// Its deadline allows for a busy machine.
	inStep := func(when string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			off := offsync()
			if off == "" {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%s: never in step: %s", when, off)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	click := func(sel string) {
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
			t.Fatal(err)
		}
	}
	playing := func() bool {
		p, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`[...document.querySelectorAll("#angles video")].some(v => !v.paused)`))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	click("#play")
	// While it plays, the angles stay in step: each of several looks
	// finds them so (or so again at once, after a decoder's hiccup).
	for i := range 5 {
		inStep(fmt.Sprintf("playing (%d)", i))
	}
	if !playing() {
		t.Error("nothing plays after pressing play")
	}
	click("#play") // pause
	inStep("paused")

	// Click at 60% of the lanes: every angle seeks there.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const l = document.getElementById("lanes").getBoundingClientRect();
		document.getElementById("lanes").dispatchEvent(new MouseEvent("click", {clientX: l.left + 0.6 * l.width, clientY: l.top + 5, bubbles: true})); return true })()`)); err != nil {
		t.Fatal(err)
	}
	inStep("after a seek")
	at, _ := chromedp.Run(ctx, chromedp.Evaluate[float64](`window.sightlineTimeline.time()`))
	if total := 16.0; math.Abs(at-0.6*total) > 0.5 {
		t.Errorf("a click at 60%% of a %.0f s timeline put the clock at %.2f s", total, at)
	}

	// Nudge the dashcam by +0.1 s: the API records it as the reviewer's,
	// and the page moves that angle.
	click(fmt.Sprintf(`.lane[data-evidence="%s"] .nudge-btn[data-nudge="0.1"]`, ids[1]))
	deadline = time.Now().Add(time.Minute)
	for timeline()[ids[1]].Method != "manual" && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	before := places[ids[1]].Offset
	places = timeline()
	if p := places[ids[1]]; p.Method != "manual" || math.Abs(p.Offset-before-0.1) > 0.001 || p.ConfirmedBy == "" {
		t.Fatalf("after the nudge: %+v (was %.3f)", p, before)
	}
	inStep("after a nudge") // once the page has reloaded the timeline
	click("#play")
	inStep("playing after the nudge")
	click("#play")

	// The nudge is in the dashcam's custody, with who made it.
	var custody struct {
		Events []struct {
			Type    string
			Actor   string
			Details map[string]string
		}
	}
	if err := getJSON(srv.URL+"/api/v1/evidence/"+ids[1]+"/custody", api, &custody); err != nil {
		t.Fatal(err)
	}
	nudged := false
	for _, e := range custody.Events {
		nudged = nudged || (e.Type == "incident" && e.Details["action"] == "offset-nudged" && strings.HasPrefix(e.Actor, "user:u_"))
	}
	if !nudged {
		t.Errorf("no offset-nudged event in the dashcam's custody: %+v", custody.Events)
	}
	srv.kill()
	if out, _, err := sightline(t, "audit", "--data", data); err != nil || !strings.HasSuffix(out, "; 0 problems\n") {
		t.Errorf("audit: %v %s", err, out)
	}
}

// clipPlace is a clip of the timeline API.
type clipPlace struct {
	Evidence    string  `json:"evidence_id"`
	Offset      float64 `json:"offset_s"`
	Duration    float64 `json:"duration_s"`
	Drift       float64 `json:"drift_ppm"`
	Method      string  `json:"method"`
	Status      string  `json:"status"`
	ConfirmedBy string  `json:"confirmed_by"`
}

// adminToken runs `sightline admin <kind> ...` on the data folder (through
// the running server's socket) and returns the token it prints.
func adminToken(t *testing.T, data, kind string, args ...string) string {
	t.Helper()
	out, errOut, err := sightline(t, append([]string{"admin", kind, "--data", data}, args...)...)
	if err != nil {
		t.Fatalf("admin %s: %v %s", kind, err, errOut)
	}
	tok := regexp.MustCompile(`sl[ad]_\S+`).FindString(out)
	if tok == "" {
		t.Fatalf("admin %s printed no token: %s", kind, out)
	}
	return tok
}
