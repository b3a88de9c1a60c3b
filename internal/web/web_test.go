package web_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/account"
	"github.com/sightline/sightline/internal/client"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/media/mediatest"
	"github.com/sightline/sightline/internal/server/servertest"
)

// upload stores data as evidence and returns its receipt.
func upload(t *testing.T, env *servertest.Env, data []byte, name string) client.Receipt {
	t.Helper()
	u := env.Create(int64(len(data)), map[string]string{"filename": name, "source": "dashcam", "device": "Viofo A129"})
	if resp, body := env.Patch(u, 0, data); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH: %d %s", resp.StatusCode, body)
	}
	return env.Receipt(u)
}

func get(t *testing.T, url, token string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp, b.Bytes()
}

func TestEvidenceAPI(t *testing.T) {
	env := servertest.Start(t)
	data, err := os.ReadFile(mediatest.Clip(t, "a.mp4", "2"))
	if err != nil {
		t.Fatal(err)
	}
	mine := upload(t, env, data, "a.mp4")
	other := upload(t, env, append([]byte(nil), data...), "b.mp4")

	tests := []struct {
		name   string
		path   string
		token  string
		status int
	}{
		{"own token", "/api/v1/evidence/" + mine.ID, mine.AccessToken, 200},
		{"no token", "/api/v1/evidence/" + mine.ID, "", 404},
		{"wrong token", "/api/v1/evidence/" + mine.ID, "not-a-token", 404},
		{"token of other evidence", "/api/v1/evidence/" + mine.ID, other.AccessToken, 404},
		{"unknown id", "/api/v1/evidence/zzzzzzzzzzzzzzzz", mine.AccessToken, 404},
		{"original, own token", "/api/v1/evidence/" + mine.ID + "/original", mine.AccessToken, 200},
		{"original, no token", "/api/v1/evidence/" + mine.ID + "/original", "", 404},
		{"original, token of other evidence", "/api/v1/evidence/" + mine.ID + "/original", other.AccessToken, 404},
		{"upload id that is not one", "/api/v1/uploads/0123456789abcdef0123456789abcdef/evidence", "", 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(t, env.URL+tc.path, tc.token)
			if resp.StatusCode != tc.status {
				t.Fatalf("%d %s, want %d", resp.StatusCode, body, tc.status)
			}
		})
	}

	// The evidence JSON has every field of the API, and no token.
	_, body := get(t, env.URL+"/api/v1/evidence/"+mine.ID, mine.AccessToken)
	var fields map[string]any
	if err := json.Unmarshal(body, &fields); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"id", "sha256", "size", "filename", "source", "device", "officer", "received_at", "captured_at",
		"location", "duration_s", "media_type", "container", "video", "audio", "media_error"} {
		if _, ok := fields[f]; !ok {
			t.Errorf("evidence JSON lacks %q", f)
		}
	}
	for _, secret := range []string{"access_token", "UploadDigest", "TokenDigest"} {
		if _, ok := fields[secret]; ok {
			t.Errorf("evidence JSON exposes %q", secret)
		}
	}
	if fields["device"] != "Viofo A129" || fields["source"] != "dashcam" || fields["sha256"] != mine.SHA256.String() {
		t.Errorf("evidence JSON = %s", body)
	}
}

func TestOriginalWithRange(t *testing.T) {
	env := servertest.Start(t)
	data, err := os.ReadFile(mediatest.Clip(t, "a.mp4", "2"))
	if err != nil {
		t.Fatal(err)
	}
	r := upload(t, env, data, "clip one.mp4")
	url := env.URL + "/api/v1/evidence/" + r.ID + "/original"

	resp, body := get(t, url, r.AccessToken)
	if !bytes.Equal(body, data) {
		t.Fatal("original differs from what was uploaded")
	}
	if resp.Header.Get("Content-Type") != "video/mp4" || !strings.Contains(resp.Header.Get("Content-Disposition"), "clip one.mp4") ||
		!strings.Contains(resp.Header.Get("ETag"), r.SHA256.String()) {
		t.Errorf("headers: %v", resp.Header)
	}
	resp, body = get(t, url, r.AccessToken, "Range", "bytes=100-199")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[100:200]) {
		t.Fatalf("range request: %d, %d bytes", resp.StatusCode, len(body))
	}
	resp, body = get(t, url, r.AccessToken, "Range", "bytes=-10")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[len(data)-10:]) {
		t.Fatalf("suffix range request: %d, %d bytes", resp.StatusCode, len(body))
	}
}

func TestPagesAndHeaders(t *testing.T) {
	env := servertest.Start(t)
	resp, body := get(t, env.URL+"/", "")
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Upload footage") {
		t.Fatalf("index: %d", resp.StatusCode)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("Content-Security-Policy %q allows inline script", csp)
	}
	if strings.Contains(string(body), "<script>") || strings.Contains(string(body), " on") && strings.Contains(string(body), "onclick=") {
		t.Error("the page has inline script")
	}
	for _, asset := range []string{"/static/app.js", "/static/style.css", "/static/vendor/tus.min.js"} {
		resp, body := get(t, env.URL+asset, "")
		if resp.StatusCode != 200 || len(body) < 100 {
			t.Errorf("%s: %d, %d bytes (run `make assets` to bundle tus-js-client)", asset, resp.StatusCode, len(body))
		}
	}
	if resp, _ := get(t, env.URL+"/static/", ""); resp.StatusCode != 404 {
		t.Errorf("directory listing of /static/: %d", resp.StatusCode)
	}
}

// The custody log is served as static tiles for anyone; its private state
// and the signing key are not.
func TestLogIsServedButNotItsSecrets(t *testing.T) {
	env := servertest.Start(t)
	deadline := time.Now().Add(time.Minute) // for a busy machine
	var resp *http.Response
	var body []byte
	for time.Now().Before(deadline) {
		if resp, body = get(t, env.URL+"/log/checkpoint", ""); resp.StatusCode == 200 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(string(body), env.Server.Log().Origin()+"\n") {
		t.Fatalf("GET /log/checkpoint: %d %q", resp.StatusCode, body)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("checkpoint Cache-Control %q", cc)
	}
	for _, p := range []string{"/log/.state/treeState", "/log/../log.key", "/log/%2e%2e/log.key", "/log/", "/log/tile/../.state/treeState"} {
		if resp, body := get(t, env.URL+p, ""); resp.StatusCode != 404 {
			t.Errorf("GET %s: %d %q, want 404", p, resp.StatusCode, body)
		}
	}
}

// Every read of an original is in the custody log before a byte is sent,
// and the person who filmed it sees each one.
func TestReadsAreLoggedAndListed(t *testing.T) {
	env := servertest.Start(t)
	data, err := os.ReadFile(mediatest.Clip(t, "a.mp4", "1"))
	if err != nil {
		t.Fatal(err)
	}
	r := upload(t, env, data, "a.mp4")
	url := env.URL + "/api/v1/evidence/" + r.ID
	get(t, url+"/original", r.AccessToken)
	get(t, url+"/original", r.AccessToken, "Range", "bytes=0-99")
	get(t, url+"/original", "wrong-token") // refused, and logged as denied

	resp, body := get(t, url+"/custody", r.AccessToken)
	var c struct {
		Events []evidence.LoggedEvent `json:"events"`
	}
	if err := json.Unmarshal(body, &c); err != nil || resp.StatusCode != 200 {
		t.Fatalf("custody: %d %s", resp.StatusCode, body)
	}
	want := []evidence.EventType{evidence.Received, evidence.Downloaded, evidence.Viewed, evidence.Denied}
	if len(c.Events) != len(want) {
		t.Fatalf("custody lists %+v, want %v", c.Events, want)
	}
	for i, e := range c.Events {
		entry, err := env.Server.Log().Entry(t.Context(), e.Index)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := evidence.ParseEvent(entry)
		if e.Type != want[i] || err != nil || ev.Type != want[i] || ev.Evidence.ID != r.ID || ev.Actor != e.Actor {
			t.Errorf("event %d: listed %+v, logged %s (%v)", i, e, entry, err)
		}
		if strings.Contains(string(entry), r.AccessToken) {
			t.Errorf("the log carries the raw token: %s", entry)
		}
	}
	if c.Events[1].Actor != "token:"+evidence.Digest(r.AccessToken)[:16] {
		t.Errorf("reader pseudonym %q", c.Events[1].Actor)
	}
	if resp, _ := get(t, url+"/custody", "wrong-token"); resp.StatusCode != 404 {
		t.Errorf("custody with a wrong token: %d", resp.StatusCode)
	}
}

// Refreshing a receipt needs no token; what is not a receipt, or not this
// log's, or too large, is refused with a reason and changes nothing.
func TestRefreshReceiptRefusals(t *testing.T) {
	env := servertest.Start(t)
	r := upload(t, env, mediatest.NoiseWAV(50_000, 1), "a.wav")
	rc, err := env.Client().Receipt(t.Context(), r.ID, r.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := json.Marshal(rc)
	foreign := rc
	foreign.Entry = strings.Replace(rc.Entry, `"received"`, `"viewed"`, 1)
	forged, _ := json.Marshal(foreign)
	post := func(body []byte) (int, string) {
		resp, err := http.Post(env.URL+"/api/v1/receipts/refresh", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		name string
		body []byte
		code int
		says string
	}{
		{"a receipt of this log", good, 200, `"inclusion_proof"`},
		{"not JSON", []byte("{"), 400, "receipt malformed"},
		{"an edited entry", forged, 422, "not a valid receipt of this log"},
		{"over 1 MiB", bytes.Repeat([]byte(" "), 1<<20+1), 413, "under 1 MiB"},
	} {
		if code, body := post(tc.body); code != tc.code || !strings.Contains(body, tc.says) {
			t.Errorf("%s: %d %s; want %d saying %q", tc.name, code, body, tc.code, tc.says)
		}
	}
}

// A player's many range requests are one viewing: one "viewed" event per
// caller, item, reason and route in ten minutes, naming the span its
// first request asked for; another reason, another route or a later
// viewing is logged again.
func TestAViewingIsLoggedOnce(t *testing.T) {
	env := servertest.Start(t)
	sup := env.StaffToken("sgt.reyes", account.Supervisor, "central", "301")
	data, err := os.ReadFile(mediatest.Clip(t, "a.mp4", "2"))
	if err != nil {
		t.Fatal(err)
	}
	r := upload(t, env, data, "a.mp4")
	if got, _ := call(t, env, "POST", "/api/v1/evidence/"+r.ID+"/shares", r.AccessToken, `{"user":"sgt.reyes"}`); got != 204 {
		t.Fatalf("share: %d", got)
	}
	url := env.URL + "/api/v1/evidence/" + r.ID
	viewed := func() []evidence.LoggedEvent {
		events, err := env.Server.Custody().Events(t.Context(), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		var out []evidence.LoggedEvent
		for _, e := range events {
			if e.Type == evidence.Viewed {
				out = append(out, e)
			}
		}
		return out
	}
	for i := range 20 {
		get(t, url+"/original?reason=complaint", sup, "Range", fmt.Sprintf("bytes=%d-%d", i*1000, i*1000+999))
	}
	v := viewed()
	if len(v) != 1 || v[0].Details["span"] != "0-999" || v[0].Words["reason"] != "complaint" {
		t.Fatalf("20 range requests of one viewing logged %+v", v)
	}
	get(t, url+"/original?reason=court", sup, "Range", "bytes=500-")
	get(t, url+"/review?reason=complaint", sup, "Range", "bytes=0-")
	get(t, url+"/original", r.AccessToken, "Range", "bytes=0-<script>") // the header's text never reaches the log
	if v := viewed(); len(v) != 4 || v[1].Details["span"] != "500-" || v[3].Details["span"] != "" {
		t.Errorf("another reason, another route and another caller: %+v", v)
	}
	env.Clock.Advance(11 * time.Minute)
	get(t, url+"/original?reason=complaint", sup, "Range", "bytes=0-")
	if v := viewed(); len(v) != 5 {
		t.Errorf("a viewing 11 minutes later: %d events, want 5", len(v))
	}
}
