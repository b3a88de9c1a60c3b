package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/account"
	"github.com/sightline/sightline/internal/media/mediatest"
	"github.com/sightline/sightline/internal/server"
	"github.com/sightline/sightline/internal/server/servertest"
	"github.com/sightline/sightline/internal/web"
)

// signedIn sets up a staff account through its setup link (with a TOTP
// code where the role needs one) and signs it in, as a person would.
func signedIn(t *testing.T, env *servertest.Env, u account.User) *browser {
	t.Helper()
	acc := env.Server.Accounts()
	_, link, err := acc.CreateUser(t.Context(), "test", u)
	if err != nil {
		t.Fatal(err)
	}
	const password = "a long enough password"
	_, secret, err := acc.BeginSetup(t.Context(), link)
	if err != nil {
		t.Fatal(err)
	}
	code := func() string {
		if secret == "" {
			return ""
		}
		c, _ := account.TOTPCode(secret, account.TOTPStep(env.Clock.Now()))
		return c
	}
	if _, err := acc.CompleteSetup(t.Context(), link, password, secret, code()); err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(30 * time.Second) // a code is good once
	b := newBrowser(t, env)
	if got := b.signIn(u.Name, password, code()); got != http.StatusSeeOther {
		t.Fatalf("signing in %s: %d", u.Name, got)
	}
	return b
}

// Every staff page asked for by someone signed out sends them to sign
// in, and signing in brings them back to it: never a JSON answer.
func TestStaffPagesSendTheSignedOutToSignIn(t *testing.T) {
	env := servertest.Start(t)
	placeholder := regexp.MustCompile(`\{[a-z]+\}`)
	n := 0
	for _, rt := range env.Server.Handler().(*web.Handler).Routes() {
		method, path, _ := strings.Cut(rt.Pattern, " ")
		if method != "GET" || !strings.HasPrefix(path, "/staff") && !strings.HasPrefix(path, "/admin") {
			continue
		}
		n++
		path = placeholder.ReplaceAllString(path, "x1")
		resp, body := newBrowser(t, env).do("GET", path+"?reason=a+b", nil)
		want := "/signin?next=" + url.QueryEscape(path+"?reason=a+b")
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Errorf("GET %s signed out: %d to %q, want 303 to %q (%.80s)", path, resp.StatusCode, resp.Header.Get("Location"), want, body)
		}
	}
	if n < 5 {
		t.Fatalf("only %d staff pages found", n)
	}
	// Back after signing in.
	b := signedIn(t, env, account.User{Name: "ofc.kim", Role: account.Officer, Badge: "12"})
	_, page := b.do("GET", "/signin?next="+url.QueryEscape("/staff?x=1"), nil)
	m := csrfField.FindStringSubmatch(page)
	if m == nil || !strings.Contains(page, `name="next" value="/staff?x=1"`) {
		t.Fatalf("the sign-in form does not carry where to go back to:\n%s", page)
	}
}

// The pages say lengths, counts and durations as a person would, and the
// authenticator link and its QR code are on the setup page.
func TestPagesSayThingsPlainly(t *testing.T) {
	env := servertest.Start(t, func(c *server.Config) { c.FailureLimit = 1000 })
	_, page := newBrowser(t, env).do("GET", "/signin", nil)
	if !strings.Contains(page, "lock the account for 15 minutes") {
		t.Errorf("sign-in page: want the lock in minutes:\n%s", page)
	}

	acc := env.Server.Accounts()
	_, link, err := acc.CreateUser(t.Context(), "test", account.User{Name: "inv.ortiz", Role: account.Investigator, Unit: "ia"})
	if err != nil {
		t.Fatal(err)
	}
	_, setup := newBrowser(t, env).do("GET", "/setup/"+link, nil)
	if !strings.Contains(setup, `href="otpauth://totp/`) || !regexp.MustCompile(`id="totp-qr" src="data:image/png;base64,[A-Za-z0-9+/]{100,}`).MatchString(setup) {
		t.Errorf("setup page: want the otpauth link and its QR code:\n%s", setup)
	}
	if strings.Contains(setup, "ZgotmplZ") {
		t.Errorf("setup page: the template refused the link:\n%s", setup)
	}
	if _, page := newBrowser(t, env).do("GET", "/e/anything", nil); !strings.Contains(page, "This log is not witnessed") {
		t.Errorf("evidence page: want it to say the log is not witnessed:\n%s", page)
	}

	sgt := signedIn(t, env, account.User{Name: "sgt.reyes", Role: account.Supervisor, Unit: "central", Badge: "301"})
	civ, _ := uploadAs(t, env, "", mediatest.NoiseWAV(3*8000, 5), map[string]string{"source": "phone"})
	call(t, env, "POST", "/api/v1/evidence/"+civ.ID+"/shares", civ.AccessToken, `{"user":"sgt.reyes"}`)
	resp, review := sgt.do("GET", "/staff/review/"+civ.ID, nil)
	if resp.StatusCode != 200 || !regexp.MustCompile(`<dd id="length">\d+\.\d s</dd>`).MatchString(review) || strings.Contains(review, "%!") {
		t.Errorf("review page: %d, want the length in seconds:\n%s", resp.StatusCode, review)
	}
}
