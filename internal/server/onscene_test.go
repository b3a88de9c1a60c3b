package server_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/account"
	"github.com/sightline/sightline/internal/client"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/media/mediatest"
	"github.com/sightline/sightline/internal/review"
	"github.com/sightline/sightline/internal/server/servertest"
	"github.com/sightline/sightline/verify"
)

func api(t *testing.T, env *servertest.Env, method, path, token, body string) (int, string) {
	t.Helper()
	h := map[string]string{"Content-Type": "application/json"}
	if token != "" {
		h["Authorization"] = "Bearer " + token
	}
	resp, b := env.Do(method, path, h, []byte(body))
	return resp.StatusCode, b
}

// issueCode asks for a share code as the holder of an item's token.
func issueCode(t *testing.T, env *servertest.Env, id, token string) string {
	t.Helper()
	got, body := api(t, env, "POST", "/api/v1/evidence/"+id+"/share-codes", token, "")
	var c struct {
		Code, Link, QR string
		ExpiresAt      time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal([]byte(body), &c); got != 201 || err != nil {
		t.Fatalf("share code: %d %s", got, body)
	}
	digits, ok := review.NormalizeCode(c.Code)
	if !ok || !strings.HasSuffix(c.Link, "/c/"+digits) || !strings.HasPrefix(c.QR, "data:image/png;base64,") ||
		c.ExpiresAt.Sub(env.Clock.Now()) < 29*time.Minute {
		t.Fatalf("share code %+v", c)
	}
	return c.Code
}

func claimCode(t *testing.T, env *servertest.Env, token, code string) int {
	t.Helper()
	got, _ := api(t, env, "POST", "/api/v1/share-codes/claim", token, `{"code":"`+code+`"}`)
	return got
}

// logged returns every event in the custody log (not only those the
// index lists by item).
func logged(t *testing.T, env *servertest.Env) []evidence.Event {
	t.Helper()
	n, err := env.Server.Log().NextIndex(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var out []evidence.Event
	for i := range n {
		b, err := env.Server.Log().Entry(t.Context(), i)
		if err != nil {
			t.Fatal(err)
		}
		e, err := evidence.ParseEvent(b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// refusals counts the denied claim events by actor and rule, and names
// the item each was about ("" for none).
func refusals(t *testing.T, env *servertest.Env, action string) map[string][]string {
	out := map[string][]string{}
	for _, e := range logged(t, env) {
		if e.Type != evidence.Denied || e.Details["action"] != action {
			continue
		}
		about := ""
		if e.Evidence != nil {
			about = e.Evidence.ID
		}
		key := e.Actor + " " + e.Details["rule"]
		out[key] = append(out[key], about)
	}
	return out
}

// A civilian's code lets one supervisor in, once, before it expires. An
// expired code, a code another supervisor used, and wrong codes are
// refused and logged (about the item when the code names one, so the
// civilian sees the attempt); past five wrong codes a supervisor is
// refused every code for a while, and the code they might have guessed
// stays good for its owner. Officers cannot use codes at all.
func TestShareCodeRefusalsAreLogged(t *testing.T) {
	env := servertest.Start(t)
	civ, _ := uploadCivilian(t, env)
	sgtA := env.StaffToken("sgt.avila", account.Supervisor, "central", "301")
	sgtB := env.StaffToken("sgt.brooks", account.Supervisor, "central", "302")
	ofc := env.StaffToken("ofc.cole", account.Officer, "central", "101")
	actorOf := func(name string) string {
		u, err := env.Server.Accounts().UserByName(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		return account.Actor(u.ID)
	}
	read := func(token string) int {
		got, _ := api(t, env, "GET", "/api/v1/evidence/"+civ.ID+"/original?reason=on-scene+review", token, "")
		return got
	}

	// Expired: 31 minutes after it was made.
	stale := issueCode(t, env, civ.ID, civ.AccessToken)
	env.Clock.Advance(31 * time.Minute)
	if got := claimCode(t, env, sgtA, stale); got != http.StatusGone {
		t.Errorf("expired code: %d, want 410", got)
	}
	if got := read(sgtA); got != http.StatusNotFound {
		t.Errorf("after an expired code the supervisor reads the item: %d", got)
	}

	// One supervisor, then a second with the same code.
	code := issueCode(t, env, civ.ID, civ.AccessToken)
	if got := claimCode(t, env, sgtA, code); got != http.StatusOK {
		t.Fatalf("claim: %d", got)
	}
	if got := read(sgtA); got != http.StatusOK {
		t.Errorf("the supervisor who used the code cannot read the item: %d", got)
	}
	if got := claimCode(t, env, sgtA, strings.ReplaceAll(code, " ", "-")); got != http.StatusOK {
		t.Errorf("the same supervisor opening their code again (typed with dashes): %d", got)
	}
	if got := claimCode(t, env, sgtB, code); got != http.StatusConflict {
		t.Errorf("a second supervisor reusing the code: %d, want 409", got)
	}
	if got := read(sgtB); got != http.StatusNotFound {
		t.Errorf("the second supervisor reads the item: %d", got)
	}
	if got := claimCode(t, env, ofc, issueCode(t, env, civ.ID, civ.AccessToken)); got != http.StatusForbidden {
		t.Errorf("an officer using a code: %d, want 403", got)
	}

	// Wrong codes: five refused, then even a good code is refused (429)
	// without being used up.
	fresh := issueCode(t, env, civ.ID, civ.AccessToken)
	for i, wrong := range []string{"000 000 001", "123-456-789", "999999999", "12345678", "abc"} {
		if got := claimCode(t, env, sgtB, wrong); got != http.StatusNotFound {
			t.Errorf("wrong code %d: %d, want 404", i, got)
		}
	}
	if got := claimCode(t, env, sgtB, fresh); got != http.StatusTooManyRequests {
		t.Errorf("after five wrong codes: %d, want 429", got)
	}
	if got := claimCode(t, env, sgtA, fresh); got != http.StatusOK {
		t.Errorf("the code the refused supervisor tried is still good for another: %d", got)
	}

	denied := refusals(t, env, "claim-share-code")
	for key, want := range map[string]struct {
		n     int
		about string
	}{
		actorOf("sgt.avila") + " code expired":                     {1, civ.ID},
		actorOf("sgt.brooks") + " code used by another supervisor": {1, civ.ID},
		actorOf("sgt.brooks") + " no such code":                    {5, ""},
	} {
		if got := denied[key]; len(got) != want.n || got[0] != want.about {
			t.Errorf("%s: logged %v, want %d about %q", key, got, want.n, want.about)
		}
	}
	// The civilian sees both supervisors' attempts on their item.
	events, _ := env.Server.Custody().Events(t.Context(), civ.ID)
	opened := 0
	for _, e := range events {
		if e.Type == evidence.Shared && e.Details["action"] == "claim-share-code" && e.Details["with"] == actorOf("sgt.avila") {
			opened++
		}
	}
	if opened != 3 {
		t.Errorf("%d openings by code logged about the item, want 3", opened)
	}
}

// uploadCivilian stores a civilian's short clip.
func uploadCivilian(t *testing.T, env *servertest.Env) (client.Receipt, []byte) {
	t.Helper()
	data, err := os.ReadFile(mediatest.Clip(t, "phone.webm", "2", "-c:v", "libvpx", "-deadline", "realtime", "-c:a", "libopus"))
	if err != nil {
		t.Fatal(err)
	}
	u := env.Create(int64(len(data)), map[string]string{"source": "phone"})
	if resp, body := env.Patch(u, 0, data); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	return env.Receipt(u), data
}

// A submitted review cannot be changed or deleted: every attempt is
// refused and logged about the item, the stored review stays as it was,
// and a correction is a new review that names it. Both sides get a
// receipt that proves the review's document was logged. A referral opens
// an incident with the clip and the body camera footage attached, and a
// case that holds it.
func TestReviewsAreImmutableAndReferralsOpenIncidents(t *testing.T) {
	env := servertest.Start(t)
	civ, _ := uploadCivilian(t, env)
	sgt := env.StaffToken("sgt.avila", account.Supervisor, "central", "301")
	if got := claimCode(t, env, sgt, issueCode(t, env, civ.ID, civ.AccessToken)); got != 200 {
		t.Fatalf("claim: %d", got)
	}
	_, device, err := env.Server.Accounts().IssueToken(t.Context(), "test", account.Token{Kind: account.DeviceToken, Unit: "central", Device: "axon-7", Badge: "101"})
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(mediatest.Clip(t, "bodycam.mp4", "2"))
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]string{"Upload-Length": strconv.Itoa(len(body)), "Upload-Metadata": "source Ym9keWNhbQ==", "Authorization": "Bearer " + device}
	resp, _ := env.Do("POST", "/api/v1/uploads/", h, nil)
	env.Patch(resp.Header.Get("Location"), 0, body)
	bodycam := env.Receipt(resp.Header.Get("Location"))

	items := "/api/v1/evidence/" + civ.ID
	submit := func(in string) (int, review.Record) {
		got, b := api(t, env, "POST", items+"/reviews?reason=on-scene+review", sgt, in)
		var rec review.Record
		json.Unmarshal([]byte(b), &rec)
		return got, rec
	}
	got, first := submit(`{"seen":"Driver filmed the stop from his car; no threat.","outcome":"released","notes":"Told him he was free to go."}`)
	if got != 201 || first.LogIndex == nil || first.Outcome != review.Released || first.AuthorName != "sgt.avila" {
		t.Fatalf("review: %d %+v", got, first)
	}

	for _, method := range []string{"PUT", "PATCH", "DELETE"} {
		got, b := api(t, env, method, items+"/reviews/"+first.ID, sgt, `{"outcome":"detained"}`)
		if got != http.StatusConflict || !strings.Contains(b, "submit a correction") {
			t.Errorf("%s a review: %d %s", method, got, b)
		}
	}
	got, b := api(t, env, "PATCH", items+"/reviews/"+first.ID, civ.AccessToken, `{"outcome":"no action"}`)
	if got != http.StatusConflict {
		t.Errorf("the civilian editing the review: %d %s", got, b)
	}
	edits := 0
	for _, e := range logged(t, env) {
		if e.Type == evidence.Denied && e.Details["action"] == "edit-review" && e.Details["review"] == first.ID && e.Evidence != nil && e.Evidence.ID == civ.ID {
			edits++
		}
	}
	if edits != 4 {
		t.Errorf("%d edit attempts logged about the item, want 4", edits)
	}

	// Invalid reviews are refused, and nothing of them is kept.
	for _, in := range []string{`{"seen":"x","outcome":"arrested"}`, `{"seen":"","outcome":"released"}`,
		`{"seen":"x","outcome":"released","corrects":"rev_nonesuch"}`, `{"seen":"x","outcome":"released","attached":["nonesuch"]}`,
		`{"seen":"x\u0000","outcome":"released"}`, `{"seen":"x","outcome":"released","extra":1}`} {
		if got, _ := submit(in); got != http.StatusBadRequest {
			t.Errorf("invalid review %s: %d, want 400", in, got)
		}
	}

	// A correction, with a referral and the body camera footage.
	got, second := submit(`{"seen":"On a second look the officer pushed the driver.","outcome":"referred for internal review","corrects":"` + first.ID + `","attached":["` + bodycam.ID + `"]}`)
	if got != 201 || second.Corrects != first.ID || second.Incident == "" {
		t.Fatalf("correction: %d %+v", got, second)
	}
	var list struct{ Reviews []review.Record }
	if err := getJSONAs(env, items+"/reviews", civ.AccessToken, &list); err != nil || len(list.Reviews) != 2 {
		t.Fatalf("reviews: %v %+v", err, list)
	}
	if list.Reviews[0].Document != first.Document || list.Reviews[0].Outcome != review.Released {
		t.Errorf("the first review changed: %+v", list.Reviews[0])
	}

	// The civilian's receipt of the correction proves its document.
	var rr struct {
		Document string
		Receipt  verify.Receipt
	}
	if err := getJSONAs(env, items+"/reviews/"+second.ID+"/receipt", civ.AccessToken, &rr); err != nil {
		t.Fatal(err)
	}
	res, err := verify.Check(rr.Receipt, env.Server.Log().VerifierKey())
	if err != nil || res.Event != "reviewed" {
		t.Fatalf("review receipt: %v %+v", err, res)
	}
	e, _ := evidence.ParseEvent([]byte(rr.Receipt.Entry))
	sum := sha256.Sum256([]byte(rr.Document))
	if e.Details["document_sha256"] != hex.EncodeToString(sum[:]) || e.Details["review"] != second.ID || e.Details["corrects"] != first.ID {
		t.Errorf("the logged event %s does not name the document %s", rr.Receipt.Entry, rr.Document)
	}
	if strings.Contains(rr.Receipt.Entry, "pushed") {
		t.Errorf("the public log carries the review's words: %s", rr.Receipt.Entry)
	}
	if code, _ := api(t, env, "GET", items+"/reviews/"+second.ID+"/receipt?reason=on-scene+review", sgt, ""); code != 200 {
		t.Errorf("the supervisor's receipt: %d", code)
	}

	// The referral's incident holds both clips.
	env.RunJobs()
	var tl struct {
		Clips []struct {
			EvidenceID string `json:"evidence_id"`
		}
	}
	if err := getJSONAs(env, "/api/v1/incidents/"+second.Incident+"/timeline", sgt, &tl); err != nil || len(tl.Clips) != 2 {
		t.Fatalf("referral incident: %v %+v", err, tl)
	}
	// The referral opened a case, an internal review of the supervisor's
	// unit, that holds the incident.
	var open struct {
		Cases []struct {
			ID     string
			Origin string
		}
	}
	if err := getJSONAs(env, "/api/v1/cases", sgt, &open); err != nil || len(open.Cases) != 1 || open.Cases[0].Origin != "referral" {
		t.Fatalf("cases after a referral: %v %+v", err, open)
	}
	var kase struct{ Incidents []string }
	if err := getJSONAs(env, "/api/v1/cases/"+open.Cases[0].ID+"?reason=referral+review", sgt, &kase); err != nil || len(kase.Incidents) != 1 || kase.Incidents[0] != second.Incident {
		t.Errorf("the referral's case: %v %+v, want it to hold %s", err, kase, second.Incident)
	}
}

func getJSONAs(env *servertest.Env, path, token string, v any) error {
	resp, body := env.Do("GET", path, map[string]string{"Authorization": "Bearer " + token}, nil)
	if resp.StatusCode != 200 {
		return &httpError{resp.StatusCode, body}
	}
	return json.Unmarshal([]byte(body), v)
}

type httpError struct {
	status int
	body   string
}

func (e *httpError) Error() string { return http.StatusText(e.status) + ": " + e.body }
