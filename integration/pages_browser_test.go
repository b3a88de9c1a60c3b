package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
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
	dir := t.TempDir()
	allow := func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir})
		return chromedp.Void{}, err
	}
	if err := chromedp.Do(ctx, chromedp.Action[chromedp.Void](allow), chromedp.Click(chromedp.ID(id))); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
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
			t.Fatalf("#%s: nothing saved in a minute (%v)", id, ents)
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
