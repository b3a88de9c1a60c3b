package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/sightline/sightline/internal/account"
)

// Accounts is the account.Store of a DB.
func (d *DB) Accounts() account.Store { return accountStore{d} }

type accountStore struct{ d *DB }

var _ account.Store = accountStore{}

const userColumns = `id, name, role, unit, badge, created_at, disabled, password_hash, totp_secret, totp_last_step, failed_logins, locked_until, setup_totp`

func (s accountStore) CreateUser(ctx context.Context, u account.User, setupDigest string, setupExpires time.Time) error {
	_, err := s.d.exec(ctx, `INSERT INTO users (`+userColumns+`, setup_digest, setup_expires)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Name, string(u.Role), u.Unit, u.Badge, u.CreatedAt.UTC(), u.Disabled, u.PasswordHash, u.TOTPSecret,
		u.TOTPLastStep, u.FailedLogins, nullTime(u.LockedUntil), "", setupDigest, setupExpires.UTC())
	if err != nil && isUniqueViolation(err) {
		return account.ErrExists
	}
	return err
}

func (s accountStore) UserByID(ctx context.Context, id string) (account.User, error) {
	return scanUser(s.d.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
}

func (s accountStore) UserByName(ctx context.Context, name string) (account.User, error) {
	return scanUser(s.d.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE name = ?`, name))
}

func (s accountStore) UserBySetup(ctx context.Context, digest string, now time.Time) (account.User, error) {
	return scanUser(s.d.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE setup_digest = ? AND setup_expires > ?`, digest, now.UTC()))
}

func (s accountStore) Users(ctx context.Context) iter.Seq2[account.User, error] {
	return each(ctx, s.d, scanUser, `SELECT `+userColumns+` FROM users ORDER BY name`)
}

func (s accountStore) CompleteSetup(ctx context.Context, id, passwordHash, totpSecret string) error {
	return s.update(ctx, `UPDATE users SET password_hash = ?, totp_secret = ?, totp_last_step = 0, failed_logins = 0,
		locked_until = NULL, setup_digest = NULL, setup_expires = NULL, setup_totp = '' WHERE id = ?`, passwordHash, totpSecret, id)
}

func (s accountStore) SetSetupTOTP(ctx context.Context, id, secret string) error {
	return s.update(ctx, `UPDATE users SET setup_totp = ? WHERE id = ? AND setup_digest IS NOT NULL`, secret, id)
}

func (s accountStore) NewSetup(ctx context.Context, id, digest string, expires time.Time) error {
	return s.update(ctx, `UPDATE users SET setup_digest = ?, setup_expires = ?, setup_totp = '' WHERE id = ?`, digest, expires.UTC(), id)
}

func (s accountStore) SetRole(ctx context.Context, id string, role account.Role, unit, badge string) error {
	return s.update(ctx, `UPDATE users SET role = ?, unit = ?, badge = ? WHERE id = ?`, string(role), unit, badge, id)
}

func (s accountStore) SetDisabled(ctx context.Context, id string, disabled bool) error {
	return s.update(ctx, `UPDATE users SET disabled = ? WHERE id = ?`, disabled, id)
}

func (s accountStore) LoginFailed(ctx context.Context, id string, lockedUntil time.Time) (int, error) {
	var n int
	err := s.d.queryRow(ctx, `UPDATE users SET failed_logins = failed_logins + 1, locked_until = ? WHERE id = ? RETURNING failed_logins`,
		nullTime(lockedUntil), id).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, account.ErrNotFound
	}
	return n, err
}

func (s accountStore) LoginSucceeded(ctx context.Context, id string, step int64) error {
	if step == 0 {
		return s.update(ctx, `UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = ?`, id)
	}
	// One statement claims the step: of sign-ins racing with one code,
	// exactly one changes the row.
	err := s.update(ctx, `UPDATE users SET failed_logins = 0, locked_until = NULL, totp_last_step = ? WHERE id = ? AND totp_last_step < ?`, step, id, step)
	if errors.Is(err, account.ErrNotFound) {
		return account.ErrCodeUsed
	}
	return err
}

func (s accountStore) update(ctx context.Context, q string, args ...any) error {
	res, err := s.d.exec(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("db: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return account.ErrNotFound
	}
	return nil
}

func scanUser(row scanner) (account.User, error) {
	var u account.User
	var role string
	var locked sql.NullTime
	err := row.Scan(&u.ID, &u.Name, &role, &u.Unit, &u.Badge, &u.CreatedAt, &u.Disabled, &u.PasswordHash, &u.TOTPSecret,
		&u.TOTPLastStep, &u.FailedLogins, &locked, &u.SetupTOTP)
	if errors.Is(err, sql.ErrNoRows) {
		return u, account.ErrNotFound
	}
	if err != nil {
		return u, fmt.Errorf("db: %w", err)
	}
	u.Role, u.CreatedAt = account.Role(role), u.CreatedAt.UTC()
	if locked.Valid {
		u.LockedUntil = locked.Time.UTC()
	}
	return u, nil
}

func (s accountStore) CreateSession(ctx context.Context, se account.Session) error {
	_, err := s.d.exec(ctx, `INSERT INTO sessions (digest, user_id, csrf, created_at, last_seen) VALUES (?, ?, ?, ?, ?)`,
		se.Digest, se.UserID, se.CSRF, se.CreatedAt.UTC(), se.LastSeen.UTC())
	return err
}

func (s accountStore) Session(ctx context.Context, digest string) (account.Session, error) {
	var se account.Session
	err := s.d.queryRow(ctx, `SELECT digest, user_id, csrf, created_at, last_seen FROM sessions WHERE digest = ?`, digest).
		Scan(&se.Digest, &se.UserID, &se.CSRF, &se.CreatedAt, &se.LastSeen)
	if errors.Is(err, sql.ErrNoRows) {
		return se, account.ErrNotFound
	}
	se.CreatedAt, se.LastSeen = se.CreatedAt.UTC(), se.LastSeen.UTC()
	return se, err
}

func (s accountStore) TouchSession(ctx context.Context, digest string, at time.Time) error {
	return s.update(ctx, `UPDATE sessions SET last_seen = ? WHERE digest = ?`, at.UTC(), digest)
}

func (s accountStore) DeleteSession(ctx context.Context, digest string) error {
	_, err := s.d.exec(ctx, `DELETE FROM sessions WHERE digest = ?`, digest)
	return err
}

func (s accountStore) DeleteSessions(ctx context.Context, userID string) error {
	_, err := s.d.exec(ctx, `DELETE FROM sessions WHERE user_id = ?`, userID)
	return err
}

const tokenColumns = `id, kind, digest, user_id, unit, device, badge, name, created_at, expires_at, revoked_at`

func (s accountStore) CreateToken(ctx context.Context, t account.Token) error {
	var user any
	if t.UserID != "" {
		user = t.UserID
	}
	_, err := s.d.exec(ctx, `INSERT INTO tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, string(t.Kind), t.Digest, user, t.Unit, t.Device, t.Badge, t.Name, t.CreatedAt.UTC(), nullTime(t.ExpiresAt), nullTime(t.RevokedAt))
	return err
}

func (s accountStore) TokenByDigest(ctx context.Context, digest string) (account.Token, error) {
	return scanToken(s.d.queryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE digest = ?`, digest))
}

func (s accountStore) Tokens(ctx context.Context) iter.Seq2[account.Token, error] {
	return each(ctx, s.d, scanToken, `SELECT `+tokenColumns+` FROM tokens ORDER BY created_at, id`)
}

func (s accountStore) RevokeToken(ctx context.Context, id string, at time.Time) error {
	return s.update(ctx, `UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`, at.UTC(), id)
}

func scanToken(row scanner) (account.Token, error) {
	var t account.Token
	var kind string
	var user sql.NullString
	var expires, revoked sql.NullTime
	err := row.Scan(&t.ID, &kind, &t.Digest, &user, &t.Unit, &t.Device, &t.Badge, &t.Name, &t.CreatedAt, &expires, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return t, account.ErrNotFound
	}
	if err != nil {
		return t, fmt.Errorf("db: %w", err)
	}
	t.Kind, t.UserID, t.CreatedAt = account.TokenKind(kind), user.String, t.CreatedAt.UTC()
	if expires.Valid {
		t.ExpiresAt = expires.Time.UTC()
	}
	if revoked.Valid {
		t.RevokedAt = revoked.Time.UTC()
	}
	return t, nil
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}
