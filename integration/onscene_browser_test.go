package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sightline/sightline/internal/client"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/media/mediatest"
)

// The whole on-scene review, in two browsers (the civilian's phone and
// the supervisor's): the civilian records and stops; gets a share code;
// the supervisor, signed in, opens its QR link, watches the clip streamed
// from the server, attaches the officer's body camera footage and submits
// a review referring the stop for internal review. The civilian's
// evidence page then shows the review and the supervisor's opening and
// viewing; the referral opened an incident holding both clips.
func TestOnSceneReviewFromCodeToIncident(t *testing.T) {
	data := t.TempDir()
	srv := startServer(t, data, 0)
	link := createSupervisor(t, data, srv.URL, "sgt.reyes", "central")

	// The officer's body camera footage, docked before the review.
	device := adminToken(t, data, "device-token", "--unit", "central", "--device", "axon-7", "--badge", "101")
	cam := filepath.Join(t.TempDir(), "bodycam.mp4")
	copyFile(t, mediatest.Clip(t, "bodycam.mp4", "4"), cam)
	if _, errOut, err := sightline(t, "upload", "--server", srv.URL, "--token", device, "--source", "bodycam", "--state-dir", t.TempDir(), cam); err != nil {
		t.Fatalf("bodycam upload: %v %s", err, errOut)
	}
	var bodycam struct{ ID string }
	if b, err := os.ReadFile(cam + ".sightline.json"); err != nil || json.Unmarshal(b, &bodycam) != nil {
		t.Fatalf("bodycam receipt: %v", err)
	}

	// The civilian records 4 s and stops.
	phone := browser(t)
	if err := chromedp.Do(phone, chromedp.EmulateViewport(390, 844)); err != nil {
		t.Fatal(err)
	}
	pressed := startRecording(t, phone, srv.URL)
	time.Sleep(time.Until(pressed.Add(4 * time.Second)))
	fitsAPhone(t, phone, "the capture page while recording")
	if err := chromedp.Do(phone, chromedp.Click(chromedp.ID("record")), chromedp.WaitVisible(chromedp.ID("receipt"))); err != nil {
		t.Fatal(err)
	}
	fitsAPhone(t, phone, "the capture page with its receipt")
	st := pageState(t, phone)
	if st.Evidence == nil || st.Evidence.Partial {
		t.Fatalf("after stopping: %+v", st)
	}
	civID := st.Evidence.ID
	// The record the capture page saves verifies offline against the
	// footage the server holds.
	footage := fetchEvidence(t, srv.URL, t.TempDir(), client.Receipt{Item: evidence.Item{ID: civID}, AccessToken: st.Token})
	record := filepath.Join(t.TempDir(), "capture.sightline.json")
	os.WriteFile(record, saved(t, phone, "r-save"), 0o644)
	if out, errOut, err := sightline(t, "verify", footage, record, "--key", logKey(t, data)); err != nil || !strings.HasPrefix(out, "OK: "+fileSHA(t, footage)) {
		t.Errorf("sightline verify of the capture page's saved record: %v %q %q", err, out, errOut)
	}

	// A code to read aloud, with its QR link.
	if err := chromedp.Do(phone, chromedp.Click(chromedp.ID("share-button"))); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(phone, chromedp.Poll[bool](`/^\d{3} \d{3} \d{3}$/.test(document.getElementById("code").textContent)`, chromedp.WithPollingTimeout(2*time.Minute))); err != nil {
		t.Fatal(err)
	}
	fitsAPhone(t, phone, "the capture page with a share code")
	code, _ := chromedp.Run(phone, chromedp.Text(chromedp.ID("code")))
	qrLink, _ := chromedp.Run(phone, chromedp.Evaluate[string](`document.getElementById("qr").title`))
	qrLoaded, _ := chromedp.Run(phone, chromedp.Evaluate[bool](`document.getElementById("qr").naturalWidth > 100`))
	if !strings.HasSuffix(qrLink, "/c/"+strings.ReplaceAll(code, " ", "")) || !qrLoaded {
		t.Fatalf("code %q, QR link %q, QR shown %v", code, qrLink, qrLoaded)
	}

	// The supervisor signs in and opens the QR link.
	sup := browser(t)
	signInNew(t, sup, link, "sgt.reyes")
	if err := chromedp.Do(sup,
		chromedp.Navigate(qrLink),
		chromedp.WaitVisible(chromedp.ID("open-code")),
		chromedp.Click(chromedp.ID("open-code")),
		chromedp.WaitVisible(chromedp.ID("review-form")),
	); err != nil {
		page, _ := chromedp.Run(sup, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("%v\npage: %s", err, page)
	}
	// Watches: the clip plays from the server.
	if _, err := chromedp.Run(sup, chromedp.Evaluate[any](`document.getElementById("player").muted = true; document.getElementById("player").play()`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("play: %v", err)
	}
	if _, err := chromedp.Run(sup, chromedp.Poll[bool](`document.getElementById("player").currentTime > 1`, chromedp.WithPollingTimeout(2*time.Minute))); err != nil {
		t.Fatalf("the clip did not play: %v", err)
	}
	src, _ := chromedp.Run(sup, chromedp.Evaluate[string](`document.getElementById("player").currentSrc`))
	if !strings.HasPrefix(src, srv.URL+"/api/v1/evidence/"+civID+"/review") {
		t.Errorf("the player streams %q, not the server's copy", src)
	}
	// Attaches the body camera clip and refers the stop.
	if err := chromedp.Do(sup,
		chromedp.Click(chromedp.CSS(`input.attach[value="`+bodycam.ID+`"]`)),
		chromedp.SendKeys(chromedp.ID("seen"), "Officer 101 pulled the driver from the car after he had stepped out."),
		chromedp.Click(chromedp.CSS(`input[name=outcome][value="referred for internal review"]`)),
		chromedp.SendKeys(chromedp.ID("notes"), "Driver released at the scene."),
		chromedp.Click(chromedp.ID("submit-review")),
		chromedp.WaitVisible(chromedp.ID("reviewed")),
	); err != nil {
		page, _ := chromedp.Run(sup, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("%v\npage: %s", err, page)
	}
	reviewID, _ := chromedp.Run(sup, chromedp.Text(chromedp.ID("review-id")))
	incLink, _ := chromedp.Run(sup, chromedp.Evaluate[string](`document.getElementById("incident-link").getAttribute("href")`))
	if !strings.HasPrefix(reviewID, "rev_") || !strings.HasPrefix(incLink, "/staff/incidents/inc_") {
		t.Fatalf("review %q, incident link %q", reviewID, incLink)
	}

	// The referral's incident holds the civilian's clip and the body
	// camera's.
	incID := strings.TrimPrefix(incLink, "/staff/incidents/")
	timeline, err := chromedp.Run(sup, chromedp.Evaluate[string](`fetch("/api/v1/incidents/`+incID+`/timeline").then(r => r.text())`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	var tl struct {
		Clips []struct {
			EvidenceID string `json:"evidence_id"`
		} `json:"clips"`
	}
	if err := json.Unmarshal([]byte(timeline), &tl); err != nil || len(tl.Clips) != 2 {
		t.Fatalf("incident timeline: %v %s", err, timeline)
	}
	clips := map[string]bool{tl.Clips[0].EvidenceID: true, tl.Clips[1].EvidenceID: true}
	if !clips[civID] || !clips[bodycam.ID] {
		t.Errorf("incident clips %v, want %s and %s", clips, civID, bodycam.ID)
	}

	// The civilian's page shows the review and the supervisor's accesses.
	page, _ := chromedp.Run(phone, chromedp.Evaluate[string](`document.getElementById("r-page").href`))
	if err := chromedp.Do(phone, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.ID("review-"+reviewID))); err != nil {
		body, _ := chromedp.Run(phone, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("%v\npage: %s", err, body)
	}
	shown, _ := chromedp.Run(phone, chromedp.Text(chromedp.ID("review-"+reviewID)))
	if !strings.Contains(shown, "referred for internal review") || !strings.Contains(shown, "sgt.reyes") || !strings.Contains(shown, "Officer 101 pulled") || !strings.Contains(shown, incID) {
		t.Errorf("the civilian's page shows the review as %q", shown)
	}
	if _, err := chromedp.Run(phone, chromedp.Poll[bool](`document.querySelectorAll("#event-list li").length > 3`, chromedp.WithPollingTimeout(2*time.Minute))); err != nil {
		t.Fatal(err)
	}
	rows, _ := chromedp.Run(phone, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#event-list li")].map(li => li.className + " | " + li.innerText)`))
	var opened, viewed, reviewed bool
	for _, r := range rows {
		opened = opened || strings.HasPrefix(r, "event shared") && strings.Contains(r, "sgt.reyes (supervisor, central) opened it with your code")
		viewed = viewed || strings.HasPrefix(r, "event viewed") && strings.Contains(r, "sgt.reyes (supervisor, central) watched your video") && strings.Contains(r, "Reason given: on-scene review")
		reviewed = reviewed || strings.HasPrefix(r, "event reviewed") && strings.Contains(r, "sgt.reyes (supervisor, central) wrote a review")
	}
	if !opened || !viewed || !reviewed {
		t.Errorf("accesses on the civilian's page: opened %v, viewed %v, reviewed %v:\n%s", opened, viewed, reviewed, strings.Join(rows, "\n"))
	}
	// The footage plays there too, and the review's receipt can be saved.
	if _, err := chromedp.Run(phone, chromedp.Poll[bool](`document.getElementById("player").readyState >= 2`, chromedp.WithPollingTimeout(2*time.Minute))); err != nil {
		t.Errorf("the civilian's player did not load: %v", err)
	}
	// The review's receipt, saved from the civilian's page, verifies
	// offline with what the supervisor wrote.
	reviewReceipt := filepath.Join(t.TempDir(), "review.json")
	os.WriteFile(reviewReceipt, saved(t, phone, "receipt-"+reviewID), 0o644)
	if out, errOut, err := sightline(t, "verify", footage, reviewReceipt, "--key", logKey(t, data)); err != nil || !strings.HasSuffix(out, "with the reviewed document it names\n") {
		t.Errorf("sightline verify of the review's saved receipt: %v %q %q", err, out, errOut)
	}
}
