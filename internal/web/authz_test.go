package web_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sightline/sightline/internal/access"
	"github.com/sightline/sightline/internal/account"
	"github.com/sightline/sightline/internal/audit"
	"github.com/sightline/sightline/internal/client"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/media/mediatest"
	"github.com/sightline/sightline/internal/server"
	"github.com/sightline/sightline/internal/server/servertest"
	"github.com/sightline/sightline/internal/web"
)

// uploadAs uploads data with the bearer token (none for a civilian) and
// returns the evidence and its access token, and the upload's URL.
func uploadAs(t *testing.T, env *servertest.Env, token string, data []byte, meta map[string]string) (client.Receipt, string) {
	t.Helper()
	h := map[string]string{"Upload-Length": fmt.Sprint(len(data)), "Upload-Metadata": client.EncodeMetadata(meta)}
	if token != "" {
		h["Authorization"] = "Bearer " + token
	}
	resp, body := env.Do("POST", "/api/v1/uploads/", h, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	u := resp.Header.Get("Location")
	if resp, body := env.Patch(u, 0, data); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH: %d %s", resp.StatusCode, body)
	}
	return env.Receipt(u), u
}

// Every route against every kind of caller. A route this table does not
// know fails the test, so a new route cannot go in without its rule.
func TestAuthorizationTable(t *testing.T) {
	env := servertest.Start(t, func(c *server.Config) { c.FailureLimit = 1000 })
	acc := env.Server.Accounts()
	_, device, err := acc.IssueToken(t.Context(), "test", account.Token{Kind: account.DeviceToken, Unit: "central", Device: "dock-1", Badge: "101"})
	if err != nil {
		t.Fatal(err)
	}
	callers := []struct {
		name, token string
	}{
		{"anonymous", ""},
		{"civilian of this item", ""}, // filled below
		{"civilian of another item", ""},
		{"device", device},
		{"officer", env.StaffToken("ofc.lane", account.Officer, "central", "101")},
		{"supervisor", env.StaffToken("sgt.reyes", account.Supervisor, "central", "301")},
		{"investigator", env.StaffToken("inv.ortiz", account.Investigator, "ia", "")},
		{"admin", env.StaffToken("adm.chen", account.Admin, "it", "")},
		{"involved officer", env.StaffToken("sgt.ward", account.Supervisor, "central", "202")},
	}
	// A civilian's clip naming officer 202, shared with both supervisors;
	// another civilian's clip; a body camera clip of officer 101.
	civ, _ := uploadAs(t, env, "", mediatest.NoiseWAV(40_000, 1), map[string]string{"source": "phone", "officer": "202"})
	other, _ := uploadAs(t, env, "", mediatest.NoiseWAV(40_001, 2), map[string]string{"source": "phone"})
	clip, err := os.ReadFile(mediatest.Clip(t, "bodycam.mp4", "2"))
	if err != nil {
		t.Fatal(err)
	}
	police, _ := uploadAs(t, env, device, clip, map[string]string{"source": "bodycam", "officer": "999"})
	callers[1].token, callers[2].token = civ.AccessToken, other.AccessToken
	if resp, body := call(t, env, "POST", "/api/v1/evidence/"+civ.ID+"/shares", civ.AccessToken, `{"user":"sgt.reyes"}`); resp != 204 {
		t.Fatalf("share with sgt.reyes: %d %s", resp, body)
	}
	// sgt.ward is involved: a share with him is refused, and one made
	// before he was named (put here directly) gives him nothing.
	if resp, body := call(t, env, "POST", "/api/v1/evidence/"+civ.ID+"/shares", civ.AccessToken, `{"user":"sgt.ward"}`); resp != 422 {
		t.Fatalf("share with the involved sgt.ward: %d %s", resp, body)
	}
	env.StaffToken("sgt.diaz", account.Supervisor, "east", "")
	if resp, body := call(t, env, "POST", "/api/v1/evidence/"+civ.ID+"/shares", civ.AccessToken, `{"user":"sgt.diaz"}`); resp != 204 {
		t.Fatalf("share with sgt.diaz: %d %s", resp, body)
	}
	diaz, err := acc.UserByName(t.Context(), "sgt.diaz")
	if err != nil {
		t.Fatal(err)
	}
	ward, err := acc.UserByName(t.Context(), "sgt.ward")
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Server.Facts().AddShare(t.Context(), civ.ID, ward.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	it, err := env.Server.Evidence().Get(t.Context(), police.ID)
	if err != nil || it.Uploader.Unit != "central" || it.Uploader.Badge != "101" || it.Uploader.Device != "dock-1" {
		t.Fatalf("a device upload is not stamped with the token's scope: %+v %v", it.Uploader, err)
	}
	_, uploadURL := uploadAs(t, env, "", mediatest.NoiseWAV(40_003, 4), map[string]string{"source": "phone"})

	// An incident opened by sgt.reyes with the body camera clip, inv.ortiz
	// assigned, sgt.ward (202) named as involved: the investigator now
	// reaches the clip through it and sgt.ward loses it.
	env.RunJobs()
	sup := callers[5].token
	incA := createIncident(t, env, sup, "Traffic stop, 5th and Main")
	for _, rq := range [][2]string{{"/evidence", `{"evidence_id":"` + police.ID + `"}`}, {"/staff", `{"user":"inv.ortiz"}`}, {"/officers", `{"badge":"202"}`}} {
		if got, body := call(t, env, "POST", "/api/v1/incidents/"+incA+rq[0], sup, rq[1]); got != 204 {
			t.Fatalf("%s: %d %s", rq[0], got, body)
		}
	}
	env.WaitJob("thumbnails", police.ID)
	env.WaitJob("poster", police.ID)
	env.WaitJob("align", incA)

	rc, err := env.Client().Receipt(t.Context(), civ.ID, civ.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	receipt, _ := json.Marshal(rc)
	tusCreate := map[string]string{"Tus-Resumable": "1.0.0", "Upload-Length": "10", "Upload-Metadata": client.EncodeMetadata(map[string]string{"source": "phone"})}

	// A redaction of the body camera clip, opened by sgt.reyes, with one
	// box drawn by hand (no detection: the routes, not the detector).
	got, body := call(t, env, "POST", "/api/v1/evidence/"+police.ID+"/redactions", sup, `{"auto":[]}`)
	var red struct{ ID string }
	if err := json.Unmarshal([]byte(body), &red); got != 201 || err != nil {
		t.Fatalf("redaction: %d %s", got, body)
	}
	redURL := "/api/v1/redactions/" + red.ID
	aBox := `{"changes":[{"kind":"box","effect":"fill","keyframes":[{"frame":0,"x":0,"y":0,"w":10,"h":10}],"reason":"privacy"}]}`

	// A release of incident A, made by the records office.
	records := env.StaffToken("rec.amos", account.Records, "central", "")
	relBody := `{"title":"Traffic stop","incident_id":"` + incA + `","spans":[{"evidence_id":"` + police.ID + `","from_s":0,"to_s":0.5}]}`
	got, body = call(t, env, "POST", "/api/v1/releases", records, relBody)
	var rel struct{ ID string }
	if err := json.Unmarshal([]byte(body), &rel); got != 201 || err != nil {
		t.Fatalf("release: %d %s", got, body)
	}
	relURL := "/api/v1/releases/" + rel.ID
	releaseReaders := [9]int{404, 404, 404, 404, 404, 200, 200, 404, 404}

	// Expected status for each caller, in the order of callers.
	type req struct {
		method, path, body string
		headers            map[string]string
		want               [9]int
	}
	civItem := "/api/v1/evidence/" + civ.ID
	policeItem := "/api/v1/evidence/" + police.ID
	reason := "?reason=complaint+review"
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	// The admin pages: the anonymous are sent to sign in; tokens, even an
	// admin's, do not administer (sightline admin and sessions do).
	notThroughTokens := [9]int{303, 403, 403, 403, 403, 403, 403, 403, 403}
	onlyHolderAndSupervisor := [9]int{404, 200, 404, 404, 404, 200, 404, 404, 404}
	policeReaders := [9]int{404, 404, 404, 404, 200, 200, 200, 404, 404}
	incidentReaders := [9]int{404, 404, 404, 404, 404, 200, 200, 404, 404}
	incidentEditors := func(sup, inv int) [9]int { return [9]int{404, 404, 404, 404, 404, sup, inv, 404, 404} }
	inc := "/api/v1/incidents/" + incA
	got, body = call(t, env, "POST", civItem+"/reviews"+reason, sup, `{"seen":"a stop","outcome":"released"}`)
	var rev struct{ ID string }
	if err := json.Unmarshal([]byte(body), &rev); got != 201 || err != nil {
		t.Fatalf("review: %d %s", got, body)
	}
	reviewers := [9]int{404, 404, 404, 404, 404, 201, 404, 404, 404}

	// A case sgt.reyes opened (his unit's) alleging force by officer 202
	// (sgt.ward), and a complaint no caller holds the token of.
	got, body = call(t, env, "POST", "/api/v1/cases", sup, `{}`)
	var kase struct{ ID string }
	if err := json.Unmarshal([]byte(body), &kase); got != 201 || err != nil {
		t.Fatalf("case: %d %s", got, body)
	}
	caseURL := "/api/v1/cases/" + kase.ID
	got, body = call(t, env, "POST", caseURL+"/allegations", sup, `{"officer_badge":"202","category":"force"}`)
	var alg struct{ ID string }
	if err := json.Unmarshal([]byte(body), &alg); got != 201 || err != nil {
		t.Fatalf("allegation: %d %s", got, body)
	}
	complaintBody := `{"narrative":"x","occurred_at":"2026-01-01T00:00:00Z"}`
	got, body = call(t, env, "POST", "/api/v1/complaints", "", complaintBody)
	var filed struct{ ID string }
	if err := json.Unmarshal([]byte(body), &filed); got != 201 || err != nil {
		t.Fatalf("complaint: %d %s", got, body)
	}
	complaintURL := "/api/v1/complaints/" + filed.ID
	// The case's unit's supervisor and (once it is taken) its
	// investigator work it; nobody else, and not the officer named.
	caseWorkers := func(code int, inv int) [9]int { return [9]int{404, 404, 404, 404, 404, code, inv, 404, 404} }
	claimers := func(sup int) [9]int { return [9]int{401, 403, 403, 403, 403, sup, 403, 403, sup} }
	claimPages := func(sup int) [9]int { return [9]int{303, 403, 403, 403, 403, sup, 403, 403, sup} }
	editors := [9]int{404, 409, 404, 404, 404, 409, 404, 404, 404}
	// A staff page sends the signed-out to sign in, and back.
	signInFirst := func(w [9]int) [9]int { w[0] = 303; return w }
	tests := map[string][]req{
		"GET /{$}":                              {{"GET", "/", "", nil, all(200)}},
		"GET /static/":                          {{"GET", "/static/app.js", "", nil, all(200)}},
		"GET /log/":                             {{"GET", "/log/checkpoint", "", nil, all(200)}},
		"GET /healthz":                          {{"GET", "/healthz", "", nil, all(200)}},
		"GET /readyz":                           {{"GET", "/readyz", "", nil, all(200)}},
		"GET /metrics":                          {{"GET", "/metrics", "", nil, all(200)}},
		"GET /capture":                          {{"GET", "/capture", "", nil, all(200)}},
		"GET /sw.js":                            {{"GET", "/sw.js", "", nil, all(200)}},
		"GET /manifest.webmanifest":             {{"GET", "/manifest.webmanifest", "", nil, all(200)}},
		"POST /api/v1/receipts/refresh":         {{"POST", "/api/v1/receipts/refresh", string(receipt), nil, all(200)}},
		"/api/v1/uploads":                       {{"POST", "/api/v1/uploads", "", tusCreate, all(201)}},
		"/api/v1/uploads/":                      {{"POST", "/api/v1/uploads/", "", tusCreate, all(201)}},
		"GET /api/v1/uploads/{upload}/evidence": {{"GET", strings.TrimPrefix(uploadURL, env.URL) + "/evidence", "", nil, all(200)}},
		"GET /api/v1/uploads/{upload}/receipt":  {{"GET", strings.TrimPrefix(uploadURL, env.URL) + "/receipt", "", nil, all(200)}},
		"GET /api/v1/uploads/{upload}/page":     {{"GET", strings.TrimPrefix(uploadURL, env.URL) + "/page", "", nil, all(200)}},
		"GET /api/v1/evidence/{id}": {
			{"GET", civItem + reason, "", nil, onlyHolderAndSupervisor},
			{"GET", policeItem, "", nil, policeReaders},
		},
		"GET /api/v1/evidence/{id}/original": {
			{"GET", civItem + "/original" + reason, "", nil, onlyHolderAndSupervisor},
			{"GET", policeItem + "/original", "", nil, policeReaders},
		},
		"GET /api/v1/evidence/{id}/receipt":   {{"GET", civItem + "/receipt" + reason, "", nil, onlyHolderAndSupervisor}},
		"GET /api/v1/evidence/{id}/custody":   {{"GET", civItem + "/custody" + reason, "", nil, onlyHolderAndSupervisor}},
		"POST /api/v1/evidence/{id}/shares":   {{"POST", civItem + "/shares", `{"user":"sgt.reyes"}`, nil, [9]int{404, 204, 404, 404, 404, 404, 404, 404, 404}}},
		"POST /api/v1/evidence/{id}/involved": {{"POST", civItem + "/involved" + reason, `{"badge":"555"}`, nil, [9]int{404, 404, 404, 404, 404, 204, 404, 404, 404}}},
		"GET /api/v1/me":                      {{"GET", "/api/v1/me", "", nil, [9]int{401, 403, 403, 403, 200, 200, 200, 200, 200}}},
		"GET /api/v1/staff":                   {{"GET", "/api/v1/staff", "", nil, [9]int{401, 403, 403, 403, 200, 200, 200, 200, 200}}},
		"GET /api/v1/evidence":                {{"GET", "/api/v1/evidence?source=bodycam", "", nil, [9]int{401, 403, 403, 403, 200, 200, 200, 200, 200}}},
		"GET /api/v1/evidence/{id}/shares":    {{"GET", civItem + "/shares", "", nil, [9]int{404, 200, 404, 404, 404, 404, 404, 404, 404}}},
		// The holder withdraws the share with sgt.diaz; nobody else may.
		"DELETE /api/v1/evidence/{id}/shares/{user}": {{"DELETE", civItem + "/shares/" + diaz.ID, "", nil, [9]int{404, 204, 404, 404, 404, 404, 404, 404, 404}}},
		"GET /api/v1/evidence/{id}/review": {
			{"GET", civItem + "/review" + reason, "", nil, onlyHolderAndSupervisor},
			{"GET", policeItem + "/review", "", nil, policeReaders},
		},
		"GET /api/v1/evidence/{id}/poster":     {{"GET", policeItem + "/poster", "", nil, policeReaders}},
		"GET /api/v1/evidence/{id}/thumbnails": {{"GET", policeItem + "/thumbnails", "", nil, policeReaders}},

		"POST /api/v1/incidents":                       {{"POST", "/api/v1/incidents", `{"title":"x"}`, nil, [9]int{401, 403, 403, 403, 403, 201, 201, 403, 201}}},
		"GET /api/v1/incidents":                        {{"GET", "/api/v1/incidents", "", nil, [9]int{401, 403, 403, 403, 200, 200, 200, 200, 200}}},
		"GET /api/v1/incidents/{incident}":             {{"GET", inc, "", nil, incidentReaders}},
		"GET /api/v1/incidents/{incident}/timeline":    {{"GET", inc + "/timeline", "", nil, incidentReaders}},
		"GET /api/v1/incidents/{incident}/suggestions": {{"GET", inc + "/suggestions", "", nil, incidentReaders}},
		// The incident holds the body camera clip, which both may read.
		"GET /api/v1/incidents/{incident}/package": {{"GET", inc + "/package" + reason, "", nil, incidentReaders}},
		"GET /staff/incidents/{incident}":          {{"GET", "/staff/incidents/" + incA, "", nil, signInFirst(incidentReaders)}},
		// The supervisor may decide on and add the civilian's clip shared
		// with them; the investigator finds it added already (409), then
		// not there to remove (404) once the supervisor has removed it.
		"POST /api/v1/incidents/{incident}/suggestions/{id}":     {{"POST", inc + "/suggestions/" + civ.ID, `{"accept":false}`, nil, incidentEditors(204, 204)}},
		"POST /api/v1/incidents/{incident}/evidence":             {{"POST", inc + "/evidence", `{"evidence_id":"` + civ.ID + `"}`, nil, incidentEditors(204, 409)}},
		"DELETE /api/v1/incidents/{incident}/evidence/{id}":      {{"DELETE", inc + "/evidence/" + civ.ID, "", nil, incidentEditors(204, 404)}},
		"POST /api/v1/incidents/{incident}/evidence/{id}/offset": {{"POST", inc + "/evidence/" + police.ID + "/offset", `{"nudge_s":0.5}`, nil, incidentEditors(204, 204)}},
		"POST /api/v1/incidents/{incident}/officers":             {{"POST", inc + "/officers", `{"badge":"777"}`, nil, incidentEditors(204, 204)}},
		"POST /api/v1/incidents/{incident}/staff":                {{"POST", inc + "/staff", `{"user":"sgt.reyes"}`, nil, incidentEditors(204, 204)}},

		// Redactions of the body camera clip: sgt.reyes (his unit's) and
		// inv.ortiz (on the incident) redact it, not sgt.ward (involved);
		// releasing is the records office's. The steps run in this order:
		// each opens one, both edit, sgt.reyes submits (then it is not a
		// draft), nobody renders it unapproved, its author may not approve
		// it and inv.ortiz does, then it is past sending back.
		"POST /api/v1/evidence/{id}/redactions":       {{"POST", policeItem + "/redactions", `{"auto":[]}`, nil, incidentEditors(201, 201)}},
		"GET /api/v1/evidence/{id}/redactions":        {{"GET", policeItem + "/redactions", "", nil, incidentReaders}},
		"GET /api/v1/redaction-bases":                 {{"GET", "/api/v1/redaction-bases", "", nil, [9]int{401, 403, 403, 403, 200, 200, 200, 200, 200}}},
		"GET /api/v1/redactions/{rid}":                {{"GET", redURL, "", nil, incidentReaders}},
		"PATCH /api/v1/redactions/{rid}":              {{"PATCH", redURL, aBox, nil, incidentReaders}},
		"POST /api/v1/redactions/{rid}/submit":        {{"POST", redURL + "/submit", "", nil, incidentEditors(200, 409)}},
		"POST /api/v1/redactions/{rid}/render":        {{"POST", redURL + "/render", "", nil, incidentEditors(409, 409)}},
		"POST /api/v1/redactions/{rid}/approve":       {{"POST", redURL + "/approve", "", nil, incidentEditors(403, 200)}},
		"POST /api/v1/redactions/{rid}/return":        {{"POST", redURL + "/return", `{"comment":"x"}`, nil, incidentEditors(409, 409)}},
		"POST /api/v1/redactions/{rid}/release":       {{"POST", redURL + "/release", "", nil, all(404)}},
		"GET /api/v1/redactions/{rid}/manifest":       {{"GET", redURL + "/manifest", "", nil, incidentEditors(409, 409)}},
		"GET /api/v1/redactions/{rid}/video":          {{"GET", redURL + "/video", "", nil, incidentEditors(409, 409)}},
		"GET /api/v1/redactions/{rid}/receipt":        {{"GET", redURL + "/receipt", "", nil, incidentEditors(409, 409)}},
		"GET /api/v1/redactions/{rid}/tracks/{track}": {{"GET", redURL + "/tracks/1", "", nil, incidentEditors(404, 404)}},
		"GET /staff/redact/{id}":                      {{"GET", "/staff/redact/" + police.ID, "", nil, signInFirst(incidentReaders)}},

		"GET /signin":          {{"GET", "/signin", "", nil, all(200)}},
		"POST /signin":         {{"POST", "/signin", "name=x&password=y", form, all(403)}}, // no form token
		"POST /signout":        {{"POST", "/signout", "", nil, [9]int{303, 403, 403, 403, 303, 303, 303, 303, 303}}},
		"GET /setup/{secret}":  {{"GET", "/setup/setup_nonesuch", "", nil, all(404)}},
		"POST /setup/{secret}": {{"POST", "/setup/setup_nonesuch", "", form, all(404)}},
		"GET /staff":           {{"GET", "/staff", "", nil, [9]int{303, 403, 403, 403, 200, 200, 200, 200, 200}}},
		"GET /staff/evidence/{id}": {
			{"GET", "/staff/evidence/" + civ.ID + reason, "", nil, signInFirst(onlyHolderAndSupervisor)},
			{"GET", "/staff/evidence/" + police.ID, "", nil, signInFirst(policeReaders)},
		},
		// On-scene review. A wrong code is 404 to supervisors; scripts
		// (tokens) get the pages' 400 or a page with the refusal.
		"POST /api/v1/evidence/{id}/share-codes":             {{"POST", civItem + "/share-codes", "", nil, [9]int{404, 201, 404, 404, 404, 404, 404, 404, 404}}},
		"POST /api/v1/share-codes/claim":                     {{"POST", "/api/v1/share-codes/claim", `{"code":"000 000 000"}`, nil, claimers(404)}},
		"POST /api/v1/evidence/{id}/reviews":                 {{"POST", civItem + "/reviews" + reason, `{"seen":"x","outcome":"no action"}`, nil, reviewers}},
		"GET /api/v1/evidence/{id}/reviews":                  {{"GET", civItem + "/reviews" + reason, "", nil, onlyHolderAndSupervisor}},
		"GET /api/v1/evidence/{id}/reviews/{review}/receipt": {{"GET", civItem + "/reviews/" + rev.ID + "/receipt" + reason, "", nil, onlyHolderAndSupervisor}},
		"PUT /api/v1/evidence/{id}/reviews/{review}":         {{"PUT", civItem + "/reviews/" + rev.ID, `{"outcome":"detained"}`, nil, editors}},
		"PATCH /api/v1/evidence/{id}/reviews/{review}":       {{"PATCH", civItem + "/reviews/" + rev.ID, `{"outcome":"detained"}`, nil, editors}},
		"DELETE /api/v1/evidence/{id}/reviews/{review}":      {{"DELETE", civItem + "/reviews/" + rev.ID, "", nil, editors}},

		"GET /api/v1/public/allegations.csv":        {{"GET", "/api/v1/public/allegations.csv", "", nil, all(200)}},
		"GET /figures":                              {{"GET", "/figures", "", nil, all(200)}},
		"GET /lookup":                               {{"GET", "/lookup", "", nil, all(200)}},
		"POST /api/v1/releases":                     {{"POST", "/api/v1/releases", relBody, nil, all(404)}},
		"GET /api/v1/releases/{release}":            {{"GET", relURL, "", nil, releaseReaders}},
		"PATCH /api/v1/releases/{release}":          {{"PATCH", relURL, relBody, nil, all(404)}},
		"POST /api/v1/releases/{release}/approve":   {{"POST", relURL + "/approve", "", nil, [9]int{404, 404, 404, 404, 404, 200, 404, 404, 404}}},
		"POST /api/v1/releases/{release}/publish":   {{"POST", relURL + "/publish", "", nil, all(404)}},
		"GET /api/v1/incidents/{incident}/releases": {{"GET", "/api/v1/incidents/" + incA + "/releases", "", nil, releaseReaders}},
		"GET /staff/incidents/{incident}/releases":  {{"GET", "/staff/incidents/" + incA + "/releases", "", nil, signInFirst(releaseReaders)}},
		"GET /r/{release}":                          {{"GET", "/r/" + rel.ID, "", nil, all(404)}},
		"GET /r/{release}/manifest":                 {{"GET", "/r/" + rel.ID + "/manifest", "", nil, all(404)}}, // not published
		"GET /r/{release}/files/{n}":                {{"GET", "/r/" + rel.ID + "/files/0", "", nil, all(404)}},
		"GET /r/{release}/proof":                    {{"GET", "/r/" + rel.ID + "/proof", "", nil, all(404)}},
		"POST /api/v1/lookup":                       {{"POST", "/api/v1/lookup", "not a video", nil, all(415)}},
		"POST /lookup":                              {{"POST", "/lookup", "not a form", nil, all(400)}},
		"GET /complain":                             {{"GET", "/complain", "", nil, all(200)}},
		"GET /complaint/{case}":                     {{"GET", "/complaint/" + filed.ID, "", nil, all(200)}},
		"GET /staff/cases":                          {{"GET", "/staff/cases", "", nil, [9]int{303, 403, 403, 403, 403, 200, 200, 200, 200}}},
		"GET /staff/cases/{case}":                   {{"GET", "/staff/cases/" + kase.ID, "", nil, signInFirst(caseWorkers(200, 200))}},
		"POST /api/v1/complaints":                   {{"POST", "/api/v1/complaints", complaintBody, nil, all(201)}},
		"GET /api/v1/complaints/{case}":             {{"GET", complaintURL, "", nil, all(404)}}, // only its own token opens it
		"POST /api/v1/complaints/{case}/evidence":   {{"POST", complaintURL + "/evidence", `{"id":"` + civ.ID + `","token":"` + civ.AccessToken + `"}`, nil, all(404)}},
		"POST /api/v1/complaints/{case}/withdraw":   {{"POST", complaintURL + "/withdraw", "", nil, all(404)}},
		"GET /api/v1/cases":                         {{"GET", "/api/v1/cases", "", nil, [9]int{401, 403, 403, 403, 403, 200, 200, 200, 200}}},
		"GET /api/v1/alerts":                        {{"GET", "/api/v1/alerts", "", nil, [9]int{401, 403, 403, 403, 403, 403, 200, 403, 403}}},
		"POST /api/v1/cases":                        {{"POST", "/api/v1/cases", `{}`, nil, [9]int{401, 403, 403, 403, 403, 201, 201, 403, 201}}},
		"GET /api/v1/cases/{case}":                  {{"GET", caseURL + "?reason=review", "", nil, caseWorkers(200, 404)}},
		// inv.ortiz takes it (naming himself), the admin assigns him again.
		"POST /api/v1/cases/{case}/assign":                            {{"POST", caseURL + "/assign", `{"user":"inv.ortiz"}`, nil, [9]int{404, 404, 404, 404, 404, 404, 204, 204, 404}}},
		"POST /api/v1/cases/{case}/status":                            {{"POST", caseURL + "/status", `{"status":"administratively-closed","reason":"bored"}`, nil, caseWorkers(400, 400)}},
		"POST /api/v1/cases/{case}/allegations":                       {{"POST", caseURL + "/allegations", `{"officer_badge":"777","category":"bias"}`, nil, caseWorkers(201, 201)}},
		"POST /api/v1/cases/{case}/allegations/{allegation}/findings": {{"POST", caseURL + "/allegations/" + alg.ID + "/findings", `{"stage":"recommended","finding":"sustained","basis":"x"}`, nil, caseWorkers(204, 204)}},
		"POST /api/v1/cases/{case}/evidence":                          {{"POST", caseURL + "/evidence", `{"evidence_id":"` + police.ID + `"}`, nil, caseWorkers(204, 204)}},
		"POST /api/v1/cases/{case}/pause":                             {{"POST", caseURL + "/pause", `{"reason":"criminal case pending"}`, nil, caseWorkers(204, 409)}},
		"POST /api/v1/cases/{case}/notes":                             {{"POST", caseURL + "/notes", `{"text":"a note"}`, nil, caseWorkers(204, 204)}},
		"POST /api/v1/cases/{case}/documents":                         {{"POST", caseURL + "/documents?name=a.txt", "a statement", nil, caseWorkers(201, 201)}},
		"GET /api/v1/cases/{case}/documents/{sha256}":                 {{"GET", caseURL + "/documents/" + strings.Repeat("0", 64) + "?reason=x", "", nil, caseWorkers(404, 404)}},
		// By now the case holds the body camera clip (added above).
		"GET /api/v1/cases/{case}/package": {{"GET", caseURL + "/package" + reason, "", nil, caseWorkers(200, 200)}},
		"POST /api/v1/cases/{case}/resume": {{"POST", caseURL + "/resume", `{}`, nil, caseWorkers(204, 409)}},
		"GET /e/{id}":                      {{"GET", "/e/" + civ.ID, "", nil, all(200)}},
		"GET /c/{code}":                    {{"GET", "/c/000000000", "", nil, all(303)}},
		"GET /staff/code":                  {{"GET", "/staff/code", "", nil, claimPages(400)}},
		"POST /staff/code":                 {{"POST", "/staff/code", "code=000000000", form, claimPages(404)}},
		"GET /staff/review/{id}":           {{"GET", "/staff/review/" + civ.ID, "", nil, [9]int{303, 404, 404, 404, 404, 400, 404, 404, 404}}},
		"POST /staff/review/{id}":          {{"POST", "/staff/review/" + civ.ID, "seen=x&outcome=released", form, [9]int{303, 404, 404, 404, 404, 200, 404, 404, 404}}},
		"GET /admin":                       {{"GET", "/admin", "", nil, notThroughTokens}},
		"POST /admin/users":                {{"POST", "/admin/users", "name=x.y&role=officer&badge=1", form, notThroughTokens}},
		"POST /admin/device-tokens":        {{"POST", "/admin/device-tokens", "unit=central", form, notThroughTokens}},
		"POST /admin/tokens/{id}/revoke":   {{"POST", "/admin/tokens/t_x/revoke", "", form, notThroughTokens}},
	}

	routes := env.Server.Handler().(*web.Handler).Routes()
	for _, rt := range routes {
		if _, ok := access.Table[rt.Action]; !ok {
			t.Errorf("route %s: action %q is not in the access table", rt.Pattern, rt.Action)
		}
		reqs, ok := tests[rt.Pattern]
		if !ok {
			t.Errorf("route %s has no expectations in this test: add its rule for every caller", rt.Pattern)
			continue
		}
		for _, rq := range reqs {
			for i, c := range callers {
				got, body := callH(t, env, rq.method, rq.path, c.token, rq.body, rq.headers)
				if got != rq.want[i] {
					t.Errorf("%s %s as %s: %d, want %d (%s)", rq.method, rq.path, c.name, got, rq.want[i], body)
				}
			}
		}
	}
	if len(routes) != len(tests) {
		t.Errorf("%d routes, %d in this test", len(routes), len(tests))
	}

	// Staff opening a civilian's footage must say why; police footage
	// needs no reason.
	if got, body := call(t, env, "GET", civItem+"/original", callers[5].token, ""); got != 400 || !strings.Contains(body, "reason") {
		t.Errorf("a supervisor without a reason: %d %s", got, body)
	}

	// Every access above is in the custody log, allowed or denied, with the
	// caller's role; the holder's own record, receipt and custody reads are
	// not accesses to footage.
	events, err := env.Server.Custody().Events(t.Context(), civ.ID)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, e := range events {
		if e.Type == evidence.Received || e.Details["action"] == "" {
			continue
		}
		count[e.Details["role"]+" "+e.Details["outcome"]]++
		reasonGiven := e.Words["reason"] == "complaint review" ||
			e.Details["action"] == string(access.ReviewItem) && e.Words["reason"] == "on-scene review" // the review pages give it
		if e.Details["role"] == "supervisor" && e.Details["outcome"] == "allowed" && !reasonGiven {
			t.Errorf("an allowed staff access without its reason: %+v", e)
		}
	}
	// Per caller on the civilian item: 5 API reads, the staff page, share,
	// listing and withdrawing shares, and involve = 10 decisions; and 9 of the on-scene review (a code,
	// submitting, listing, a review's receipt, three edits, the review
	// page and its form). The signed-out are sent to sign in by the
	// three staff pages, which decides nothing.
	for key, want := range map[string]int{
		"anonymous denied": 19 - 3, "device denied": 19, "officer denied": 19, "investigator denied": 19, "admin denied": 19,
		"civilian allowed":   5 + 1 + 1,              // two shares before, the original, the review copy and a share here (record, receipt, custody, page and the list of shares are the holder's own); a code; a share withdrawn
		"civilian denied":    11 + 9 + 3 + 3,         // the other civilian's token on all nineteen, the holder recording involvement, reviewing (three) and editing a review (three)
		"supervisor allowed": 5 + 1 + 1 + 6,          // reads, the page and involve by sgt.reyes; two reviews before and here, listing, a receipt, the review page
		"supervisor denied":  10 + 3 + 1 + 9 + 1 + 3, // sgt.ward (involved) on all, sgt.reyes's share and its list and withdrawal, the reason-less read, a code and three edits
	} {
		if count[key] != want {
			t.Errorf("custody log has %d %q events, want %d (all: %v)", count[key], key, want, count)
		}
	}

	env.Stop()
	r, err := audit.Run(t.Context(), env.AuditPaths())
	if err != nil || len(r.Problems) != 0 {
		t.Errorf("audit: %v %v", err, r.Problems)
	}
}

// createIncident opens an incident as the staff member with token and
// returns its id.
func createIncident(t *testing.T, env *servertest.Env, token, title string) string {
	t.Helper()
	got, body := call(t, env, "POST", "/api/v1/incidents", token, `{"title":"`+title+`"}`)
	var out struct{ ID string }
	if err := json.Unmarshal([]byte(body), &out); got != 201 || err != nil || out.ID == "" {
		t.Fatalf("create incident: %d %s", got, body)
	}
	return out.ID
}

func all(code int) [9]int {
	var out [9]int
	for i := range out {
		out[i] = code
	}
	return out
}

func call(t *testing.T, env *servertest.Env, method, path, token, body string) (int, string) {
	return callH(t, env, method, path, token, body, nil)
}

func callH(t *testing.T, env *servertest.Env, method, path, token, body string, headers map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, env.URL+path, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// Wrong tokens from one address are counted: past the limit a wrong one
// is refused with 429 (and not logged), but the right token still works,
// so a NAT or a proxy full of others' failures locks out nobody.
func TestTokenGuessesAreLimited(t *testing.T) {
	env := servertest.Start(t, func(c *server.Config) { c.FailureLimit = 3 })
	r, _ := uploadAs(t, env, "", mediatest.NoiseWAV(30_000, 9), map[string]string{"source": "phone"})
	for i := range 3 {
		if got, _ := call(t, env, "GET", "/api/v1/evidence/"+r.ID, fmt.Sprintf("guess-%d", i), ""); got != 404 {
			t.Fatalf("guess %d: %d, want 404", i, got)
		}
	}
	if got, _ := call(t, env, "GET", "/api/v1/evidence/"+r.ID, "guess-4", ""); got != 429 {
		t.Errorf("after 3 failures, another wrong token: %d, want 429", got)
	}
	if got, _ := call(t, env, "GET", "/api/v1/evidence/nonexistent", "guess", ""); got != 429 {
		t.Errorf("after 3 failures, a missing item: %d, want 429", got)
	}
	for _, path := range []string{"", "/original", "/receipt", "/custody"} {
		if got, body := call(t, env, "GET", "/api/v1/evidence/"+r.ID+path, r.AccessToken, ""); got != 200 {
			t.Errorf("after 3 failures from the same address, the right token on %q: %d %s, want 200", path, got, body)
		}
	}
}

// noRedirects answers redirects as they are, so that a test sees them.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// To anyone without access, an item that exists and one that does not
// answer alike: same status, same body, on every item route.
func TestNoResponseRevealsExistence(t *testing.T) {
	env := servertest.Start(t, func(c *server.Config) { c.FailureLimit = 1000 })
	officer := env.StaffToken("ofc.lane", account.Officer, "central", "101")
	r, _ := uploadAs(t, env, "", mediatest.NoiseWAV(30_000, 8), map[string]string{"source": "phone"})
	other, _ := uploadAs(t, env, "", mediatest.NoiseWAV(30_001, 9), map[string]string{"source": "phone"})
	missing := evidence.NewID()
	for _, token := range []string{"", "not-a-token", other.AccessToken, officer} {
		for _, suffix := range []string{"", "/original", "/receipt", "/custody", "/original?reason=x"} {
			for _, base := range []string{"/api/v1/evidence/", "/staff/evidence/"} {
				if base == "/staff/evidence/" && suffix != "" {
					continue
				}
				c1, b1 := call(t, env, "GET", base+r.ID+suffix, token, "")
				c2, b2 := call(t, env, "GET", base+missing+suffix, token, "")
				b2 = strings.ReplaceAll(b2, missing, r.ID) // a redirect to sign in names the page asked for
				if c1 != c2 || b1 != b2 || c1 == 200 {
					t.Errorf("%s{id}%s with token %.8q: existing %d %q, missing %d %q", base, suffix, token, c1, b1, c2, b2)
				}
			}
		}
	}
}

// A long reason is kept to 500 characters, cut between characters, and
// logged as valid text.
func TestLongReasonIsCutBetweenCharacters(t *testing.T) {
	env := servertest.Start(t)
	sup := env.StaffToken("sgt.reyes", account.Supervisor, "central", "")
	civ, _ := uploadAs(t, env, "", mediatest.NoiseWAV(20_000, 3), map[string]string{"source": "phone"})
	call(t, env, "POST", "/api/v1/evidence/"+civ.ID+"/shares", civ.AccessToken, `{"user":"sgt.reyes"}`)
	long := strings.Repeat("é", 600)
	if got, body := call(t, env, "GET", "/api/v1/evidence/"+civ.ID+"?reason="+url.QueryEscape(long), sup, ""); got != 200 {
		t.Fatalf("%d %s", got, body)
	}
	events, err := env.Server.Custody().Events(t.Context(), civ.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := events[len(events)-1].Words["reason"]
	if got != strings.Repeat("é", 500) {
		t.Errorf("logged reason of %d bytes, %d characters; want 500 é", len(got), utf8.RuneCountInString(got))
	}
}
