package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"

	"github.com/sightline/sightline/internal/media/mediatest"
)

// createUser makes a staff account with `sightline admin create-user` and
// returns its setup link.
func createUser(t *testing.T, data, url, role, name, unit, badge string) string {
	t.Helper()
	out, errOut, err := sightline(t, "admin", "create-user", "--data", data, "--role", role, "--name", name, "--unit", unit, "--badge", badge, "--url", url)
	if err != nil {
		t.Fatalf("create-user: %v %s", err, errOut)
	}
	return regexp.MustCompile(`http\S+/setup/\S+`).FindString(out)
}

// pageText is the text of the page, for a failure's message.
func pageText(ctx context.Context) string {
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	return s
}

// saved clicks the link a page offers to save (a blob: URL), as a person
// would, and returns the file the browser saved.
func saved(t *testing.T, ctx context.Context, id string) []byte {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`(document.getElementById("`+id+`").href || "").startsWith("blob:")`, chromedp.WithPollingTimeout(time.Minute))); err != nil {
		t.Fatalf("#%s offers nothing to save: %v\n%s", id, err, pageText(ctx))
	}
	return downloaded(t, ctx, chromedp.Click(chromedp.ID(id)))
}

// downloaded runs act, which makes the page download a file, and returns
// the file once it is whole.
func downloaded(t *testing.T, ctx context.Context, act ...chromedp.Action[chromedp.Void]) []byte {
	t.Helper()
	dir := t.TempDir()
	allow := func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir})
		return chromedp.Void{}, err
	}
	if err := chromedp.Do(ctx, append([]chromedp.Action[chromedp.Void]{allow}, act...)...); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if !strings.HasSuffix(e.Name(), ".crdownload") {
				if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil && len(b) > 0 {
					return b
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing downloaded in two minutes (%v)\n%s", ents, pageText(ctx))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fitsAPhone fails the test if the page is wider than the phone's screen.
func fitsAPhone(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	w, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)`))
	if err != nil {
		t.Fatal(err)
	}
	if w > 390 {
		wide, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > 390).slice(0, 5).map(e => e.tagName + "#" + e.id + "." + e.className)`))
		t.Errorf("%s is %.0f px wide on a 390 px phone: %v", page, w, wide)
	}
}

// waitText waits until the element's text contains want.
func waitText(t *testing.T, ctx context.Context, sel, want string) {
	t.Helper()
	js := fmt.Sprintf(`[...document.querySelectorAll(%q)].some(e => e.innerText.includes(%q))`, sel, want)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(2*time.Minute))); err != nil {
		t.Fatalf("%s never says %q: %v\n%s", sel, want, err, pageText(ctx))
	}
}

// A driver uploads dashcam footage from the page at / on a phone, saves
// the receipt (which `sightline verify` accepts), opens the evidence page
// (which shows when and where the file says it was recorded, and the
// note), shares it with a sergeant by name, sees the sergeant's viewing
// by name and badge, and withdraws the share. A share with an officer is
// refused with why. The sergeant's on-scene review page gives the clip's
// length. No civilian page is wider than the phone.
func TestDriverSharesByNameAndWithdraws(t *testing.T) {
	data := t.TempDir()
	srv := startServer(t, data, 0)
	sgtLink := createUser(t, data, srv.URL, "supervisor", "sgt.reyes", "central", "301")
	createUser(t, data, srv.URL, "officer", "ofc.lane", "central", "101")

	dir := t.TempDir()
	file := filepath.Join(dir, "dashcam-2105.mp4")
	copyFile(t, mediatest.Clip(t, "dashcam.mp4", "4", "-metadata", "creation_time=2026-11-30T21:05:00Z", "-metadata", "location=+40.7128-074.0060/"), file)

	phone := browser(t)
	if err := chromedp.Do(phone, chromedp.EmulateViewport(390, 844)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(phone,
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("start")),
		chromedp.SetUploadFiles(chromedp.ID("file"), []string{file}),
		chromedp.SetValue(chromedp.ID("source"), "dashcam"),
		chromedp.SendKeys(chromedp.ID("note"), "Stopped on Route 9, officer 101 approached"),
	); err != nil {
		t.Fatal(err)
	}
	fitsAPhone(t, phone, "the upload page")
	if err := chromedp.Do(phone, chromedp.Click(chromedp.ID("start")), chromedp.WaitVisible(chromedp.ID("r-page"))); err != nil {
		t.Fatalf("%v\n%s", err, pageText(phone))
	}
	fitsAPhone(t, phone, "the upload page with its receipt")

	// The saved record verifies offline against the file.
	record := filepath.Join(dir, "saved.sightline.json")
	if err := os.WriteFile(record, saved(t, phone, "r-save"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := sightline(t, "verify", file, record, "--key", logKey(t, data))
	if err != nil || !strings.HasPrefix(out, "OK: "+fileSHA(t, file)+" logged at index ") {
		t.Fatalf("sightline verify of the page's saved record: %v %q %q", err, out, errOut)
	}

	// The evidence page, from the link the upload page gives.
	if err := chromedp.Do(phone, chromedp.Click(chromedp.ID("r-page")), chromedp.WaitVisible(chromedp.ID("footage"))); err != nil {
		t.Fatalf("%v\n%s", err, pageText(phone))
	}
	for sel, want := range map[string]string{"#e-recorded": "2026", "#e-place": "40.71280, -74.00600", "#e-note": "Route 9", "#e-length": "4.0 s"} {
		waitText(t, phone, sel, want)
	}
	mapLink, _ := chromedp.Run(phone, chromedp.Evaluate[string](`document.getElementById("e-map").href`))
	if !strings.HasPrefix(mapLink, "https://www.openstreetmap.org/?mlat=40.7128") {
		t.Errorf("map link %q", mapLink)
	}
	evidenceURL, _ := chromedp.Run(phone, chromedp.Evaluate[string](`location.href`))
	id := strings.TrimPrefix(strings.Split(evidenceURL, "#")[0], srv.URL+"/e/")

	share := func(name string) string {
		t.Helper()
		if err := chromedp.Do(phone, chromedp.WaitVisible(chromedp.ID("share-name"))); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Run(phone, chromedp.Evaluate[bool](`document.getElementById("share-status").textContent = ""; document.getElementById("share-name").value = ""; true`)); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(phone,
			chromedp.SendKeys(chromedp.ID("share-name"), name),
			chromedp.Click(chromedp.ID("share-submit")),
		); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Run(phone, chromedp.Poll[bool](`document.getElementById("share-status").innerText.includes("`+name+`")`, chromedp.WithPollingTimeout(time.Minute))); err != nil {
			t.Fatalf("sharing with %s: no answer: %v", name, err)
		}
		s, _ := chromedp.Run(phone, chromedp.Text(chromedp.ID("share-status")))
		return s
	}
	if s := share("ofc.lane"); !strings.Contains(s, "Not shared") || !strings.Contains(s, "ofc.lane is an officer: a share lets a supervisor watch your footage") {
		t.Errorf("sharing with an officer: %q", s)
	}
	if s := share("sgt.reyes"); s != "Shared with sgt.reyes." {
		t.Errorf("sharing with the sergeant: %q", s)
	}
	waitText(t, phone, "#share-list li", "sgt.reyes (supervisor, central, badge 301)")
	fitsAPhone(t, phone, "the evidence page")

	// The sergeant opens it with a reason and watches; then opens the
	// on-scene review page, which gives the clip's length.
	sgt := browser(t)
	signInNew(t, sgt, sgtLink, "sgt.reyes")
	const reason = "driver's complaint, Route 9 stop"
	if err := chromedp.Do(sgt,
		chromedp.Navigate(srv.URL+"/staff/evidence/"+id),
		chromedp.WaitVisible(chromedp.ID("reason")),
		chromedp.SendKeys(chromedp.ID("reason"), reason),
		chromedp.Click(chromedp.ID("open")),
		chromedp.WaitVisible(chromedp.ID("player")),
	); err != nil {
		t.Fatalf("%v\n%s", err, pageText(sgt))
	}
	if _, err := chromedp.Run(sgt, chromedp.Poll[bool](`document.getElementById("player").readyState >= 2`, chromedp.WithPollingTimeout(2*time.Minute))); err != nil {
		t.Fatalf("the sergeant's player did not load: %v", err)
	}
	waitText(t, sgt, "#note", "Route 9")
	if err := chromedp.Do(sgt, chromedp.Navigate(srv.URL+"/staff/review/"+id), chromedp.WaitVisible(chromedp.ID("review-form"))); err != nil {
		t.Fatalf("%v\n%s", err, pageText(sgt))
	}
	if length, _ := chromedp.Run(sgt, chromedp.Text(chromedp.ID("length"))); length != "4.0 s" {
		t.Errorf("the review page gives the length as %q, want 4.0 s", length)
	}

	// The driver sees the viewing, by name and badge, with the reason.
	if err := chromedp.Do(phone, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("accesses"))); err != nil {
		t.Fatal(err)
	}
	waitText(t, phone, "#event-list li.viewed", "sgt.reyes (supervisor, central, badge 301) watched your video")
	waitText(t, phone, "#event-list li.viewed", "Reason given: "+reason)
	waitText(t, phone, "#event-list li.shared", "You shared it with sgt.reyes (supervisor, central, badge 301)")
	fitsAPhone(t, phone, "the evidence page with its accesses")

	// Withdrawn: the list says so, and the sergeant can no longer open it.
	if err := chromedp.Do(phone, chromedp.Click(chromedp.CSS(`#share-list li button`))); err != nil {
		t.Fatal(err)
	}
	waitText(t, phone, "#event-list li.unshared", "You withdrew the share with sgt.reyes (supervisor, central, badge 301)")
	if n, _ := chromedp.Run(phone, chromedp.Evaluate[int](`document.querySelectorAll("#share-list li").length`)); n != 0 {
		t.Errorf("%d shares listed after withdrawing", n)
	}
	status, _ := chromedp.Run(sgt, chromedp.Evaluate[int](`fetch("/api/v1/evidence/`+id+`?reason=again").then(r => r.status)`, chromedp.EvalAwaitPromise))
	if status != 404 {
		t.Errorf("the sergeant after the share was withdrawn: %d, want 404", status)
	}

	// The other civilian pages fit the phone too.
	if err := chromedp.Do(phone, chromedp.Navigate(srv.URL+"/capture"), chromedp.WaitVisible(chromedp.ID("record"))); err != nil {
		t.Fatal(err)
	}
	fitsAPhone(t, phone, "the capture page")
	// A link whose item is not kept yet (or whose token is wrong) says so.
	if err := chromedp.Do(phone, chromedp.Navigate(srv.URL+"/e/"+id+"#token=not-yet"), chromedp.WaitVisible(chromedp.ID("arriving"))); err != nil {
		t.Fatal(err)
	}
	fitsAPhone(t, phone, "the evidence page of footage still arriving")
}

// An investigator, from the pages alone, opens an incident, finds a
// shop's CCTV export and a bystander's phone clip by when they were
// recorded, takes two suggested clips and turns one down (five clips),
// names an officer, assigns a sergeant, chooses which four angles play,
// sees the wall-clock time at the playhead, seeks while playing without
// an angle left on an old frame, and opens the fifth clip on its own.
func TestInvestigatorBuildsAnIncidentFromThePages(t *testing.T) {
	data := t.TempDir()
	srv := startServer(t, data, 0)
	invLink := createUser(t, data, srv.URL, "investigator", "inv.ortiz", "ia", "")
	createUser(t, data, srv.URL, "supervisor", "sgt.reyes", "central", "301")

	// Six recordings of one scene, sent with the CLI as anyone would: the
	// shop's two CCTV channels, a bystander's phone, a dashcam, a
	// doorbell camera and a porch camera; each file's clock says when.
	base := time.Date(2026, 11, 30, 21, 5, 0, 0, time.UTC)
	dir := t.TempDir()
	ids := map[string]string{}
	for _, c := range []struct {
		file, source string
		start        float64
	}{
		{"ch01.mp4", "surveillance", 0}, {"ch02.mp4", "surveillance", 1.5}, {"bystander.mp4", "phone", 3},
		{"dashcam.mp4", "dashcam", 2.2}, {"doorbell.mp4", "other", 0.8}, {"porch.mp4", "other", 4},
	} {
		at := base.Add(time.Duration(c.start * float64(time.Second))).Format(time.RFC3339Nano)
		path := filepath.Join(dir, c.file)
		copyFile(t, mediatest.Scene(t, c.file, 31, c.start, 10, "-metadata", "creation_time="+at), path)
		if _, errOut, err := sightline(t, "upload", "--server", srv.URL, "--source", c.source, "--state-dir", t.TempDir(), path); err != nil {
			t.Fatalf("upload %s: %v %s", c.file, err, errOut)
		}
		b, _ := os.ReadFile(path + ".sightline.json")
		ids[c.file] = regexp.MustCompile(`"id": "([a-z0-9]+)"`).FindStringSubmatch(string(b))[1]
	}

	ctx := browser(t)
	signInNew(t, ctx, invLink, "inv.ortiz")
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("incident-title"), "Arrest outside Kim's Grocery"),
		chromedp.Click(chromedp.ID("incident-create")),
		chromedp.WaitVisible(chromedp.ID("officer-form")),
	); err != nil {
		t.Fatalf("%v\n%s", err, pageText(ctx))
	}
	incURL, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname`))
	eval := func(js string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js+`; true`)); err != nil {
			t.Fatal(err)
		}
	}
	find := func(source string) {
		t.Helper()
		eval(`(() => { const f = document.querySelector("#find .find-form");
			const loc = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
			f.elements.from.value = loc(new Date("2026-11-30T20:55:00Z")); f.elements.to.value = loc(new Date("2026-11-30T21:15:00Z"));
			f.elements.source.value = "` + source + `"; f.requestSubmit(); })()`)
	}
	add := func(file string) {
		t.Helper()
		sel := `#find tr[data-evidence="` + ids[file] + `"] button.add-clip`
		if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel))); err != nil {
			t.Fatalf("adding %s: %v\n%s", file, err, pageText(ctx))
		}
		waitText(t, ctx, `#clips tr[data-evidence="`+ids[file]+`"]`, "a civilian")
	}
	// Found by time: the CCTV export, then the bystander's clip.
	find("surveillance")
	waitText(t, ctx, "#find .find-status", "2 recordings found")
	add("ch01.mp4")
	add("ch02.mp4")
	find("phone")
	add("bystander.mp4")
	// Suggested: two taken, one turned down.
	for file, sel := range map[string]string{"dashcam.mp4": "button.accept", "doorbell.mp4": "button.accept", "porch.mp4": "button.reject"} {
		css := `#suggestions li[data-evidence="` + ids[file] + `"] ` + sel
		if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(css)), chromedp.Click(chromedp.CSS(css))); err != nil {
			t.Fatalf("suggestion %s: %v\n%s", file, err, pageText(ctx))
		}
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!document.querySelector('#suggestions li[data-evidence="`+ids[file]+`"]')`, chromedp.WithPollingTimeout(time.Minute))); err != nil {
			t.Fatalf("suggestion %s still listed: %v", file, err)
		}
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#clips tr.clip-row").length`)); n != 5 {
		t.Fatalf("%d clips on the incident, want 5\n%s", n, pageText(ctx))
	}
	// A CCTV lane is named by its file, not just "surveillance".
	waitText(t, ctx, `#clips tr[data-evidence="`+ids["ch02.mp4"]+`"] .label`, "surveillance ch02.mp4")

	// An officer named, a sergeant assigned.
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("officer-badge"), "4471"), chromedp.Click(chromedp.ID("officer-name"))); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#officers li", "badge 4471")
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("staff-user"), "sgt.reyes"), chromedp.Click(chromedp.ID("staff-assign"))); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#staff-list li", "sgt.reyes (supervisor, central, badge 301)")

	// Aligned by sound, then watched with a reason.
	waitText(t, ctx, "#status", "5 clips on one clock")
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("reason"), "IA-2026-031 arrest review"),
		chromedp.Click(chromedp.ID("open")),
		chromedp.WaitVisible(chromedp.ID("play")),
	); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(incURL, "/staff/incidents/inc_") {
		t.Fatalf("incident page %q", incURL)
	}
	// Four angles play at a time: the first four by default; untick the
	// first, tick the fifth.
	rows, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#clips tr.clip-row")].map(r => r.dataset.evidence)`))
	if len(rows) != 5 {
		t.Fatalf("clip rows %v", rows)
	}
	first, fifth := rows[0], rows[4]
	angles := func() []string {
		a, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#angles video")].map(v => v.dataset.evidence)`))
		return a
	}
	if a := angles(); len(a) != 4 || slices.Contains(a, fifth) {
		t.Fatalf("angles at first: %v", a)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#clips tr[data-evidence="`+first+`"] input.angle-choice`)),
		chromedp.Click(chromedp.CSS(`#clips tr[data-evidence="`+fifth+`"] input.angle-choice`)),
	); err != nil {
		t.Fatal(err)
	}
	if a := angles(); len(a) != 4 || !slices.Contains(a, fifth) || slices.Contains(a, first) {
		t.Fatalf("angles after choosing: %v", a)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`[...document.querySelectorAll("#angles video")].every(v => v.readyState >= 2)`, chromedp.WithPollingTimeout(2*time.Minute))); err != nil {
		t.Fatalf("the chosen angles did not load: %v", err)
	}
	// The playhead's wall-clock time: the scene began at 21:05:00 UTC.
	wall, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`window.sightlineTimeline.seek(0); document.getElementById("wallclock").textContent`))
	want, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`window.say.clock(new Date("2026-11-30T21:05:00Z"))`))
	if wall != want {
		t.Errorf("wall-clock time at the start: %q, want %q", wall, want)
	}

	// Seek while playing: every angle shows frames of its new moment (the
	// frames it presents, not only its clock), none is left on an old one.
	eval(`[...document.querySelectorAll("#angles video")].forEach(v => { const f = (now, md) => { v.dataset.presented = md.mediaTime; v.requestVideoFrameCallback(f); }; v.requestVideoFrameCallback(f); })`)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("play"))); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`window.sightlineTimeline.time() > 1`, chromedp.WithPollingTimeout(time.Minute))); err != nil {
		t.Fatal(err)
	}
	eval(`window.sightlineTimeline.seek(7)`)
	fresh := `window.sightlineTimeline.expected().every(a => !a.inside || Math.abs(Number(document.querySelector('#angles video[data-evidence="' + a.evidence + '"]').dataset.presented) - a.expected) < 0.2)`
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`window.sightlineTimeline.time() > 7.5 && `+fresh, chromedp.WithPollingTimeout(time.Minute))); err != nil {
		state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.sightlineTimeline.expected().map(a => Object.assign(a, {presented: document.querySelector('#angles video[data-evidence="' + a.evidence + '"]').dataset.presented})))`))
		t.Errorf("after a seek while playing, an angle shows an old frame: %v\n%s", err, state)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("play"))); err != nil { // pause
		t.Fatal(err)
	}

	// The fifth clip on its own, with the reason given.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#clips tr[data-evidence="`+fifth+`"] a.open-clip`)), chromedp.WaitVisible(chromedp.ID("player"))); err != nil {
		t.Fatalf("%v\n%s", err, pageText(ctx))
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("player").readyState >= 2`, chromedp.WithPollingTimeout(2*time.Minute))); err != nil {
		t.Fatalf("the fifth clip did not play on its own: %v\n%s", err, pageText(ctx))
	}
	waitText(t, ctx, "main", "IA-2026-031 arrest review")

	srv.kill()
	if out, _, err := sightline(t, "audit", "--data", data); err != nil || !strings.HasSuffix(out, "; 0 problems\n") {
		t.Errorf("audit: %v %s", err, out)
	}
}
