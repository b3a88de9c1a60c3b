package integration

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sightline/sightline/internal/account"
	"github.com/sightline/sightline/internal/client"
	"github.com/sightline/sightline/internal/media/mediatest"
)

// A supervisor sets up their account in headless Chromium (password and
// an authenticator code), signs in with password and TOTP, opens the
// footage a civilian shared with them giving a reason, and plays it; the
// civilian's custody view then shows that access, with the role, the
// staff id and the reason. The audit passes afterwards.
func TestStaffViewsCivilianFootageWithAReason(t *testing.T) {
	data := t.TempDir()
	srv := startServer(t, data, 0)
	link := createSupervisor(t, data, srv.URL, "sgt.reyes", "central")

	// The civilian's clip, shared with the supervisor.
	clip := mediatest.Clip(t, "encounter.webm", "3", "-c:v", "libvpx", "-b:v", "300k", "-c:a", "libopus")
	c := &client.Client{Server: srv.URL}
	res, err := c.UploadFile(t.Context(), clip, map[string]string{"source": "phone"}, &client.Journal{Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := shareWith(srv.URL, res.ID, res.AccessToken, "sgt.reyes"); err != nil {
		t.Fatal(err)
	}

	ctx := browser(t)
	signInNew(t, ctx, link, "sgt.reyes")
	const reason = "complaint 2026-114: use of force review"
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS("a.open")),
		chromedp.Click(chromedp.CSS("a.open")),
		chromedp.WaitVisible(chromedp.ID("reason")),
		chromedp.SendKeys(chromedp.ID("reason"), reason),
		chromedp.Click(chromedp.ID("open")),
		chromedp.WaitVisible(chromedp.ID("player")),
	); err != nil {
		page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("%v\npage: %s", err, page)
	}
	// The player has the footage: metadata and a first frame decoded.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("player").readyState >= 2`, chromedp.WithPollingTimeout(2*time.Minute))); err != nil {
		t.Fatalf("the player did not load the footage: %v", err)
	}
	dur, _ := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.getElementById("player").duration`))
	if dur < 2.5 || dur > 3.5 {
		t.Errorf("the player says the clip lasts %.2f s; it lasts 3", dur)
	}

	// The civilian sees the access in their custody view.
	var custody struct {
		Events []struct {
			Type    string            `json:"type"`
			Actor   string            `json:"actor"`
			Details map[string]string `json:"details"`
			Words   map[string]string `json:"words"`
		} `json:"events"`
	}
	if err := getJSON(srv.URL+"/api/v1/evidence/"+res.ID+"/custody", res.AccessToken, &custody); err != nil {
		t.Fatal(err)
	}
	var read, page bool
	for _, e := range custody.Events {
		d := e.Details
		if d["role"] != "supervisor" || d["outcome"] != "allowed" || e.Words["reason"] != reason || !strings.HasPrefix(e.Actor, "user:u_") || d["via"] != "session" {
			continue
		}
		read = read || (d["action"] == "read-original" && (e.Type == "viewed" || e.Type == "downloaded"))
		page = page || d["action"] == "read-item"
	}
	if !read || !page {
		t.Errorf("the custody view lacks the supervisor's access (read %v, page %v): %+v", read, page, custody.Events)
	}
	srv.kill()
	if out, _, err := sightline(t, "audit", "--data", data); err != nil || !strings.HasSuffix(out, "; 0 problems\n") {
		t.Errorf("audit: %v %s", err, out)
	}
	os.Remove(clip)
}

// signInNew sets up a new staff account from its setup link in the
// browser (a password and an authenticator code computed from the secret
// the page shows), then signs in with them.
func signInNew(t *testing.T, ctx context.Context, link, name string) {
	t.Helper()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.ID("totp-secret")),
	); err != nil {
		t.Fatal(err)
	}
	secret, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("totp-secret")))
	if err != nil {
		t.Fatal(err)
	}
	code := func() string {
		c, err := account.TOTPCode(strings.TrimSpace(secret), account.TOTPStep(time.Now()))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	const password = "correct horse battery staple"
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.SendKeys(chromedp.ID("code"), code()),
		chromedp.Click(chromedp.ID("setup")),
		chromedp.WaitVisible(chromedp.ID("signin")),
		chromedp.SendKeys(chromedp.ID("name"), name),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.SendKeys(chromedp.ID("code"), code()),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("signout-button")),
	); err != nil {
		page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("%v\npage: %s", err, page)
	}
}

// createSupervisor makes a supervisor account with `sightline admin` and
// returns its setup link.
func createSupervisor(t *testing.T, data, url, name, unit string) string {
	t.Helper()
	out, errOut, err := sightline(t, "admin", "create-user", "--data", data, "--role", "supervisor", "--name", name, "--unit", unit, "--url", url)
	if err != nil {
		t.Fatalf("create-user: %v %s", err, errOut)
	}
	return regexp.MustCompile(`http\S+/setup/\S+`).FindString(out)
}
