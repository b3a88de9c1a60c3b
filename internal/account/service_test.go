package account_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/account"
	"github.com/sightline/sightline/internal/db/dbtest"
	"github.com/sightline/sightline/internal/evidence"
)

type env struct {
	svc    *account.Service
	now    time.Time
	mu     sync.Mutex
	events []evidence.Event
}

// newEnv is a Service over a real SQLite file, a clock the test moves and
// a recorder that keeps the events (the custody log is tested elsewhere).
func newEnv(t *testing.T) *env {
	d := dbtest.Open(t)
	e := &env{now: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)}
	e.svc = account.NewService(account.Config{
		Store: d.Accounts(),
		Now:   func() time.Time { e.mu.Lock(); defer e.mu.Unlock(); return e.now },
		Record: func(_ context.Context, ev evidence.Event) (uint64, error) {
			if _, err := evidence.ParseEvent(ev.Canonical()); err != nil {
				t.Errorf("an account event that is not a valid custody event: %v", err)
			}
			e.mu.Lock()
			defer e.mu.Unlock()
			e.events = append(e.events, ev)
			return uint64(len(e.events) - 1), nil
		},
	})
	return e
}

func (e *env) advance(d time.Duration) { e.mu.Lock(); e.now = e.now.Add(d); e.mu.Unlock() }

func (e *env) code(t *testing.T, secret string, offset int64) string {
	c, err := account.TOTPCode(secret, account.TOTPStep(e.now)+offset)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) actions() []string {
	var out []string
	for _, ev := range e.events {
		out = append(out, ev.Details["action"])
	}
	return out
}

const password = "correct horse battery"

// setUp creates a user of role and completes its setup, returning the TOTP
// secret (empty for officers).
func (e *env) setUp(t *testing.T, name string, role account.Role) (account.User, string) {
	t.Helper()
	u, link, err := e.svc.CreateUser(t.Context(), "admin-cli", account.User{Name: name, Role: role, Unit: "central", Badge: "B" + name})
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := e.svc.BeginSetup(t.Context(), link)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CompleteSetup(t.Context(), link, password, secret, e.code(t, secret, 0)); err != nil {
		t.Fatal(err)
	}
	return u, secret
}

func TestSetupAndLogin(t *testing.T) {
	e := newEnv(t)
	u, link, err := e.svc.CreateUser(t.Context(), "admin-cli", account.User{Name: "sgt.reyes", Role: account.Supervisor, Unit: "central"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.Login(t.Context(), "sgt.reyes", password, ""); !errors.Is(err, account.ErrBadLogin) {
		t.Fatalf("login before setup: %v", err)
	}
	// A secret of the client's choosing is not enrolled, even with its
	// right code; the one the setup issued (the same on each look) is.
	chosen := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	if _, err := e.svc.CompleteSetup(t.Context(), link, password, chosen, e.code(t, chosen, 0)); !errors.Is(err, account.ErrInvalid) {
		t.Errorf("a secret the client chose: %v", err)
	}
	_, secret, err := e.svc.BeginSetup(t.Context(), link)
	if err != nil || secret == "" {
		t.Fatalf("begin setup: %q %v", secret, err)
	}
	if _, again, _ := e.svc.BeginSetup(t.Context(), link); again != secret {
		t.Errorf("a second look at the setup page issued another secret")
	}
	if _, err := e.svc.CompleteSetup(t.Context(), link, "short", secret, e.code(t, secret, 0)); !errors.Is(err, account.ErrInvalid) {
		t.Errorf("a short password: %v", err)
	}
	if _, err := e.svc.CompleteSetup(t.Context(), link, password, secret, "000000"); !errors.Is(err, account.ErrInvalid) {
		t.Errorf("enrolment with a wrong code: %v", err)
	}
	if _, err := e.svc.CompleteSetup(t.Context(), link, password, secret, e.code(t, secret, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CompleteSetup(t.Context(), link, password, secret, e.code(t, secret, 0)); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("a setup link used twice: %v", err)
	}

	e.advance(time.Minute)
	if _, _, err := e.svc.Login(t.Context(), "sgt.reyes", password, ""); !errors.Is(err, account.ErrBadLogin) {
		t.Errorf("a supervisor without a code: %v", err)
	}
	code := e.code(t, secret, 0)
	se, sess, err := e.svc.Login(t.Context(), "sgt.reyes", password, code)
	if err != nil || se.UserID != u.ID {
		t.Fatalf("login: %v", err)
	}
	if _, _, err := e.svc.Login(t.Context(), "sgt.reyes", password, code); !errors.Is(err, account.ErrBadLogin) {
		t.Errorf("the same TOTP code used twice: %v", err)
	}
	got, _, err := e.svc.SessionUser(t.Context(), sess)
	if err != nil || got.ID != u.ID || got.Role != account.Supervisor {
		t.Fatalf("session: %+v %v", got, err)
	}
	if !account.CheckCSRF(se, se.CSRF) || account.CheckCSRF(se, "") || account.CheckCSRF(se, se.CSRF+"x") {
		t.Error("CSRF check")
	}
	if err := e.svc.Logout(t.Context(), sess); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.SessionUser(t.Context(), sess); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("session after logout: %v", err)
	}
}

// Five failures lock the account for 15 minutes, even against the right
// password, and the lock is logged; a name that does not exist fails the
// same way.
func TestLockout(t *testing.T) {
	e := newEnv(t)
	e.setUp(t, "ofc.lane", account.Officer)
	for i := range 5 {
		if _, _, err := e.svc.Login(t.Context(), "ofc.lane", "wrong password!", ""); !errors.Is(err, account.ErrBadLogin) {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	if _, _, err := e.svc.Login(t.Context(), "ofc.lane", password, ""); !errors.Is(err, account.ErrBadLogin) {
		t.Fatalf("the right password on a locked account: %v", err)
	}
	if a := e.actions(); a[len(a)-1] != "locked" {
		t.Errorf("events %v; want the lock logged", a)
	}
	e.advance(16 * time.Minute)
	if _, _, err := e.svc.Login(t.Context(), "ofc.lane", password, ""); err != nil {
		t.Fatalf("after the lock: %v", err)
	}
	if _, _, err := e.svc.Login(t.Context(), "nobody", password, ""); !errors.Is(err, account.ErrBadLogin) {
		t.Errorf("an unknown name: %v", err)
	}
}

// A session ends after 30 idle minutes, and after 12 hours however busy.
func TestSessionExpiry(t *testing.T) {
	e := newEnv(t)
	e.setUp(t, "ofc.kim", account.Officer)
	_, sess, err := e.svc.Login(t.Context(), "ofc.kim", password, "")
	if err != nil {
		t.Fatal(err)
	}
	e.advance(29 * time.Minute)
	if _, _, err := e.svc.SessionUser(t.Context(), sess); err != nil {
		t.Fatalf("at 29 idle minutes: %v", err)
	}
	e.advance(31 * time.Minute)
	if _, _, err := e.svc.SessionUser(t.Context(), sess); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("at 31 idle minutes: %v", err)
	}

	se, sess, _ := e.svc.Login(t.Context(), "ofc.kim", password, "")
	for range 40 {
		e.advance(20 * time.Minute)
		if _, _, err := e.svc.SessionUser(t.Context(), sess); err != nil {
			if age := e.now.Sub(se.CreatedAt); age <= 12*time.Hour || age > 12*time.Hour+20*time.Minute {
				t.Fatalf("a busy session ended at age %s: %v", age, err)
			}
			return
		}
	}
	t.Fatal("a session lived past 12 hours")
}

// Tokens are shown once, work until revoked or expired, and their issue
// and revocation are logged.
func TestTokens(t *testing.T) {
	e := newEnv(t)
	u, _ := e.setUp(t, "inv.ortiz", account.Investigator)
	dev, devSecret, err := e.svc.IssueToken(t.Context(), "admin-cli", account.Token{Kind: account.DeviceToken, Unit: "central", Device: "dock-3"})
	if err != nil || !account.LooksLikeToken(devSecret) {
		t.Fatal(err)
	}
	if _, _, err := e.svc.IssueToken(t.Context(), "admin-cli", account.Token{Kind: account.DeviceToken}); !errors.Is(err, account.ErrInvalid) {
		t.Errorf("a device token without a unit: %v", err)
	}
	_, apiSecret, err := e.svc.IssueToken(t.Context(), "admin-cli", account.Token{Kind: account.APIToken, UserID: u.ID, ExpiresAt: e.now.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if tok, owner, err := e.svc.TokenOwner(t.Context(), apiSecret); err != nil || owner.ID != u.ID || tok.Kind != account.APIToken {
		t.Fatalf("API token: %v", err)
	}
	if tok, _, err := e.svc.TokenOwner(t.Context(), devSecret); err != nil || tok.Unit != "central" || tok.Device != "dock-3" {
		t.Fatalf("device token: %+v %v", tok, err)
	}
	e.advance(25 * time.Hour)
	if _, _, err := e.svc.TokenOwner(t.Context(), apiSecret); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("an expired API token: %v", err)
	}
	if err := e.svc.RevokeToken(t.Context(), "admin-cli", dev.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.TokenOwner(t.Context(), devSecret); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("a revoked device token: %v", err)
	}
	want := []string{"user-created", "setup-completed", "token-issued", "token-issued", "token-revoked"}
	if got := e.actions(); len(got) != len(want) || got[4] != want[4] || got[2] != want[2] {
		t.Errorf("events %v, want %v", got, want)
	}
}

func TestTOTPMatchesRFC6238(t *testing.T) {
	// RFC 6238 appendix B, SHA-1, secret "12345678901234567890", 8 digits;
	// the last six digits are the 6-digit code.
	secret := "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	for _, tc := range []struct {
		unix int64
		want string
	}{{59, "287082"}, {1111111109, "081804"}, {1234567890, "005924"}, {2000000000, "279037"}} {
		got, err := account.TOTPCode(secret, tc.unix/30)
		if err != nil || got != tc.want {
			t.Errorf("at %d: %s %v, want %s", tc.unix, got, err, tc.want)
		}
	}
}

func TestPasswordHash(t *testing.T) {
	h, err := account.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := account.CheckPassword(h, password); !ok || err != nil {
		t.Errorf("the right password: %v %v", ok, err)
	}
	if ok, _ := account.CheckPassword(h, password+"!"); ok {
		t.Error("a wrong password matched")
	}
	h2, _ := account.HashPassword(password)
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
}

// One TOTP code signs in once, however many sign-ins race with it.
func TestOneCodeSignsInOnce(t *testing.T) {
	e := newEnv(t)
	_, secret := e.setUp(t, "sgt.reyes", account.Supervisor)
	e.advance(time.Minute)
	code := e.code(t, secret, 0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, bad := 0, 0
	for range 6 {
		wg.Go(func() {
			_, _, err := e.svc.Login(t.Context(), "sgt.reyes", password, code)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, account.ErrBadLogin):
				bad++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok != 1 || bad != 5 {
		t.Errorf("six sign-ins with one code: %d succeeded, %d refused; want 1 and 5", ok, bad)
	}
}
