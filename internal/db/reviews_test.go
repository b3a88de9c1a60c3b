package db_test

import (
	"errors"
	"github.com/sightline/sightline/internal/db"
	"strings"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/account"
	"github.com/sightline/sightline/internal/review"
)

// A stored review is never changed: the store sets its log index and
// referral incident once each, and the schema refuses every other update
// and every delete, whoever asks (here, plain SQL on the file).
func TestReviewsCannotBeChanged(t *testing.T) {
	engines(t, func(t *testing.T, open func() *db.DB) {
		d := open()
		ctx := t.Context()
		if err := d.Accounts().CreateUser(ctx, account.User{ID: "u_1", Name: "sgt.avila", Role: account.Supervisor, CreatedAt: time.Now()}, "digest", time.Now()); err != nil {
			t.Fatal(err)
		}
		r := review.Review{ID: review.NewID(), Evidence: "e1", Author: account.Actor("u_1"), At: "2026-11-21T09:00:00.000000Z", Seen: "x", Outcome: review.Released}
		rec := review.Record{Review: r, Document: string(r.Document()), LogFrom: 7}
		s := d.Reviews()
		if err := s.AddReview(ctx, rec); err != nil {
			t.Fatal(err)
		}
		if err := s.SetLogged(ctx, r.ID, 9); err != nil {
			t.Fatal(err)
		}
		if err := s.SetLogged(ctx, r.ID, 10); err == nil {
			t.Error("a review's log index changed")
		}
		if err := s.SetIncident(ctx, r.ID, "inc_1"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetIncident(ctx, r.ID, "inc_2"); err == nil {
			t.Error("a review's incident changed")
		}

		raw := d.Raw()
		for _, q := range []string{
			`UPDATE reviews SET document = '{"outcome":"detained"}'`,
			`UPDATE reviews SET author = 'u_2'`,
			`UPDATE reviews SET created_at = '2020-01-01'`,
			`DELETE FROM reviews`,
		} {
			if _, err := raw.ExecContext(ctx, q); err == nil || !strings.Contains(err.Error(), "a review cannot be") {
				t.Errorf("%s: %v", q, err)
			}
		}
		got, err := s.Get(ctx, r.ID)
		if err != nil || got.Document != rec.Document || *got.LogIndex != 9 || got.Incident != "inc_1" {
			t.Errorf("stored review now %+v %v", got, err)
		}
		if _, err := s.Get(ctx, "rev_nonesuch"); !errors.Is(err, review.ErrNotFound) {
			t.Errorf("missing review: %v", err)
		}
	})
}
