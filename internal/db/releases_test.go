package db_test

import (
	"errors"
	"github.com/sightline/sightline/internal/db"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/release"
)

// A published release is never changed and no release is deleted: the
// schema refuses both, whoever asks; a second release taking a version
// number already taken is told apart as a conflict.
func TestReleasesAreKept(t *testing.T) {
	engines(t, func(t *testing.T, open func() *db.DB) {
		d := open()
		ctx := t.Context()
		s := d.Releases()
		r := release.Release{ID: release.NewID(), Incident: "inc_1", Number: 1, Title: "t", Status: release.Approved, Created: time.Now()}
		if err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := s.Create(ctx, release.Release{ID: release.NewID(), Incident: "inc_1", Number: 1, Created: time.Now()}); !errors.Is(err, release.ErrConflict) {
			t.Errorf("a second version 1: %v", err)
		}
		r.Status = release.Published
		if err := s.Update(ctx, r, 0); err != nil {
			t.Fatal(err)
		}
		r.Title = "changed"
		if err := s.Update(ctx, r, 1); err == nil {
			t.Error("a published release was changed")
		}
		if got, err := s.Get(ctx, r.ID); err != nil || got.Title != "t" || got.Status != release.Published {
			t.Errorf("stored: %+v %v", got, err)
		}
		raw := d.Raw()
		for _, q := range []string{`DELETE FROM releases`, `UPDATE releases SET status = 'draft'`} {
			if _, err := raw.ExecContext(ctx, q); err == nil {
				t.Errorf("%s: done", q)
			}
		}
	})
}
