package integration

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sightline/sightline/verify"
)

// signInWithoutCode sets up an account whose role needs no second factor
// (an officer) and signs in.
func signInWithoutCode(t *testing.T, ctx context.Context, link, name string) {
	t.Helper()
	const password = "correct horse battery staple"
	if err := chromedp.Do(ctx,
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.ID("password")),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("setup")),
		chromedp.WaitVisible(chromedp.ID("signin")),
		chromedp.SendKeys(chromedp.ID("name"), name),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("signout-button")),
	); err != nil {
		t.Fatalf("%v\n%s", err, pageText(ctx))
	}
}

// A civilian records, opens "Complain about this" from their evidence
// page, files a complaint naming badge 4521 and gets a case number and
// key. An investigator takes the case, reads it and watches the footage
// with a reason, adds an allegation, records a recommended and then a
// final finding, and closes it. The complainant's page shows each status
// with its date, the finding, and the investigator's reads of their
// footage with role and reason. Officer 4521 gets 404 for the case and
// its footage.
func TestComplaintFromRecordingToFinding(t *testing.T) {
	data := t.TempDir()
	srv := startServer(t, data, 0)
	invLink := createUser(t, data, srv.URL, "investigator", "inv.ortiz", "ia", "")
	ofcLink := createUser(t, data, srv.URL, "officer", "ofc.kane", "central", "4521")

	phone := browser(t)
	if err := chromedp.Do(phone, chromedp.EmulateViewport(390, 844)); err != nil {
		t.Fatal(err)
	}
	pressed := startRecording(t, phone, srv.URL)
	time.Sleep(time.Until(pressed.Add(3 * time.Second)))
	if err := chromedp.Do(phone, chromedp.Click(chromedp.ID("record")), chromedp.WaitVisible(chromedp.ID("receipt"))); err != nil {
		t.Fatal(err)
	}
	evidenceID := pageState(t, phone).Evidence
	if err := chromedp.Do(phone, chromedp.Click(chromedp.ID("r-page")), chromedp.WaitVisible(chromedp.ID("footage")),
		chromedp.Click(chromedp.ID("e-complain")), chromedp.WaitVisible(chromedp.ID("narrative"))); err != nil {
		t.Fatalf("%v\n%s", err, pageText(phone))
	}
	attached, _ := chromedp.Run(phone, chromedp.Evaluate[string](`document.getElementById("attached-list").innerText.trim()`))
	if _, err := chromedp.Run(phone, chromedp.Evaluate[bool](`(() => { const d = new Date(Date.now() - 3600e3);
		document.getElementById("occurred-at").value = new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16); return true })()`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(phone,
		chromedp.SendKeys(chromedp.ID("narrative"), "Officer 4521 pushed me against the car while I was filming from the sidewalk."),
		chromedp.SendKeys(chromedp.ID("place"), "5th and Main"),
		chromedp.SendKeys(chromedp.ID("officer-badge"), "4521"),
	); err != nil {
		t.Fatal(err)
	}
	fitsAPhone(t, phone, "the complaint page")
	if err := chromedp.Do(phone, chromedp.Click(chromedp.ID("file")), chromedp.WaitVisible(chromedp.ID("filed"))); err != nil {
		t.Fatalf("%v\n%s", err, pageText(phone))
	}
	number, _ := chromedp.Run(phone, chromedp.Text(chromedp.ID("case-number")))
	key, _ := chromedp.Run(phone, chromedp.Text(chromedp.ID("case-token")))
	casePage, _ := chromedp.Run(phone, chromedp.Evaluate[string](`document.getElementById("case-page").href`))
	if len(number) != 11 || key == "" || !strings.Contains(casePage, "/complaint/case_") {
		t.Fatalf("filed: number %q key %q page %q", number, key, casePage)
	}
	caseID := strings.TrimPrefix(strings.Split(casePage, "#")[0], srv.URL+"/complaint/")

	// The investigator takes it, reads it and the footage, and decides.
	inv := browser(t)
	signInNew(t, inv, invLink, "inv.ortiz")
	const reason = "IA-2026-044 complaint review"
	if err := chromedp.Do(inv,
		chromedp.Navigate(srv.URL+"/staff/cases"),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-case="`+caseID+`"] .take-case`)),
		chromedp.Click(chromedp.CSS(`tr[data-case="`+caseID+`"] .take-case`)),
		chromedp.WaitVisible(chromedp.ID("reason")),
		chromedp.SendKeys(chromedp.ID("reason"), reason),
		chromedp.Click(chromedp.ID("open")),
		chromedp.WaitVisible(chromedp.ID("a-add")),
	); err != nil {
		t.Fatalf("%v\n%s", err, pageText(inv))
	}
	waitText(t, inv, "#k-narrative", "pushed me against the car")
	waitText(t, inv, "#k-officers", "badge 4521")
	// Watch the footage from the case, with the case's reason.
	if err := chromedp.Do(inv, chromedp.Click(chromedp.CSS("#k-evidence a")), chromedp.WaitVisible(chromedp.ID("player"))); err != nil {
		t.Fatalf("%v\n%s", err, pageText(inv))
	}
	if _, err := chromedp.Run(inv, chromedp.Poll[bool](`document.getElementById("player").readyState >= 2`, chromedp.WithPollingTimeout(2*time.Minute))); err != nil {
		t.Fatalf("the investigator's player did not load: %v", err)
	}
	if err := chromedp.Do(inv, chromedp.NavigateBack(), chromedp.WaitVisible(chromedp.ID("a-add"))); err != nil {
		t.Fatal(err)
	}
	move := func(to string) {
		t.Helper()
		sel := `#k-next button[data-status="` + to + `"]`
		if err := chromedp.Do(inv, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel))); err != nil {
			t.Fatalf("moving to %s: %v\n%s", to, err, pageText(inv))
		}
		waitText(t, inv, "#k-status", to)
	}
	move("acknowledged")
	move("investigating")
	if err := chromedp.Do(inv, chromedp.SendKeys(chromedp.ID("a-badge"), "4521"), chromedp.SetValue(chromedp.ID("a-category"), "force"),
		chromedp.SendKeys(chromedp.ID("a-policy"), "Use of force 2.1"), chromedp.Click(chromedp.ID("a-add"))); err != nil {
		t.Fatal(err)
	}
	waitText(t, inv, "#k-allegations .allegation", "badge 4521")
	finding := func(stage string) {
		t.Helper()
		if err := chromedp.Do(inv,
			chromedp.SetValue(chromedp.CSS("#k-allegations .f-stage"), stage),
			chromedp.SetValue(chromedp.CSS("#k-allegations .f-finding"), "sustained"),
			chromedp.SendKeys(chromedp.CSS("#k-allegations .f-basis"), "The footage shows the push; the officer's account does not."),
			chromedp.Click(chromedp.CSS("#k-allegations .f-record")),
		); err != nil {
			t.Fatal(err)
		}
		waitText(t, inv, "#k-allegations .finding."+stage, stage+": sustained")
	}
	finding("recommended")
	move("findings-recommended")
	finding("final")
	move("closed")

	// The case's evidence package, from its page: it checks offline.
	zipped := downloaded(t, inv,
		chromedp.SendKeys(chromedp.ID("package-reason"), "disclosure to the complainant's lawyer"),
		chromedp.Click(chromedp.ID("package-download")))
	if res, err := verify.Package(bytes.NewReader(zipped), int64(len(zipped)), logKey(t, data)); err != nil || !res.OK() || len(res.Items) != 1 || res.Items[0].ID != evidenceID.ID {
		t.Errorf("the package saved from the case page: %v %+v", err, res)
	}

	// The complainant's page.
	if err := chromedp.Do(phone, chromedp.Navigate(casePage), chromedp.WaitVisible(chromedp.ID("case"))); err != nil {
		t.Fatalf("%v\n%s", err, pageText(phone))
	}
	waitText(t, phone, "#c-number", number)
	waitText(t, phone, "#c-status", "Closed with findings")
	steps, _ := chromedp.Run(phone, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#c-history li")].map(li => li.className + " | " + li.innerText)`))
	if len(steps) != 5 || !strings.HasPrefix(steps[0], "status received") || !strings.HasPrefix(steps[4], "status closed") || !strings.Contains(steps[4], "20") {
		t.Errorf("the complainant's history: %q", steps)
	}
	waitText(t, phone, "#c-allegations", "force: sustained")
	waitText(t, phone, "#c-access li", "inv.ortiz (investigator, ia) watched your footage")
	waitText(t, phone, "#c-access li", "inv.ortiz (investigator, ia) opened your complaint")
	waitText(t, phone, "#c-access li", "Reason given: "+reason)
	waitText(t, phone, "#c-notices", "closed, with a finding on each allegation")
	fitsAPhone(t, phone, "the complainant's page")
	if attached != evidenceID.ID {
		t.Errorf("the complaint page attached %q, the recording is %s", attached, evidenceID.ID)
	}

	// Officer 4521 reads neither the case nor the footage.
	ofc := browser(t)
	signInWithoutCode(t, ofc, ofcLink, "ofc.kane")
	for _, path := range []string{"/api/v1/cases/" + caseID + "?reason=x", "/api/v1/evidence/" + evidenceID.ID + "?reason=x", "/staff/cases/" + caseID} {
		status, _ := chromedp.Run(ofc, chromedp.Evaluate[int](`fetch("`+path+`").then(r => r.status)`, chromedp.EvalAwaitPromise))
		if status != 404 {
			t.Errorf("officer 4521 on %s: %d, want 404", path, status)
		}
	}
	srv.kill()
	if out, _, err := sightline(t, "audit", "--data", data); err != nil || !strings.HasSuffix(out, "; 0 problems\n") {
		t.Errorf("audit: %v %s", err, out)
	}
}
