package server_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/account"
	"github.com/sightline/sightline/internal/server"
	"github.com/sightline/sightline/internal/server/servertest"
)

// A complainant who gave an email address gets each notice by email,
// once, through a real SMTP server (Mailpit): the acknowledgement when it
// comes, and, with a fake clock 181 days on, that the case is still open.
// The email names the case and never carries its key.
func TestNoticesAreEmailed(t *testing.T) {
	smtp, mails := servertest.Mailpit(t)
	env := servertest.Start(t, func(c *server.Config) { c.SMTP, c.SMTPFrom = smtp, "notices@sightline.example" })
	inv := env.StaffToken("inv.ortiz", account.Investigator, "ia", "")
	got, body := api(t, env, "POST", "/api/v1/complaints", "", `{"narrative":"x","occurred_at":"2026-01-01T00:00:00Z","contact":{"email":"dana@example.org"}}`)
	var filed struct {
		ID, Token string
		Number    string `json:"case_number"`
	}
	if got != 201 || json.Unmarshal([]byte(body), &filed) != nil {
		t.Fatalf("complaint: %d %s", got, body)
	}
	send := func() int {
		t.Helper()
		n, err := env.Server.SendNotices(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := send(); n != 0 {
		t.Errorf("%d notices sent for a case only received", n)
	}
	api(t, env, "POST", "/api/v1/cases/"+filed.ID+"/assign", inv, `{"user":"inv.ortiz"}`)
	if got, body := api(t, env, "POST", "/api/v1/cases/"+filed.ID+"/status", inv, `{"status":"acknowledged"}`); got != 204 {
		t.Fatalf("acknowledge: %d %s", got, body)
	}
	if n := send(); n != 1 {
		t.Fatalf("%d notices sent after the acknowledgement, want 1", n)
	}
	if n := send(); n != 0 {
		t.Errorf("a notice sent twice: %d more", n)
	}
	env.Clock.Advance(181 * 24 * time.Hour)
	if n := send(); n != 1 {
		t.Fatalf("%d notices sent 181 days on, want 1 (still open)", n)
	}
	m := mails()
	if len(m) != 2 {
		t.Fatalf("mailpit holds %d messages, want 2: %+v", len(m), m)
	}
	for i, want := range []string{"acknowledged", "still-open"} {
		if m[i].To != "dana@example.org" || !strings.Contains(m[i].Subject, filed.Number) || !strings.Contains(m[i].Subject, want) {
			t.Errorf("message %d: %+v, want %s about %s", i, m[i], want, filed.Number)
		}
		if strings.Contains(m[i].Text, filed.Token) || strings.Contains(m[i].Subject, filed.Token) {
			t.Errorf("message %d carries the case's key", i)
		}
	}
	if !strings.Contains(m[1].Text, "still open") {
		t.Errorf("the long-open notice says %q", m[1].Text)
	}
	// The page shows the same notices.
	_, body = api(t, env, "GET", "/api/v1/complaints/"+filed.ID, filed.Token, "")
	var view struct{ Notices []struct{ Kind string } }
	json.Unmarshal([]byte(body), &view)
	if len(view.Notices) != 2 || view.Notices[0].Kind != "acknowledged" || view.Notices[1].Kind != "still-open" {
		t.Errorf("the complainant's notices: %s", body)
	}
}
