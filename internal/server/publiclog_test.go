package server_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/sightline/sightline/internal/account"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/review"
	"github.com/sightline/sightline/internal/server"
	"github.com/sightline/sightline/internal/server/servertest"
)

// An anonymous caller cannot fill the public log: an edit of a review
// that does not exist is a 404 that logs nothing (whatever the path holds,
// however long), edits of one that does are logged only up to the
// failure limit and then answered 429 unlogged, and anonymous incident
// reads are limited the same way. No text from the path enters the log.
func TestAnonymousCallersCannotFillTheLog(t *testing.T) {
	env := servertest.Start(t, func(c *server.Config) { c.FailureLimit = 10 })
	civ, _ := uploadCivilian(t, env)
	sgt := env.StaffToken("sgt.avila", account.Supervisor, "central", "301")
	if got := claimCode(t, env, sgt, issueCode(t, env, civ.ID, civ.AccessToken)); got != 200 {
		t.Fatalf("claim: %d", got)
	}
	got, b := api(t, env, "POST", "/api/v1/evidence/"+civ.ID+"/reviews?reason=on-scene+review", sgt,
		`{"seen":"Filmed the stop.","outcome":"released","notes":"Free to go."}`)
	var rec review.Record
	if err := json.Unmarshal([]byte(b), &rec); got != 201 || err != nil {
		t.Fatalf("review: %d %s", got, b)
	}
	inc := createIncident(t, env, sgt)
	size := func() uint64 {
		n, err := env.Server.Log().NextIndex(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	start := size()

	// Paths full of text, up to and past 64 KiB: 404, nothing logged.
	for _, n := range []int{60 << 10, 70 << 10} {
		text := strings.Repeat("A", n)
		for _, method := range []string{"DELETE", "PUT", "PATCH"} {
			if got, body := api(t, env, method, "/api/v1/evidence/"+civ.ID+"/reviews/"+text, "", ""); got != 404 {
				t.Errorf("%s a review named by %d bytes: %d %.100s, want 404", method, n, got, body)
			}
		}
	}
	if grew := size() - start; grew != 0 {
		t.Fatalf("edits of reviews that do not exist logged %d events", grew)
	}

	// Those 6 failures count. Edits of the real review and reads of the
	// incident are logged up to the limit (4 more), then refused unlogged.
	var codes []int
	for range 12 {
		got, _ := api(t, env, "DELETE", "/api/v1/evidence/"+civ.ID+"/reviews/"+rec.ID, "", "")
		codes = append(codes, got)
	}
	for range 12 {
		got, _ := api(t, env, "GET", "/api/v1/incidents/"+inc, "", "")
		codes = append(codes, got)
	}
	if codes[len(codes)-1] != http.StatusTooManyRequests {
		t.Errorf("24 refused anonymous requests answered %v; want 429 at the end", codes)
	}
	if grew := size() - start; grew < 1 || grew > 4 {
		t.Errorf("24 refused anonymous requests logged %d events; want 1 to 4, the rest of the limit", grew)
	}
	for _, e := range logged(t, env) {
		if e.Type == evidence.Denied && e.Details["action"] == "edit-review" && e.Details["review"] != rec.ID {
			t.Errorf("an edit logged naming review %.40q", e.Details["review"])
		}
	}
	// The right token still works from the same address.
	if got, body := api(t, env, "GET", "/api/v1/evidence/"+civ.ID+"/custody", civ.AccessToken, ""); got != 200 {
		t.Errorf("the civilian's own token after others' failures: %d %s", got, body)
	}
}

// createIncident opens an incident as token and returns its id.
func createIncident(t *testing.T, env *servertest.Env, token string) string {
	t.Helper()
	got, body := api(t, env, "POST", "/api/v1/incidents", token, `{"title":"Traffic stop on Elm Street"}`)
	var out struct{ ID string }
	if err := json.Unmarshal([]byte(body), &out); got != 201 || err != nil {
		t.Fatalf("incident: %d %s", got, body)
	}
	return out.ID
}

// The public log holds no words: after accounts, tokens, incidents,
// officers named, involvement and reads with reasons, no entry holds a
// title, badge, unit, device, name or reason, and every entry passes the
// public check. Those allowed to read an item's custody list still see
// the words, with the sealed document whose SHA-256 the entry names.
func TestThePublicLogHoldsNoWords(t *testing.T) {
	env := servertest.Start(t)
	secret := []string{"Zebra Crossing Affair", "B-98765", "S-43210", "unit-north-7", "dock-blue-9", "sgt.quimby", "because the mayor asked"}
	sgt := env.StaffToken("sgt.quimby", account.Supervisor, "unit-north-7", "B-98765")
	if _, _, err := env.Server.Accounts().IssueToken(t.Context(), "test", account.Token{Kind: account.DeviceToken, Unit: "unit-north-7", Device: "dock-blue-9", Badge: "B-98765"}); err != nil {
		t.Fatal(err)
	}
	civ, _ := uploadCivilian(t, env)
	if got := claimCode(t, env, sgt, issueCode(t, env, civ.ID, civ.AccessToken)); got != 200 {
		t.Fatalf("claim: %d", got)
	}
	got, body := api(t, env, "POST", "/api/v1/incidents", sgt, `{"title":"Zebra Crossing Affair"}`)
	var inc struct{ ID string }
	if err := json.Unmarshal([]byte(body), &inc); got != 201 || err != nil {
		t.Fatalf("incident: %d %s", got, body)
	}
	steps := []struct{ method, path, body string }{
		{"GET", "/api/v1/evidence/" + civ.ID + "?reason=because+the+mayor+asked", ""},
		{"POST", "/api/v1/evidence/" + civ.ID + "/involved?reason=because+the+mayor+asked", `{"badge":"S-43210"}`},
		{"POST", "/api/v1/incidents/" + inc.ID + "/officers", `{"badge":"B-98765"}`},
	}
	for _, s := range steps {
		if got, body := api(t, env, s.method, s.path, sgt, s.body); got/100 != 2 {
			t.Fatalf("%s %s: %d %s", s.method, s.path, got, body)
		}
	}
	n, err := env.Server.Log().NextIndex(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		entry, err := env.Server.Log().Entry(t.Context(), i)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range secret {
			if strings.Contains(string(entry), w) {
				t.Errorf("log entry %d holds %q: %s", i, w, entry)
			}
		}
		e, err := evidence.ParseEvent(entry)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.CheckPublic(); err != nil {
			t.Errorf("log entry %d: %v", i, err)
		}
	}

	// The civilian sees who looked and why, and can check the words
	// against the log.
	var custody struct{ Events []evidence.LoggedEvent }
	if err := getJSONAs(env, "/api/v1/evidence/"+civ.ID+"/custody", civ.AccessToken, &custody); err != nil {
		t.Fatal(err)
	}
	reasons, badges := 0, 0
	for _, e := range custody.Events {
		if e.Words == nil {
			continue
		}
		sum := sha256.Sum256([]byte(e.Sealed))
		if hex.EncodeToString(sum[:]) != e.Details[evidence.WordsKey] {
			t.Errorf("event %d: the sealed words do not hash to the entry's words_sha256", e.Index)
		}
		if e.Words["reason"] == "because the mayor asked" {
			reasons++
		}
		if e.Words["badge"] == "S-43210" {
			badges++
		}
	}
	if reasons < 2 || badges != 1 {
		t.Errorf("the custody list shows the reason %d times and the badge %d times; want 2+ and 1", reasons, badges)
	}
}
