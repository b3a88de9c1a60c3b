package web_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/sightline/sightline/internal/account"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/media/mediatest"
	"github.com/sightline/sightline/internal/server"
	"github.com/sightline/sightline/internal/server/servertest"
)

// listed is the part of a listing these tests read.
type listed struct {
	ID         string `json:"id"`
	Source     string `json:"source"`
	RecordedAt string `json:"recorded_at"`
	Civilian   bool   `json:"civilian"`
	Device     string `json:"device"`
}

func search(t *testing.T, env *servertest.Env, token, query string) []listed {
	t.Helper()
	got, body := call(t, env, "GET", "/api/v1/evidence?"+query, token, "")
	var out struct{ Evidence []listed }
	if got != 200 || json.Unmarshal([]byte(body), &out) != nil {
		t.Fatalf("search %q: %d %s", query, got, body)
	}
	return out.Evidence
}

func ids(ls []listed) string {
	var out []string
	for _, l := range ls {
		out = append(out, l.ID)
	}
	return strings.Join(out, " ")
}

// A search finds, by recording time and source, footage the caller may
// see (an investigator: may bring in); what a file says (device, place)
// is matched only on footage read without a reason. Suggestions and
// results carry nothing a civilian wrote or their file says beyond the
// time it was recorded.
func TestSearchAndSuggestionsShowWhatTheCallerMayRead(t *testing.T) {
	env := servertest.Start(t, func(c *server.Config) { c.FailureLimit = 1000 })
	acc := env.Server.Accounts()
	_, device, err := acc.IssueToken(t.Context(), "test", account.Token{Kind: account.DeviceToken, Unit: "central", Device: "axon-7", Badge: "101"})
	if err != nil {
		t.Fatal(err)
	}
	sup := env.StaffToken("sgt.reyes", account.Supervisor, "central", "301")
	inv := env.StaffToken("inv.ortiz", account.Investigator, "ia", "")
	at := func(name, when, place string) []byte {
		opts := []string{"-metadata", "creation_time=" + when}
		if place != "" {
			opts = append(opts, "-metadata", "location="+place)
		}
		b, err := os.ReadFile(mediatest.Clip(t, name, "2", opts...))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	const secret = "Maple Street, apt 4B"
	phone, _ := uploadAs(t, env, "", at("phone.mp4", "2026-11-30T21:05:00Z", "+40.7128-074.0060/"),
		map[string]string{"source": "phone", "filename": "IMG_2041.mp4", "note": secret, "device": "Pixel 8"})
	cctv, _ := uploadAs(t, env, "", at("cctv.mp4", "2026-11-30T21:05:30Z", ""), map[string]string{"source": "surveillance", "filename": "ch03_2105.mp4"})
	body, _ := uploadAs(t, env, device, at("body.mp4", "2026-11-30T21:04:50Z", "+40.7130-074.0062/"), map[string]string{"source": "bodycam"})
	late, _ := uploadAs(t, env, "", at("late.mp4", "2026-12-01T09:00:00Z", ""), map[string]string{"source": "phone"})

	window := "from=2026-11-30T21:00:00Z&to=2026-11-30T21:10:00Z"
	if got := ids(search(t, env, inv, window)); got != cctv.ID+" "+phone.ID+" "+body.ID {
		t.Errorf("investigator, by time: %q, want the CCTV, the phone and the body camera clip, newest first (not %s)", got, late.ID)
	}
	if got := ids(search(t, env, inv, window+"&source=surveillance")); got != cctv.ID {
		t.Errorf("by source: %q", got)
	}
	// The supervisor sees their unit's body camera footage, not the
	// civilians' clips nobody shared with them.
	if got := ids(search(t, env, sup, window)); got != body.ID {
		t.Errorf("supervisor, by time: %q, want only %s", got, body.ID)
	}
	// Device and place match the police camera's record; the phone's file
	// says "Pixel 8" and a place too, but a search does not read it.
	if got := ids(search(t, env, sup, window+"&device=axon-7")); got != body.ID {
		t.Errorf("supervisor, by device: %q", got)
	}
	if got := ids(search(t, env, inv, window+"&device=Pixel+8")); got != "" {
		t.Errorf("a civilian's file matched by what it says: %q", got)
	}
	if got := ids(search(t, env, sup, window+"&near=40.7129,-74.0061&within=100")); got != body.ID {
		t.Errorf("supervisor, by place: %q", got)
	}
	for _, q := range []string{"from=yesterday", "near=91,0", "from=2026-11-30T22:00:00Z&to=2026-11-30T21:00:00Z", "within=-1"} {
		if got, _ := call(t, env, "GET", "/api/v1/evidence?"+q, inv, ""); got != 400 {
			t.Errorf("search %q: %d, want 400", q, got)
		}
	}

	// Suggestions for an incident holding the body camera clip name the
	// civilian clips recorded with it, and say nothing of what they hold.
	incID := createIncident(t, env, inv, "Stop at 5th and Main")
	if got, body := call(t, env, "POST", "/api/v1/incidents/"+incID+"/evidence", inv, `{"evidence_id":"`+body.ID+`"}`); got != 204 {
		t.Fatalf("add: %d %s", got, body)
	}
	got, raw := call(t, env, "GET", "/api/v1/incidents/"+incID+"/suggestions", inv, "")
	if got != 200 || !strings.Contains(raw, phone.ID) || !strings.Contains(raw, cctv.ID) {
		t.Fatalf("suggestions: %d %s", got, raw)
	}
	_, found := call(t, env, "GET", "/api/v1/evidence?"+window, inv, "")
	raw += found
	for _, leak := range []string{secret, "IMG_2041", "ch03_2105", "Pixel 8", "40.71", "-74.00"} {
		if strings.Contains(raw, leak) {
			t.Errorf("suggestions or a search give %q:\n%s", leak, raw)
		}
	}
	// Nothing of this was an access to footage: the civilian's list
	// holds only its receipt.
	events, err := env.Server.Custody().Events(t.Context(), phone.ID)
	if err != nil || len(events) != 1 || events[0].Type != evidence.Received {
		t.Errorf("the civilian's clip's custody after searches: %v %+v", err, events)
	}
}

// A civilian shares by name, sees the share by name, role, unit and
// badge, and withdraws it (logged); a share its person could not use is
// refused with why. Their custody list names the staff who acted.
func TestCivilianSharesByName(t *testing.T) {
	env := servertest.Start(t, func(c *server.Config) { c.FailureLimit = 1000 })
	sup := env.StaffToken("sgt.reyes", account.Supervisor, "central", "301")
	env.StaffToken("ofc.lane", account.Officer, "central", "101")
	env.StaffToken("inv.ortiz", account.Investigator, "ia", "")
	civ, _ := uploadAs(t, env, "", mediatest.NoiseWAV(20_000, 4), map[string]string{"source": "phone", "officer": "101"})
	item := "/api/v1/evidence/" + civ.ID

	for name, want := range map[string]string{
		"ofc.lane":  "ofc.lane is recorded as involved in this footage",
		"inv.ortiz": "inv.ortiz is an investigator: a share lets a supervisor watch your footage",
		"nobody":    "no staff member may be shared with under that name",
	} {
		if got, body := call(t, env, "POST", item+"/shares", civ.AccessToken, `{"user":"`+name+`"}`); got/100 != 4 || !strings.Contains(body, want) {
			t.Errorf("share with %s: %d %s, want %q", name, got, body, want)
		}
	}
	if got, body := call(t, env, "POST", item+"/shares", civ.AccessToken, `{"user":"sgt.reyes"}`); got != 204 {
		t.Fatalf("share: %d %s", got, body)
	}
	var shares struct {
		Shares []struct{ ID, Name, Role, Unit, Badge string }
	}
	_, body := call(t, env, "GET", item+"/shares", civ.AccessToken, "")
	if json.Unmarshal([]byte(body), &shares) != nil || len(shares.Shares) != 1 || shares.Shares[0].Name != "sgt.reyes" ||
		shares.Shares[0].Role != "supervisor" || shares.Shares[0].Unit != "central" || shares.Shares[0].Badge != "301" {
		t.Fatalf("shares: %s", body)
	}
	if got, _ := call(t, env, "GET", item+"?reason=complaint", sup, ""); got != 200 {
		t.Fatalf("the supervisor with the share: %d", got)
	}
	if got, _ := call(t, env, "DELETE", item+"/shares/"+shares.Shares[0].ID, civ.AccessToken, ""); got != 204 {
		t.Fatalf("withdraw: %d", got)
	}
	if got, _ := call(t, env, "DELETE", item+"/shares/"+shares.Shares[0].ID, civ.AccessToken, ""); got != 404 {
		t.Errorf("withdraw again: %d, want 404", got)
	}
	if got, _ := call(t, env, "GET", item+"?reason=complaint", sup, ""); got != 404 {
		t.Errorf("the supervisor after the share was withdrawn: %d, want 404", got)
	}

	var custody struct {
		Events []struct {
			Type, Actor string
			Details     map[string]string
		}
		People map[string]struct{ Name, Role, Unit, Badge string }
	}
	_, body = call(t, env, "GET", item+"/custody", civ.AccessToken, "")
	if err := json.Unmarshal([]byte(body), &custody); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range custody.Events {
		kinds = append(kinds, string(e.Type))
		if strings.HasPrefix(e.Actor, "user:") && custody.People[e.Actor].Name != "sgt.reyes" {
			t.Errorf("staff actor %s not named: %v", e.Actor, custody.People)
		}
		if w := e.Details["with"]; w != "" && custody.People[w].Badge != "301" {
			t.Errorf("a share's person %s not named: %v", w, custody.People)
		}
	}
	if got := strings.Join(kinds, " "); got != "received shared accessed unshared denied" {
		t.Errorf("custody: %s", got)
	}
}
