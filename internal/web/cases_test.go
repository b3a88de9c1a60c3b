package web_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/account"
	"github.com/sightline/sightline/internal/audit"
	"github.com/sightline/sightline/internal/media/mediatest"
	"github.com/sightline/sightline/internal/server"
	"github.com/sightline/sightline/internal/server/servertest"
)

// logSize is the custody log's next index: how many entries it holds.
func logSize(t *testing.T, env *servertest.Env) uint64 {
	t.Helper()
	n, err := env.Server.Log().NextIndex(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A complaint is filed without an account; bad input is refused with the
// field named and stores nothing. An investigator takes the case, reads
// it with a reason, adds an allegation against badge 4521 and records a
// recommended and a final finding; every move off the transitions is
// refused and stores nothing. The complainant follows each status with
// its date, the finding, and the investigator's reads; officer 4521 gets
// 404 for the case and its footage.
func TestComplaintToFinding(t *testing.T) {
	env := servertest.Start(t, func(c *server.Config) { c.FailureLimit = 1000 })
	inv := env.StaffToken("inv.ortiz", account.Investigator, "ia", "")
	other := env.StaffToken("inv.brook", account.Investigator, "ia", "")
	named := env.StaffToken("sgt.kane", account.Supervisor, "central", "4521")
	civ, _ := uploadAs(t, env, "", mediatest.NoiseWAV(30_000, 7), map[string]string{"source": "phone"})
	// The civilian had shared the footage with sgt.kane: naming him in
	// an allegation takes that away.
	if got, body := call(t, env, "POST", "/api/v1/evidence/"+civ.ID+"/shares", civ.AccessToken, `{"user":"sgt.kane"}`); got != 204 {
		t.Fatalf("share: %d %s", got, body)
	}
	now := env.Clock.Now().UTC()
	complaint := func(extra string) string {
		return `{"narrative":"An officer pushed me to the ground outside my store.","occurred_at":"` + now.Add(-48*3600e9).Format("2006-01-02T15:04:05Z") + `"` + extra + `}`
	}

	// Bad input: 400 naming the field, nothing stored.
	before := logSize(t, env)
	for name, tc := range map[string]struct{ body, field string }{
		"unknown field":       {complaint(`,"extra":1`), `unknown field \"extra\"`},
		"no narrative":        {`{"occurred_at":"2026-01-01T00:00:00Z"}`, "narrative"},
		"narrative too long":  {`{"narrative":"` + strings.Repeat("a", 20001) + `","occurred_at":"2026-01-01T00:00:00Z"}`, "narrative: at most 20000"},
		"no date":             {`{"narrative":"x"}`, "occurred_at"},
		"a date not RFC 3339": {`{"narrative":"x","occurred_at":"yesterday"}`, "occurred_at"},
		"a future date":       {`{"narrative":"x","occurred_at":"` + now.Add(24*3600e9).Format("2006-01-02T15:04:05Z") + `"}`, "occurred_at: in the future"},
		"a wrong token":       {complaint(`,"evidence":[{"id":"` + civ.ID + `","token":"not-its-token"}]`), "evidence[0]: no footage with this id for this token"},
		"a bad email":         {complaint(`,"contact":{"email":"x"}`), "contact.email"},
		"a bad badge":         {complaint(`,"officers":[{"badge":"<script>"}]`), "officers[0].badge"},
		"a bad place":         {complaint(`,"location":{"lat":91,"lon":0}`), "location"},
	} {
		got, body := call(t, env, "POST", "/api/v1/complaints", "", tc.body)
		if got != 400 || !strings.Contains(body, tc.field) {
			t.Errorf("%s: %d %s, want 400 naming %q", name, got, body, tc.field)
		}
	}
	if after := logSize(t, env); after != before {
		t.Errorf("refused complaints grew the log from %d to %d entries", before, after)
	}
	if list := cases(t, env, inv); len(list) != 0 {
		t.Fatalf("refused complaints stored cases: %v", list)
	}

	// A good one, with the footage and an officer's badge.
	got, body := call(t, env, "POST", "/api/v1/complaints", "", complaint(`,"place":"5th and Main","officers":[{"badge":"4521"}],"evidence":[{"id":"`+civ.ID+`","token":"`+civ.AccessToken+`"}],"contact":{"email":"a@example.org"}`))
	var filed struct{ ID, CaseNumber, Token string }
	if got != 201 || json.Unmarshal([]byte(body), &filed) != nil {
		t.Fatalf("complaint: %d %s", got, body)
	}
	json.Unmarshal([]byte(strings.ReplaceAll(body, "case_number", "casenumber")), &filed)
	if !regexp.MustCompile(`^\d{4}-\d{6}$`).MatchString(filed.CaseNumber) || filed.Token == "" {
		t.Fatalf("filed: %s", body)
	}
	view := func() map[string]any {
		t.Helper()
		got, body := call(t, env, "GET", "/api/v1/complaints/"+filed.ID, filed.Token, "")
		var v map[string]any
		if got != 200 || json.Unmarshal([]byte(body), &v) != nil {
			t.Fatalf("complainant view: %d %s", got, body)
		}
		return v
	}
	if v := view(); v["status"] != "received" || v["case_number"] != filed.CaseNumber || v["deadline"] == nil {
		t.Errorf("complainant view at first: %v", v)
	}
	for _, tok := range []string{"", "wrong", civ.AccessToken} {
		if got, _ := call(t, env, "GET", "/api/v1/complaints/"+filed.ID, tok, ""); got != 404 {
			t.Errorf("complainant view with token %q: %d, want 404", tok, got)
		}
	}

	// The investigator takes it; then another may not.
	caseURL := "/api/v1/cases/" + filed.ID
	if got, body := call(t, env, "POST", caseURL+"/assign", inv, `{"user":"inv.ortiz"}`); got != 204 {
		t.Fatalf("take: %d %s", got, body)
	}
	if got, _ := call(t, env, "POST", caseURL+"/assign", other, `{"user":"inv.brook"}`); got != 404 {
		t.Errorf("a second investigator taking an assigned case: %d, want 404", got)
	}
	if got, _ := call(t, env, "GET", caseURL, inv, ""); got != 400 {
		t.Errorf("reading a case without a reason: %d, want 400", got)
	}
	got, body = call(t, env, "GET", caseURL+"?reason=IA+intake", inv, "")
	if got != 200 || !strings.Contains(body, "pushed me to the ground") || !strings.Contains(body, "5th and Main") {
		t.Fatalf("read case: %d %s", got, body)
	}
	if got, _ := call(t, env, "GET", "/api/v1/evidence/"+civ.ID+"?reason=IA+2026-7", inv, ""); got != 200 {
		t.Errorf("the investigator reading the case's footage: %d", got)
	}

	// Moves off the transitions, and moves the case is not ready for,
	// are refused and store nothing.
	status := func(to, reason string) (int, string) {
		return call(t, env, "POST", caseURL+"/status", inv, `{"status":"`+to+`","reason":"`+reason+`"}`)
	}
	refuse := func(what string, got int, body string, want int) {
		t.Helper()
		if got != want {
			t.Errorf("%s: %d %s, want %d", what, got, body, want)
		}
	}
	before = logSize(t, env)
	g, b := status("closed", "")
	refuse("received to closed", g, b, 409)
	g, b = status("findings-recommended", "")
	refuse("received to findings-recommended", g, b, 409)
	g, b = status("administratively-closed", "bored")
	refuse("an administrative closure for no listed reason", g, b, 400)
	g, b = status("sleeping", "")
	refuse("an unknown status", g, b, 409)
	if after := logSize(t, env); after != before {
		t.Errorf("refused moves grew the log from %d to %d", before, after)
	}
	for _, to := range []string{"acknowledged", "investigating"} {
		if g, b := status(to, ""); g != 204 {
			t.Fatalf("to %s: %d %s", to, g, b)
		}
	}
	g, b = status("findings-recommended", "")
	refuse("findings recommended with no allegation", g, b, 409)
	got, body = call(t, env, "POST", caseURL+"/allegations", inv, `{"officer_badge":"4521","category":"force","policy":"Use of force 2.1"}`)
	var alg struct{ ID string }
	if got != 201 || json.Unmarshal([]byte(body), &alg) != nil {
		t.Fatalf("allegation: %d %s", got, body)
	}
	g, b = call(t, env, "POST", caseURL+"/allegations", inv, `{"officer_badge":"4521","category":"rudeness"}`)
	refuse("an unknown category", g, b, 400)
	finding := func(stage, f string) (int, string) {
		return call(t, env, "POST", caseURL+"/allegations/"+alg.ID+"/findings", inv, `{"stage":"`+stage+`","finding":"`+f+`","basis":"The store's camera shows the push."}`)
	}
	g, b = finding("final", "sustained")
	refuse("a final finding before a recommended one", g, b, 409)
	g, b = finding("recommended", "guilty")
	refuse("an unknown finding", g, b, 400)
	g, b = status("findings-recommended", "")
	refuse("findings recommended with none recorded", g, b, 409)
	if g, b := finding("recommended", "sustained"); g != 204 {
		t.Fatalf("recommended: %d %s", g, b)
	}
	if g, b := status("findings-recommended", "report sent to the chief"); g != 204 {
		t.Fatalf("findings-recommended: %d %s", g, b)
	}
	g, b = status("closed", "")
	refuse("closed without a final finding", g, b, 409)
	if g, b := finding("final", "sustained"); g != 204 {
		t.Fatalf("final: %d %s", g, b)
	}
	if g, b := status("closed", ""); g != 204 {
		t.Fatalf("closed: %d %s", g, b)
	}
	g, b = call(t, env, "POST", "/api/v1/complaints/"+filed.ID+"/withdraw", filed.Token, "")
	refuse("withdrawing a closed complaint", g, b, 409)

	// The complainant follows it all.
	v := view()
	var history []string
	for _, h := range v["history"].([]any) {
		m := h.(map[string]any)
		if m["at"] == "" {
			t.Errorf("a status without its date: %v", m)
		}
		history = append(history, m["status"].(string))
	}
	if got := strings.Join(history, " "); got != "received acknowledged investigating findings-recommended closed" {
		t.Errorf("history: %s", got)
	}
	if a := v["allegations"].([]any); len(a) != 1 || a[0].(map[string]any)["finding"] != "sustained" || a[0].(map[string]any)["category"] != "force" {
		t.Errorf("allegations: %v", a)
	}
	reads := fmt.Sprint(v["access"])
	if !strings.Contains(reads, "read-case") || !strings.Contains(reads, "IA intake") || !strings.Contains(reads, "IA 2026-7") || !strings.Contains(reads, "investigator") {
		t.Errorf("the complainant does not see the investigator's reads with role and reason: %s", reads)
	}

	// Officer 4521, named, reads neither the case nor its footage.
	if got, _ := call(t, env, "GET", caseURL+"?reason=curious", named, ""); got != 404 {
		t.Errorf("the named officer reading the case: %d, want 404", got)
	}
	if got, _ := call(t, env, "GET", "/api/v1/evidence/"+civ.ID+"?reason=curious", named, ""); got != 404 {
		t.Errorf("the named officer reading its footage: %d, want 404", got)
	}
}

// cases lists the cases a staff token sees.
func cases(t *testing.T, env *servertest.Env, token string) []map[string]any {
	t.Helper()
	got, body := call(t, env, "GET", "/api/v1/cases", token, "")
	var out struct{ Cases []map[string]any }
	if got != 200 || json.Unmarshal([]byte(body), &out) != nil {
		t.Fatalf("cases: %d %s", got, body)
	}
	return out.Cases
}

// A case's deadline runs from receipt (365 days by default); a pause with
// a reason, logged, moves it on by as long as it lasted, and the
// complainant sees the deadline as it stands.
func TestCaseDeadlinePauses(t *testing.T) {
	env := servertest.Start(t, func(c *server.Config) { c.FailureLimit = 1000 })
	inv := env.StaffToken("inv.ortiz", account.Investigator, "ia", "")
	got, body := call(t, env, "POST", "/api/v1/complaints", "", `{"narrative":"x","occurred_at":"2026-01-01T00:00:00Z"}`)
	var filed struct{ ID, Token string }
	if got != 201 || json.Unmarshal([]byte(body), &filed) != nil {
		t.Fatalf("complaint: %d %s", got, body)
	}
	received := env.Clock.Now().UTC()
	deadline := func() string {
		t.Helper()
		_, body := call(t, env, "GET", "/api/v1/complaints/"+filed.ID, filed.Token, "")
		var v struct{ Deadline string }
		json.Unmarshal([]byte(body), &v)
		return v.Deadline
	}
	day := 24 * time.Hour
	if got, want := deadline(), received.Add(365*day).Format("2006-01-02"); got != want {
		t.Fatalf("deadline %s, want %s", got, want)
	}
	caseURL := "/api/v1/cases/" + filed.ID
	call(t, env, "POST", caseURL+"/assign", inv, `{"user":"inv.ortiz"}`)
	if got, _ := call(t, env, "POST", caseURL+"/pause", inv, `{"reason":""}`); got != 400 {
		t.Errorf("a pause without a reason: %d, want 400", got)
	}
	env.Clock.Advance(10 * day)
	if got, body := call(t, env, "POST", caseURL+"/pause", inv, `{"reason":"criminal case pending"}`); got != 204 {
		t.Fatalf("pause: %d %s", got, body)
	}
	env.Clock.Advance(20 * day)
	// While paused, the deadline moves on day by day.
	if got, want := deadline(), received.Add(385*day).Format("2006-01-02"); got != want {
		t.Errorf("deadline while paused 20 days: %s, want %s", got, want)
	}
	if got, body := call(t, env, "POST", caseURL+"/resume", inv, `{}`); got != 204 {
		t.Fatalf("resume: %d %s", got, body)
	}
	env.Clock.Advance(5 * day)
	if got, want := deadline(), received.Add(385*day).Format("2006-01-02"); got != want {
		t.Errorf("deadline after a 20-day pause: %s, want %s", got, want)
	}
	var kase struct {
		Events []struct {
			Details map[string]string
			Words   map[string]string
		}
	}
	_, body = call(t, env, "GET", caseURL+"?reason=check", inv, "")
	json.Unmarshal([]byte(body), &kase)
	var paused bool
	for _, e := range kase.Events {
		paused = paused || e.Details["action"] == "deadline-paused" && e.Words["reason"] == "criminal case pending"
	}
	if !paused {
		t.Errorf("the pause and its reason are not in the case's events: %s", body)
	}
}

// An officer named in N allegations within the window is flagged once,
// for investigators to see, and the flag is logged.
func TestEarlyInterventionFlags(t *testing.T) {
	env := servertest.Start(t, func(c *server.Config) { c.AlertAllegations, c.AlertWindow = 3, 90*24*time.Hour })
	inv := env.StaffToken("inv.ortiz", account.Investigator, "ia", "")
	sup := env.StaffToken("sgt.reyes", account.Supervisor, "central", "301")
	flags := func() []map[string]any {
		t.Helper()
		got, body := call(t, env, "GET", "/api/v1/alerts", inv, "")
		var out struct{ Flags []map[string]any }
		if got != 200 || json.Unmarshal([]byte(body), &out) != nil {
			t.Fatalf("alerts: %d %s", got, body)
		}
		return out.Flags
	}
	allege := func(badge string) string {
		t.Helper()
		_, body := call(t, env, "POST", "/api/v1/cases", inv, `{}`)
		var k struct{ ID string }
		json.Unmarshal([]byte(body), &k)
		if got, body := call(t, env, "POST", "/api/v1/cases/"+k.ID+"/allegations", inv, `{"officer_badge":"`+badge+`","category":"force"}`); got != 201 {
			t.Fatalf("allegation: %d %s", got, body)
		}
		return k.ID
	}
	allege("4521")
	env.Clock.Advance(100 * 24 * time.Hour) // outside the window by the third
	allege("4521")
	allege("4521")
	allege("777")
	if f := flags(); len(f) != 0 {
		t.Fatalf("flagged with 2 allegations in the window: %v", f)
	}
	last := allege("4521")
	allege("4521") // a fourth: still one flag in the window
	f := flags()
	if len(f) != 1 || f[0]["officer"] != "4521" || f[0]["count"] != 3.0 {
		t.Fatalf("flags: %v", f)
	}
	if got, _ := call(t, env, "GET", "/api/v1/alerts", sup, ""); got != 403 {
		t.Errorf("a supervisor reading flags: %d, want 403", got)
	}
	_, body := call(t, env, "GET", "/api/v1/cases/"+last+"?reason=check", inv, "")
	if !strings.Contains(body, `"officer-flagged"`) {
		t.Errorf("the flag is not logged on the case that raised it: %s", body)
	}
}

// The public CSV and /figures count exactly the allegations of closed
// cases of a seeded data set, and name no officer.
func TestPublicFiguresCountClosedAllegations(t *testing.T) {
	env := servertest.Start(t)
	inv := env.StaffToken("inv.ortiz", account.Investigator, "ia", "")
	must := func(got int, body string, want int) {
		t.Helper()
		if got != want {
			t.Fatalf("%d %s, want %d", got, body, want)
		}
	}
	// open makes a case with allegations (badge, category, finding) and
	// takes it as far as to ("closed", "administratively-closed" or
	// "investigating").
	open := func(to string, allegations ...[3]string) {
		t.Helper()
		got, body := call(t, env, "POST", "/api/v1/cases", inv, `{}`)
		must(got, body, 201)
		var k struct{ ID string }
		json.Unmarshal([]byte(body), &k)
		u := "/api/v1/cases/" + k.ID
		for _, st := range []string{"acknowledged", "investigating"} {
			got, body := call(t, env, "POST", u+"/status", inv, `{"status":"`+st+`"}`)
			must(got, body, 204)
		}
		var ids []string
		for _, a := range allegations {
			got, body := call(t, env, "POST", u+"/allegations", inv, `{"officer_badge":"`+a[0]+`","category":"`+a[1]+`"}`)
			must(got, body, 201)
			var al struct{ ID string }
			json.Unmarshal([]byte(body), &al)
			ids = append(ids, al.ID)
			got, body = call(t, env, "POST", u+"/allegations/"+al.ID+"/findings", inv, `{"stage":"recommended","finding":"`+a[2]+`","basis":"b"}`)
			must(got, body, 204)
		}
		switch to {
		case "administratively-closed":
			got, body := call(t, env, "POST", u+"/status", inv, `{"status":"administratively-closed","reason":"withdrawn"}`)
			must(got, body, 204)
		case "closed":
			got, body := call(t, env, "POST", u+"/status", inv, `{"status":"findings-recommended"}`)
			must(got, body, 204)
			for i, id := range ids {
				got, body := call(t, env, "POST", u+"/allegations/"+id+"/findings", inv, `{"stage":"final","finding":"`+allegations[i][2]+`","basis":"b"}`)
				must(got, body, 204)
			}
			got, body = call(t, env, "POST", u+"/status", inv, `{"status":"closed"}`)
			must(got, body, 204)
		}
	}
	open("closed", [3]string{"4521", "force", "sustained"}, [3]string{"4521", "discourtesy", "unfounded"})
	open("closed", [3]string{"777", "bias", "exonerated"})
	env.Clock.Advance(40 * 24 * time.Hour) // a second month
	open("closed", [3]string{"888", "force", "not-sustained"})
	open("investigating", [3]string{"4521", "force", "sustained"})
	open("administratively-closed", [3]string{"4521", "force", "sustained"})

	got, body := call(t, env, "GET", "/api/v1/public/allegations.csv", "", "")
	lines := strings.Split(strings.TrimSpace(body), "\n")
	if got != 200 || len(lines) != 1+4 || lines[0] != "case_number,received,closed,category,finding,unit" {
		t.Fatalf("CSV: %d\n%s", got, body)
	}
	for _, badge := range []string{"4521", "777", "888"} {
		if strings.Contains(body, ","+badge) {
			t.Errorf("the CSV names badge %s:\n%s", badge, body)
		}
	}
	got, page := call(t, env, "GET", "/figures", "", "")
	if got != 200 || !strings.Contains(page, `<strong id="total">4</strong>`) {
		t.Fatalf("figures: %d\n%s", got, page)
	}
	// Each chart's segments add up to the 4 closed allegations; force has 2
	// (one each month), sustained 1.
	counts := regexp.MustCompile(`<rect [^>]*data-key="([a-z-]+)" data-count="(\d+)"`).FindAllStringSubmatch(page, -1)
	sum := map[string]int{}
	total := 0
	for _, c := range counts {
		n := 0
		fmt.Sscan(c[2], &n)
		sum[c[1]] += n
		total += n
	}
	if total != 8 || sum["force"] != 2 || sum["sustained"] != 1 || sum["bias"] != 1 || sum["unfounded"] != 1 {
		t.Errorf("the charts count %d segments' allegations (want 8: 4 in each chart): %v", total, sum)
	}
}

// Staff keep notes and documents on a case: the notes' words and the
// documents' names stay out of the log, a document is read back byte for
// byte with a reason (logged), the complainant sees neither, and the audit
// counts the document's blob as the case's.
func TestCaseNotesAndDocuments(t *testing.T) {
	env := servertest.Start(t, func(c *server.Config) { c.FailureLimit = 1000 })
	inv := env.StaffToken("inv.ortiz", account.Investigator, "ia", "")
	got, body := call(t, env, "POST", "/api/v1/complaints", "", `{"narrative":"x","occurred_at":"2026-01-01T00:00:00Z"}`)
	var filed struct{ ID, Token string }
	if got != 201 || json.Unmarshal([]byte(body), &filed) != nil {
		t.Fatalf("complaint: %d %s", got, body)
	}
	u := "/api/v1/cases/" + filed.ID
	call(t, env, "POST", u+"/assign", inv, `{"user":"inv.ortiz"}`)
	const note = "Called the store owner; footage of the whole stop exists."
	if got, body := call(t, env, "POST", u+"/notes", inv, `{"text":"`+note+`"}`); got != 204 {
		t.Fatalf("note: %d %s", got, body)
	}
	doc := []byte("%PDF-1.4 a witness statement\n" + strings.Repeat("x", 2<<20))
	resp, body := env.Do("POST", u+"/documents?name=statement.pdf", map[string]string{"Authorization": "Bearer " + inv}, doc)
	var d struct{ SHA256 string }
	if resp.StatusCode != 201 || json.Unmarshal([]byte(body), &d) != nil || d.SHA256 == "" {
		t.Fatalf("document: %d %s", resp.StatusCode, body)
	}
	for name, tc := range map[string]struct {
		path string
		body []byte
		want int
	}{
		"a name with a slash": {u + "/documents?name=a/b.pdf", []byte("x"), 400},
		"no name":             {u + "/documents", []byte("x"), 400},
		"empty":               {u + "/documents?name=a.pdf", nil, 400},
		"over 20 MiB":         {u + "/documents?name=big.bin", make([]byte, 20<<20+1), 413},
	} {
		if resp, body := env.Do("POST", tc.path, map[string]string{"Authorization": "Bearer " + inv}, tc.body); resp.StatusCode != tc.want {
			t.Errorf("%s: %d %.100s, want %d", name, resp.StatusCode, body, tc.want)
		}
	}
	if got, _ := call(t, env, "GET", u+"/documents/"+d.SHA256, inv, ""); got != 400 {
		t.Errorf("a document without a reason: %d, want 400", got)
	}
	resp, back := env.Do("GET", u+"/documents/"+d.SHA256+"?reason=IA+review", map[string]string{"Authorization": "Bearer " + inv}, nil)
	if resp.StatusCode != 200 || back != string(doc) || !strings.Contains(resp.Header.Get("Content-Disposition"), "statement.pdf") {
		t.Fatalf("document read back: %d, %d bytes, %q", resp.StatusCode, len(back), resp.Header.Get("Content-Disposition"))
	}
	_, kase := call(t, env, "GET", u+"?reason=check", inv, "")
	if !strings.Contains(kase, note) || !strings.Contains(kase, `"read-document"`) || !strings.Contains(kase, "statement.pdf") {
		t.Errorf("the case lacks the note, the document or its read: %s", kase)
	}
	_, view := call(t, env, "GET", "/api/v1/complaints/"+filed.ID, filed.Token, "")
	if strings.Contains(view, note) || strings.Contains(view, "statement.pdf") {
		t.Errorf("the complainant sees staff notes or documents: %s", view)
	}
	env.Stop()
	r, err := audit.Run(t.Context(), env.AuditPaths())
	if err != nil || len(r.Problems) != 0 {
		t.Errorf("audit: %v %v", err, r.Problems)
	}
}
