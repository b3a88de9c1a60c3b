package account

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"iter"
	"strings"
	"sync"
	"time"

	"github.com/sightline/sightline/internal/evidence"
)

// Config sets the policies of a Service. Zero values take the defaults
// given, chosen after the FBI CJIS Security Policy (5.5.3, 5.5.5, 5.6.2).
type Config struct {
	Store Store
	// Record logs account events in the custody log.
	Record func(context.Context, evidence.Event) (uint64, error)
	Now    func() time.Time
	// Issuer names the service in authenticator apps. Default "Sightline".
	Issuer string
	// MaxFailures failed sign-ins lock an account for LockFor. Defaults 5
	// and 15 minutes.
	MaxFailures int
	LockFor     time.Duration
	// IdleTimeout ends a session nobody used for that long; MaxSession
	// ends any session that old. Defaults 30 minutes and 12 hours.
	IdleTimeout time.Duration
	MaxSession  time.Duration
	// SetupValidFor is how long a one-time setup link works. Default 72 h.
	SetupValidFor time.Duration
}

// Service manages accounts, sign-in, sessions and tokens, and logs every
// change to them.
type Service struct {
	cfg Config
}

// NewService returns a Service with cfg's policies.
func NewService(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "Sightline"
	}
	if cfg.MaxFailures == 0 {
		cfg.MaxFailures = 5
	}
	if cfg.LockFor == 0 {
		cfg.LockFor = 15 * time.Minute
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 30 * time.Minute
	}
	if cfg.MaxSession == 0 {
		cfg.MaxSession = 12 * time.Hour
	}
	if cfg.SetupValidFor == 0 {
		cfg.SetupValidFor = 72 * time.Hour
	}
	return &Service{cfg: cfg}
}

// Policy returns the service's settings, for pages that explain them.
func (s *Service) Policy() Config { return s.cfg }

// Actor names a staff member in custody events.
func Actor(userID string) string { return "user:" + userID }

// record logs an account event by actor. The roster (names, roles,
// units, badges, devices) is its words: sealed in the database, never in
// the public log.
func (s *Service) record(ctx context.Context, actor, action string, details, words map[string]string) error {
	if details == nil {
		details = map[string]string{}
	}
	details["action"] = action
	_, err := s.cfg.Record(ctx, evidence.Event{
		Type: evidence.AccountEvent, Actor: actor, At: evidence.EventTime(s.cfg.Now()), Details: details, Words: words,
	})
	return err
}

// CreateUser creates an account for u (name, role, unit, badge) and
// returns it with the secret of its one-time setup link. actor is who
// asked, as it appears in the log ("user:…", or "admin-cli" for the
// command line on the server).
func (s *Service) CreateUser(ctx context.Context, actor string, u User) (User, string, error) {
	u.Name = strings.TrimSpace(u.Name)
	switch {
	case !ValidName(u.Name):
		return u, "", fmt.Errorf("%w: name %q: use 2-64 lower-case letters, digits, '.', '-' or '_'", ErrInvalid, u.Name)
	case !u.Role.Valid():
		return u, "", fmt.Errorf("%w: role %q: one of officer, supervisor, investigator, admin", ErrInvalid, u.Role)
	case u.Role == Officer && u.Badge == "":
		return u, "", fmt.Errorf("%w: an officer needs a badge number", ErrInvalid)
	}
	u.ID, u.CreatedAt = newID("u"), s.cfg.Now().UTC()
	secret := newSecret("setup_", 24)
	if err := s.cfg.Store.CreateUser(ctx, u, evidence.Digest(secret), u.CreatedAt.Add(s.cfg.SetupValidFor)); err != nil {
		return u, "", err
	}
	if err := s.record(ctx, actor, "user-created", map[string]string{"user": u.ID},
		map[string]string{"name": u.Name, "role": string(u.Role), "unit": u.Unit, "badge": u.Badge}); err != nil {
		return u, "", err
	}
	return u, secret, nil
}

// ResetSetup gives an existing account a new one-time setup link (a lost
// phone, a forgotten password); its sessions end.
func (s *Service) ResetSetup(ctx context.Context, actor, userID string) (string, error) {
	secret := newSecret("setup_", 24)
	if err := s.cfg.Store.NewSetup(ctx, userID, evidence.Digest(secret), s.cfg.Now().Add(s.cfg.SetupValidFor)); err != nil {
		return "", err
	}
	if err := s.cfg.Store.DeleteSessions(ctx, userID); err != nil {
		return "", err
	}
	return secret, s.record(ctx, actor, "setup-reset", map[string]string{"user": userID}, nil)
}

// SetupUser returns the user a setup link is for, if it is unspent and
// unexpired.
func (s *Service) SetupUser(ctx context.Context, secret string) (User, error) {
	if !strings.HasPrefix(secret, "setup_") {
		return User{}, ErrNotFound
	}
	return s.cfg.Store.UserBySetup(ctx, evidence.Digest(secret), s.cfg.Now())
}

// BeginSetup returns the user a setup link is for and, where the role
// needs a second factor, the TOTP secret their authenticator app is to
// take: made by the server and kept with the link (the same one each time
// the page is opened), so that no one can choose it for them.
func (s *Service) BeginSetup(ctx context.Context, secret string) (User, string, error) {
	u, err := s.SetupUser(ctx, secret)
	if err != nil || !u.Role.NeedsSecondFactor() {
		return u, "", err
	}
	if u.SetupTOTP == "" {
		u.SetupTOTP = NewTOTPSecret()
		if err := s.cfg.Store.SetSetupTOTP(ctx, u.ID, u.SetupTOTP); err != nil {
			return u, "", err
		}
	}
	return u, u.SetupTOTP, nil
}

// CompleteSetup sets the password of the user the setup link is for and,
// where the role needs a second factor, enrols totpSecret, which must be
// the one BeginSetup issued, once code shows the user's app has it. The
// link is spent.
func (s *Service) CompleteSetup(ctx context.Context, secret, password, totpSecret, code string) (User, error) {
	u, err := s.SetupUser(ctx, secret)
	if err != nil {
		return u, err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return u, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if u.Role.NeedsSecondFactor() {
		if u.SetupTOTP == "" || !hmac.Equal([]byte(totpSecret), []byte(u.SetupTOTP)) {
			return u, fmt.Errorf("%w: the authenticator secret is not the one this setup page issued; open the setup link again", ErrInvalid)
		}
		if _, ok := checkTOTP(totpSecret, code, s.cfg.Now(), 0); !ok {
			return u, fmt.Errorf("%w: the code does not match; check the authenticator app's time", ErrInvalid)
		}
	} else {
		totpSecret = ""
	}
	if err := s.cfg.Store.CompleteSetup(ctx, u.ID, hash, totpSecret); err != nil {
		return u, err
	}
	u.PasswordHash, u.TOTPSecret = hash, totpSecret
	return u, s.record(ctx, Actor(u.ID), "setup-completed", map[string]string{"user": u.ID, "second_factor": fmt.Sprint(totpSecret != "")}, nil)
}

// Login checks a name, password and (for roles that need it) TOTP code,
// and starts a session, returning its secret. Every failure is ErrBadLogin;
// MaxFailures in a row lock the account for LockFor, and the lock is
// logged.
func (s *Service) Login(ctx context.Context, name, password, code string) (Session, string, error) {
	now := s.cfg.Now()
	u, err := s.cfg.Store.UserByName(ctx, strings.TrimSpace(name))
	if err != nil {
		// Spend the time a real check would, so that timing does not tell
		// which names exist.
		CheckPassword(dummyHash(), password)
		return Session{}, "", ErrBadLogin
	}
	if u.Disabled || !u.SetUp() || now.Before(u.LockedUntil) {
		CheckPassword(dummyHash(), password)
		return Session{}, "", ErrBadLogin
	}
	ok, err := CheckPassword(u.PasswordHash, password)
	step := int64(0)
	if err == nil && ok && u.Role.NeedsSecondFactor() {
		step, ok = checkTOTP(u.TOTPSecret, code, now, u.TOTPLastStep)
	}
	if err != nil || !ok {
		return Session{}, "", s.failed(ctx, u, now)
	}
	if err := s.cfg.Store.LoginSucceeded(ctx, u.ID, step); errors.Is(err, ErrCodeUsed) {
		return Session{}, "", s.failed(ctx, u, now)
	} else if err != nil {
		return Session{}, "", err
	}
	secret := newSecret("sess_", 32)
	se := Session{Digest: evidence.Digest(secret), UserID: u.ID, CSRF: newSecret("", 24), CreatedAt: now, LastSeen: now}
	if err := s.cfg.Store.CreateSession(ctx, se); err != nil {
		return Session{}, "", err
	}
	return se, secret, nil
}

// dummyHash is checked against when there is no real hash to check, so
// that a sign-in costs the same whether or not the account exists.
var dummyHash = sync.OnceValue(func() string {
	h, _ := HashPassword("sightline-no-such-account")
	return h
})

// failed counts a failed sign-in, locking the account at MaxFailures (and
// again at every further multiple), and logs the lock.
func (s *Service) failed(ctx context.Context, u User, now time.Time) error {
	var until time.Time
	if (u.FailedLogins+1)%s.cfg.MaxFailures == 0 {
		until = now.Add(s.cfg.LockFor)
	}
	n, err := s.cfg.Store.LoginFailed(ctx, u.ID, until)
	if err != nil {
		return err
	}
	if !until.IsZero() {
		if err := s.record(ctx, "system", "locked", map[string]string{"user": u.ID, "failures": fmt.Sprint(n), "until": evidence.EventTime(until)}, nil); err != nil {
			return err
		}
	}
	return ErrBadLogin
}

// SessionUser returns the signed-in user of a session secret, if the
// session has not been idle past IdleTimeout nor lived past MaxSession,
// and marks it used.
func (s *Service) SessionUser(ctx context.Context, secret string) (User, Session, error) {
	now := s.cfg.Now()
	se, err := s.cfg.Store.Session(ctx, evidence.Digest(secret))
	if err != nil {
		return User{}, se, ErrNotFound
	}
	if now.Sub(se.LastSeen) > s.cfg.IdleTimeout || now.Sub(se.CreatedAt) > s.cfg.MaxSession {
		s.cfg.Store.DeleteSession(ctx, se.Digest)
		return User{}, se, ErrNotFound
	}
	u, err := s.cfg.Store.UserByID(ctx, se.UserID)
	if err != nil || u.Disabled {
		return User{}, se, ErrNotFound
	}
	if now.Sub(se.LastSeen) > time.Minute { // no write per request
		if err := s.cfg.Store.TouchSession(ctx, se.Digest, now); err != nil {
			return User{}, se, err
		}
	}
	return u, se, nil
}

// CheckCSRF reports whether a form's token is its session's, in constant
// time.
func CheckCSRF(se Session, token string) bool {
	return token != "" && hmac.Equal([]byte(se.CSRF), []byte(token))
}

// Logout ends a session.
func (s *Service) Logout(ctx context.Context, secret string) error {
	return s.cfg.Store.DeleteSession(ctx, evidence.Digest(secret))
}

// IssueToken creates a device token (t.Unit required; t.Device, t.Badge
// optional) or a personal API token (t.UserID required), returns the
// secret once, and logs the issue.
func (s *Service) IssueToken(ctx context.Context, actor string, t Token) (Token, string, error) {
	switch t.Kind {
	case DeviceToken:
		if t.Unit == "" {
			return t, "", fmt.Errorf("%w: a device token needs a unit", ErrInvalid)
		}
		t.UserID = ""
	case APIToken:
		u, err := s.cfg.Store.UserByID(ctx, t.UserID)
		if err != nil {
			return t, "", err
		}
		if u.Disabled {
			return t, "", fmt.Errorf("%w: the account is disabled", ErrInvalid)
		}
		t.Unit, t.Device, t.Badge = "", "", ""
	default:
		return t, "", fmt.Errorf("%w: token kind %q", ErrInvalid, t.Kind)
	}
	prefix := map[TokenKind]string{DeviceToken: "sld_", APIToken: "sla_"}[t.Kind]
	secret := newSecret(prefix, 32)
	t.ID, t.Digest, t.CreatedAt = newID("t"), evidence.Digest(secret), s.cfg.Now().UTC()
	if err := s.cfg.Store.CreateToken(ctx, t); err != nil {
		return t, "", err
	}
	details := map[string]string{"token": t.ID, "kind": string(t.Kind), "user": t.UserID}
	if !t.ExpiresAt.IsZero() {
		details["expires"] = evidence.EventTime(t.ExpiresAt)
	}
	return t, secret, s.record(ctx, actor, "token-issued", details,
		map[string]string{"name": t.Name, "unit": t.Unit, "device": t.Device, "badge": t.Badge})
}

// RevokeToken revokes a token for good and logs it.
func (s *Service) RevokeToken(ctx context.Context, actor, id string) error {
	if err := s.cfg.Store.RevokeToken(ctx, id, s.cfg.Now()); err != nil {
		return err
	}
	return s.record(ctx, actor, "token-revoked", map[string]string{"token": id}, nil)
}

// LooksLikeToken reports whether a bearer secret is a device or API token
// rather than a civilian's evidence token.
func LooksLikeToken(secret string) bool {
	return strings.HasPrefix(secret, "sld_") || strings.HasPrefix(secret, "sla_")
}

// TokenOwner returns the live token with this secret and, for an API
// token, the user it acts for.
func (s *Service) TokenOwner(ctx context.Context, secret string) (Token, User, error) {
	t, err := s.cfg.Store.TokenByDigest(ctx, evidence.Digest(secret))
	if err != nil || !t.Live(s.cfg.Now()) {
		return Token{}, User{}, ErrNotFound
	}
	if t.Kind != APIToken {
		return t, User{}, nil
	}
	u, err := s.cfg.Store.UserByID(ctx, t.UserID)
	if err != nil || u.Disabled {
		return Token{}, User{}, ErrNotFound
	}
	return t, u, nil
}

// ChangeRole changes a user's role, unit and badge, ends their sessions
// (their access changes), and logs it.
func (s *Service) ChangeRole(ctx context.Context, actor, userID string, role Role, unit, badge string) error {
	if !role.Valid() {
		return fmt.Errorf("%w: role %q", ErrInvalid, role)
	}
	if err := s.cfg.Store.SetRole(ctx, userID, role, unit, badge); err != nil {
		return err
	}
	if err := s.cfg.Store.DeleteSessions(ctx, userID); err != nil {
		return err
	}
	return s.record(ctx, actor, "role-changed", map[string]string{"user": userID},
		map[string]string{"role": string(role), "unit": unit, "badge": badge})
}

// Users lists every account.
func (s *Service) Users(ctx context.Context) iter.Seq2[User, error] { return s.cfg.Store.Users(ctx) }

// UserByID returns the account with this id.
func (s *Service) UserByID(ctx context.Context, id string) (User, error) {
	return s.cfg.Store.UserByID(ctx, id)
}

// UserByName returns the account with this name.
func (s *Service) UserByName(ctx context.Context, name string) (User, error) {
	return s.cfg.Store.UserByName(ctx, name)
}

// Tokens lists every device and API token (never their secrets).
func (s *Service) Tokens(ctx context.Context) iter.Seq2[Token, error] { return s.cfg.Store.Tokens(ctx) }
