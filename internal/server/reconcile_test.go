package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/sightline/sightline/internal/audit"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/server/servertest"
)

// A crash between appending an event and indexing it leaves the event in
// the log only: the audit says so, and the next start puts it in the
// index, where the civilian's custody list shows it.
func TestCustodyIndexIsReconciledWithTheLog(t *testing.T) {
	env := servertest.Start(t)
	civ, _ := uploadCivilian(t, env)
	// What a crash right after the append leaves: the entry, no row.
	lost := evidence.Event{Type: evidence.Accessed, Evidence: &evidence.EventSubject{ID: civ.ID, SHA256: civ.SHA256},
		Actor: "user:u_lost", At: evidence.EventTime(time.Now()), Details: map[string]string{"action": "read-item", "outcome": "allowed"}}
	idx, err := env.Server.Log().Append(t.Context(), lost.Canonical())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Server.Log().AwaitCheckpoint(t.Context(), idx); err != nil {
		t.Fatal(err)
	}
	env.Stop()
	r, err := audit.Run(t.Context(), env.AuditPaths())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Problems) != 1 || !strings.Contains(r.Problems[0].String(), "missing from the custody index") {
		t.Fatalf("audit of the gap: %v", r.Problems)
	}

	env = servertest.StartIn(t, env.Data)
	events, err := env.Server.Custody().Events(t.Context(), civ.ID)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range events {
		found = found || (e.Index == idx && e.Actor == "user:u_lost")
	}
	if !found {
		t.Errorf("after a restart the custody list lacks the lost event: %+v", events)
	}
	env.Stop()
	if r, err := audit.Run(t.Context(), env.AuditPaths()); err != nil || len(r.Problems) != 0 || r.Indexed < 2 {
		t.Errorf("audit after the restart: %v, %d rows, %v", err, r.Indexed, r.Problems)
	}

	// A row changed behind the log's back is found.
	db := env.RawDB()
	defer db.Close()
	if _, err := db.Exec(fmt.Sprintf(`UPDATE custody SET actor = 'user:someone-else' WHERE log_index = %d`, idx)); err != nil {
		t.Fatal(err)
	}
	r, err = audit.Run(t.Context(), env.AuditPaths())
	if err != nil || len(r.Problems) != 1 || !strings.Contains(r.Problems[0].String(), "differs from log entry") {
		t.Errorf("audit of a changed row: %v %v", err, r.Problems)
	}
}
