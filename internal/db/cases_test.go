package db_test

import (
	"sync"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/cases"
	"github.com/sightline/sightline/internal/db"
)

// Cases opened at once get numbers of their own, and notes added to one
// case at once each keep their place: on PostgreSQL several servers write
// at the same moment, as SQLite's one writer never does.
func TestNumbersUnderConcurrentWrites(t *testing.T) {
	engines(t, func(t *testing.T, open func() *db.DB) {
		store := open().Cases()
		at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
		const n = 8
		made := make([]cases.Case, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				c := cases.Case{ID: cases.NewID("case_"), Origin: cases.FromStaff, Status: cases.Received, ReceivedAt: at, Deadline: at, Target: at}
				made[i], errs[i] = store.Create(t.Context(), c, nil)
			})
		}
		wg.Wait()
		numbers := map[string]bool{}
		for i, c := range made {
			if errs[i] != nil || numbers[c.Number] {
				t.Fatalf("case %d: %q, %v (numbers so far %v)", i, c.Number, errs[i], numbers)
			}
			numbers[c.Number] = true
		}
		for i := range n {
			wg.Go(func() {
				errs[i] = store.AddNote(t.Context(), made[0].ID, cases.Note{Text: "note", By: "user:u", At: at})
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("note %d: %v", i, err)
			}
		}
		c, err := store.Get(t.Context(), made[0].ID)
		if err != nil || len(c.Notes) != n {
			t.Fatalf("the case holds %d notes (%v), want %d", len(c.Notes), err, n)
		}
	})
}
