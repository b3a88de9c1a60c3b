package cases_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/cases"
	"github.com/sightline/sightline/internal/db/dbtest"
	"github.com/sightline/sightline/internal/evidence"
)

// service runs a case service on a real SQLite file; recorded collects
// what it logged.
func service(t *testing.T) (*cases.Service, *[]evidence.Event) {
	t.Helper()
	d := dbtest.Open(t)
	var mu sync.Mutex
	var logged []evidence.Event
	record := func(_ context.Context, e evidence.Event) (uint64, error) {
		if err := e.CheckPublic(); err != nil {
			return 0, err
		}
		mu.Lock()
		defer mu.Unlock()
		logged = append(logged, e)
		return uint64(len(logged)), nil
	}
	return cases.NewService(cases.Config{Store: d.Cases(), Evidence: d.Evidence(), Record: record, Now: func() time.Time { return now }}), &logged
}

// Every move the transitions do not list is refused, from every status,
// and stores and logs nothing.
func TestEveryRefusedTransitionStoresNothing(t *testing.T) {
	s, logged := service(t)
	by := cases.Actor{ID: "user:u_inv", User: "u_inv", Role: "investigator"}
	ctx := t.Context()
	// The way to each status, from received.
	paths := map[cases.Status][]cases.Status{
		cases.Received:            nil,
		cases.Acknowledged:        {cases.Acknowledged},
		cases.Investigating:       {cases.Acknowledged, cases.Investigating},
		cases.FindingsRecommended: {cases.Acknowledged, cases.Investigating, cases.FindingsRecommended},
		cases.Closed:              {cases.Acknowledged, cases.Investigating, cases.FindingsRecommended, cases.Closed},
		cases.AdminClosed:         {cases.AdminClosed},
		cases.Reopened:            {cases.AdminClosed, cases.Reopened},
	}
	all := []cases.Status{cases.Received, cases.Acknowledged, cases.Investigating, cases.FindingsRecommended, cases.Closed, cases.AdminClosed, cases.Reopened, "sleeping"}
	refused := 0
	for from, path := range paths {
		c, err := s.Open(ctx, by, cases.FromStaff, nil)
		if err != nil {
			t.Fatal(err)
		}
		a, err := s.AddAllegation(ctx, by, c.ID, "4521", "force", "")
		if err != nil {
			t.Fatal(err)
		}
		for _, to := range path {
			switch to {
			case cases.FindingsRecommended:
				err = s.RecordFinding(ctx, by, c.ID, a.ID, cases.Recommended, "sustained", "b")
			case cases.Closed:
				err = s.RecordFinding(ctx, by, c.ID, a.ID, cases.Final, "sustained", "b")
			}
			reason := ""
			if to == cases.AdminClosed {
				reason = "duplicate"
			}
			if err == nil {
				err = s.SetStatus(ctx, by, c.ID, to, reason)
			}
			if err != nil {
				t.Fatalf("to %s on the way to %s: %v", to, from, err)
			}
		}
		for _, to := range all {
			if slices.Contains(cases.Transitions[from], to) {
				continue
			}
			before, _ := s.Get(ctx, c.ID)
			n := len(*logged)
			err := s.SetStatus(ctx, by, c.ID, to, "withdrawn")
			after, _ := s.Get(ctx, c.ID)
			if !errors.Is(err, cases.ErrTransition) || len(after.History) != len(before.History) || after.Status != from || len(*logged) != n {
				t.Errorf("%s to %s: %v; history %d → %d, status %s, %d logged", from, to, err, len(before.History), len(after.History), after.Status, len(*logged)-n)
			}
			refused++
		}
	}
	if refused < 35 {
		t.Errorf("only %d refused moves tried", refused)
	}
}
