package web_test

import (
	"encoding/json"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/sightline/sightline/internal/account"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/media/mediatest"
	"github.com/sightline/sightline/internal/server"
	"github.com/sightline/sightline/internal/server/servertest"
)

// Police footage follows police rules only: the upload of a dock hands
// out no civilian's token, and the token its upload id would make opens
// nothing, shares nothing and makes no share code.
func TestDeviceUploadsHaveNoCivilianToken(t *testing.T) {
	env := servertest.Start(t, func(c *server.Config) { c.FailureLimit = 1000 })
	_, device, err := env.Server.Accounts().IssueToken(t.Context(), "test", account.Token{Kind: account.DeviceToken, Unit: "north", Device: "dock-1", Badge: "101"})
	if err != nil {
		t.Fatal(err)
	}
	env.StaffToken("sgt.central", account.Supervisor, "central", "301")
	clip, err := os.ReadFile(mediatest.Clip(t, "bodycam.mp4", "1"))
	if err != nil {
		t.Fatal(err)
	}
	police, uploadURL := uploadAs(t, env, device, clip, map[string]string{"source": "bodycam"})
	if police.AccessToken != "" {
		t.Errorf("a dock's upload handed out the token %q", police.AccessToken)
	}
	// The token a civilian's upload of that id would have had.
	id := uploadURL[strings.LastIndex(uploadURL, "/")+1:]
	forged := evidence.AccessToken(id)
	for _, rq := range []struct{ method, path, body string }{
		{"GET", "", ""},
		{"GET", "/original", ""},
		{"POST", "/shares", `{"user":"sgt.central"}`},
		{"POST", "/share-codes", ""},
	} {
		if got, body := call(t, env, rq.method, "/api/v1/evidence/"+police.ID+rq.path, forged, rq.body); got != 404 {
			t.Errorf("%s %s with the upload's token: %d %s, want 404", rq.method, rq.path, got, body)
		}
	}
}

// Assigning staff widens who reads an incident's clips: only the
// incident's owner (or an investigator on it) may, and it is logged. A
// supervisor of the same unit may not assign themselves or anyone else.
func TestOnlyTheOwnerAssignsStaff(t *testing.T) {
	env := servertest.Start(t, func(c *server.Config) { c.FailureLimit = 1000 })
	owner := env.StaffToken("sgt.owner", account.Supervisor, "central", "301")
	other := env.StaffToken("sgt.other", account.Supervisor, "central", "302")
	env.StaffToken("sgt.north", account.Supervisor, "north", "401")
	env.StaffToken("inv.ortiz", account.Investigator, "ia", "")
	inc := createIncident(t, env, owner, "Stop on Elm")
	for _, name := range []string{"sgt.other", "sgt.north"} {
		if got, body := call(t, env, "POST", "/api/v1/incidents/"+inc+"/staff", other, `{"user":"`+name+`"}`); got != 404 {
			t.Errorf("a supervisor of the unit who did not open it assigns %s: %d %s, want 404", name, got, body)
		}
	}
	if got, body := call(t, env, "POST", "/api/v1/incidents/"+inc+"/staff", owner, `{"user":"inv.ortiz"}`); got != 204 {
		t.Fatalf("the owner assigns an investigator: %d %s", got, body)
	}
	events, err := env.Server.Custody().IncidentEvents(t.Context(), inc)
	if err != nil {
		t.Fatal(err)
	}
	assigned, refused := 0, 0
	for _, e := range events {
		if e.Details["action"] == "staff-assigned" {
			assigned++
		}
		if e.Type == evidence.Denied && e.Details["action"] == "assign-staff" {
			refused++
		}
	}
	if assigned != 1 || refused != 2 {
		t.Errorf("the incident's log has %d assignments and %d refused ones; want 1 and 2", assigned, refused)
	}
}

// The list of footage a supervisor may see says nothing a civilian wrote
// or their file says, and reading it logs nothing: those come with the
// record, opened with a reason and logged.
func TestStaffListShowsNoCivilianWords(t *testing.T) {
	env := servertest.Start(t)
	sup := env.StaffToken("sgt.reyes", account.Supervisor, "central", "301")
	clip, err := os.ReadFile(mediatest.Clip(t, "phone.mp4", "1", "-metadata", "location=+40.7128-074.0060/", "-metadata", "make=Acme"))
	if err != nil {
		t.Fatal(err)
	}
	civ, _ := uploadAs(t, env, "", clip, map[string]string{"source": "phone", "filename": "my-secret-name.mp4",
		"device": "Grandma's phone", "officer": "B-4455", "note": "he pushed me"})
	if got, body := call(t, env, "POST", "/api/v1/evidence/"+civ.ID+"/shares", civ.AccessToken, `{"user":"sgt.reyes"}`); got != 204 {
		t.Fatalf("share: %d %s", got, body)
	}
	before, err := env.Server.Custody().Events(t.Context(), civ.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, body := call(t, env, "GET", "/api/v1/me", sup, "")
	if got != 200 {
		t.Fatalf("me: %d %s", got, body)
	}
	var me struct{ Evidence []map[string]any }
	if err := json.Unmarshal([]byte(body), &me); err != nil || len(me.Evidence) != 1 || me.Evidence[0]["id"] != civ.ID {
		t.Fatalf("me lists %s", body)
	}
	for _, secret := range []string{"my-secret-name", "Grandma", "B-4455", "pushed", "40.71", "Acme"} {
		if strings.Contains(body, secret) {
			t.Errorf("the list shows %q: %s", secret, body)
		}
	}
	after, _ := env.Server.Custody().Events(t.Context(), civ.ID)
	if len(after) != len(before) {
		t.Errorf("listing logged %d events about the item", len(after)-len(before))
	}
	// With a reason, the record says it all, and that is logged.
	if got, body := call(t, env, "GET", "/api/v1/evidence/"+civ.ID+"?reason="+url.QueryEscape("complaint"), sup, ""); got != 200 || !strings.Contains(body, "he pushed me") {
		t.Errorf("the record with a reason: %d %s", got, body)
	}
}
