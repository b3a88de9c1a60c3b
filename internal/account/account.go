// Package account is Sightline's staff: accounts with roles, their
// passwords and second factors, their sessions, and the tokens that let
// machines (camera docks, dashcam fleets, CCTV exporters) and scripts act.
// Civilians have no account: they hold capability tokens for what they
// submitted (see evidence.AccessToken). It holds no SQL and no HTTP.
package account

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"iter"
	"regexp"
	"time"
)

// Role is what a staff member does, and so what they may reach.
type Role string

// The staff roles.
const (
	Officer      Role = "officer"
	Supervisor   Role = "supervisor"
	Investigator Role = "investigator" // internal affairs or civilian oversight
	Records      Role = "records"      // public-records staff: redact and release their unit's footage
	Admin        Role = "admin"
)

// Roles lists the staff roles.
var Roles = []Role{Officer, Supervisor, Investigator, Records, Admin}

// Valid reports whether r is a staff role.
func (r Role) Valid() bool {
	for _, x := range Roles {
		if r == x {
			return true
		}
	}
	return false
}

// NeedsSecondFactor reports whether accounts with role r must sign in with
// a TOTP code as well as their password.
func (r Role) NeedsSecondFactor() bool { return r != Officer }

// User is a staff account.
type User struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role Role   `json:"role"`
	// Unit is the team the user belongs to, such as "central-patrol".
	Unit string `json:"unit,omitempty"`
	// Badge links an officer to their cameras and to the footage they
	// appear in.
	Badge     string    `json:"badge,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	Disabled  bool      `json:"disabled,omitempty"`

	PasswordHash string    `json:"-"` // argon2id; empty until set up
	TOTPSecret   string    `json:"-"` // base32; empty until enrolled
	TOTPLastStep int64     `json:"-"` // the last step a code was used at
	FailedLogins int       `json:"-"` // since the last success
	LockedUntil  time.Time `json:"-"`
	// SetupTOTP is the TOTP secret issued by the pending setup link's
	// page: setup enrols it and nothing else.
	SetupTOTP string `json:"-"`
}

// SetUp reports whether the user has chosen a password (and enrolled a
// second factor where the role needs one).
func (u User) SetUp() bool {
	return u.PasswordHash != "" && (u.TOTPSecret != "" || !u.Role.NeedsSecondFactor())
}

// TokenKind says what a token is for.
type TokenKind string

const (
	// DeviceToken lets a camera dock, dashcam fleet or CCTV exporter
	// upload footage for one unit (and, if set, one device), and nothing
	// else.
	DeviceToken TokenKind = "device"
	// APIToken lets a staff member's script call the JSON API as them.
	APIToken TokenKind = "api"
)

// Token is a device or personal API token. The secret itself is shown once
// and stored only as its digest.
type Token struct {
	ID     string    `json:"id"`
	Kind   TokenKind `json:"kind"`
	Digest string    `json:"-"`
	// UserID is the staff member an API token acts for.
	UserID string `json:"user_id,omitempty"`
	// Unit, Device and Badge scope a device token: its uploads belong to
	// the unit, the device and the officer the camera is issued to.
	Unit      string    `json:"unit,omitempty"`
	Device    string    `json:"device,omitempty"`
	Badge     string    `json:"badge,omitempty"`
	Name      string    `json:"name,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// Live reports whether the token may be used at now.
func (t Token) Live(now time.Time) bool {
	return t.RevokedAt.IsZero() && (t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt))
}

// Session is a signed-in browser. Its id is a secret kept only as a digest.
type Session struct {
	Digest    string
	UserID    string
	CSRF      string // the form token of this session
	CreatedAt time.Time
	LastSeen  time.Time
}

// Errors.
var (
	ErrNotFound = errors.New("account: not found")
	ErrExists   = errors.New("account: a user with this name exists")
	// ErrBadLogin is the one answer to a wrong name, password or code, a
	// locked or disabled account: a sign-in form must not say which.
	ErrBadLogin = errors.New("account: wrong name, password or code, or the account is locked")
	ErrInvalid  = errors.New("account: invalid")
	// ErrCodeUsed is a TOTP code (or an earlier one) already used to sign
	// in: a replay, answered as ErrBadLogin.
	ErrCodeUsed = errors.New("account: this code was already used")
)

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,63}$`)

// ValidName reports whether name can name a user: 2-64 lower-case letters,
// digits, dots, dashes and underscores.
func ValidName(name string) bool { return namePattern.MatchString(name) }

// Store persists accounts, sessions and tokens. Durable on return; safe for
// concurrent use.
type Store interface {
	CreateUser(ctx context.Context, u User, setupDigest string, setupExpires time.Time) error
	UserByID(ctx context.Context, id string) (User, error)
	UserByName(ctx context.Context, name string) (User, error)
	// UserBySetup returns the user whose unexpired one-time setup link has
	// this digest.
	UserBySetup(ctx context.Context, digest string, now time.Time) (User, error)
	Users(ctx context.Context) iter.Seq2[User, error]
	// CompleteSetup sets the password hash and TOTP secret and spends the
	// setup link.
	CompleteSetup(ctx context.Context, id, passwordHash, totpSecret string) error
	// SetSetupTOTP keeps the TOTP secret a pending setup issued.
	SetSetupTOTP(ctx context.Context, id, secret string) error
	// NewSetup replaces the user's setup link (an admin resetting an account).
	NewSetup(ctx context.Context, id, setupDigest string, expires time.Time) error
	SetRole(ctx context.Context, id string, role Role, unit, badge string) error
	SetDisabled(ctx context.Context, id string, disabled bool) error
	// LoginFailed counts a failure and sets the lock; LoginSucceeded resets
	// the count and claims the TOTP step used (totpStep > 0) in one
	// statement, failing with ErrCodeUsed if that step or a later one was
	// already used: a code signs in once, however many sign-ins race.
	LoginFailed(ctx context.Context, id string, lockedUntil time.Time) (failures int, err error)
	LoginSucceeded(ctx context.Context, id string, totpStep int64) error

	CreateSession(ctx context.Context, s Session) error
	Session(ctx context.Context, digest string) (Session, error)
	TouchSession(ctx context.Context, digest string, at time.Time) error
	DeleteSession(ctx context.Context, digest string) error
	DeleteSessions(ctx context.Context, userID string) error

	CreateToken(ctx context.Context, t Token) error
	TokenByDigest(ctx context.Context, digest string) (Token, error)
	Tokens(ctx context.Context) iter.Seq2[Token, error]
	RevokeToken(ctx context.Context, id string, at time.Time) error
}

// newSecret returns n random bytes as unpadded base64url, prefixed.
func newSecret(prefix string, n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// newID returns a short random id with a prefix, for users and tokens.
func newID(prefix string) string {
	b := make([]byte, 9)
	rand.Read(b)
	return fmt.Sprintf("%s_%s", prefix, base64.RawURLEncoding.EncodeToString(b))
}
