package db_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/db"
	"github.com/sightline/sightline/internal/db/pgtest"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/media"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func openSQLite(t *testing.T, path string) *db.DB {
	t.Helper()
	d, err := db.OpenSQLite(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// engines runs test on each engine, with a database of its own: open
// opens it, or opens it again as after a restart.
func engines(t *testing.T, test func(t *testing.T, open func() *db.DB)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "sightline.db")
		test(t, func() *db.DB { return openSQLite(t, path) })
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := pgtest.New(t)
		test(t, func() *db.DB {
			t.Helper()
			d, err := db.OpenPostgres(t.Context(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			return d
		})
	})
}

func item(upload string) evidence.Item {
	dur, alt := 12.5, 89.0
	at := time.Date(2024, 5, 1, 12, 34, 56, 0, time.UTC)
	return evidence.Item{
		ID: evidence.NewID(), SHA256: blob.Sum([]byte(upload)), Size: 1234, Filename: "clip.mp4", Source: evidence.Phone,
		Device: "Pixel 8", Officer: "", Note: "outside the bakery", ReceivedAt: time.Now().UTC().Truncate(time.Microsecond),
		UploadDigest: evidence.Digest(upload), TokenDigest: evidence.Digest(evidence.AccessToken(upload)), ReceivedIndex: 42,
		Info: media.Info{
			MediaType: media.Video, MIME: "video/mp4", Container: "mp4", DurationS: &dur,
			Video:      &media.VideoInfo{Codec: "h264", Width: 1280, Height: 720, FPS: 29.97},
			Audio:      &media.AudioInfo{Codec: "aac", SampleRate: 48000, Channels: 2},
			CapturedAt: &at, Location: &media.Location{Lat: 40.7128, Lon: -74.006, Alt: &alt},
			Camera: &media.Camera{Make: "Google", Model: "Pixel 8"},
		},
	}
}

func TestEvidenceRoundTrip(t *testing.T) {
	engines(t, func(t *testing.T, open func() *db.DB) {
		d := open()
		store := d.Evidence()
		full := item("upload-1")
		bare := evidence.Item{ID: evidence.NewID(), SHA256: blob.Sum([]byte("x")), Source: evidence.Other, ReceivedAt: time.Now().UTC().Truncate(time.Microsecond),
			UploadDigest: evidence.Digest("upload-2"), TokenDigest: "t", Info: media.Info{MediaType: media.Image, Error: "cannot read media"}}
		for _, it := range []evidence.Item{full, bare} {
			if err := store.Create(t.Context(), it); err != nil {
				t.Fatal(err)
			}
		}
		d.Close()

		// Reopened, as after a restart.
		store = open().Evidence()
		for _, want := range []evidence.Item{full, bare} {
			got, err := store.Get(t.Context(), want.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Get(%s) =\n%+v\nwant\n%+v", want.ID, got, want)
			}
			byUpload, err := store.ByUpload(t.Context(), want.UploadDigest)
			if err != nil || byUpload.ID != want.ID {
				t.Errorf("ByUpload = %s, %v; want %s", byUpload.ID, err, want.ID)
			}
		}
		var n int
		for it, err := range store.All(t.Context()) {
			if err != nil {
				t.Fatal(err)
			}
			n++
			_ = it
		}
		if n != 2 {
			t.Errorf("All listed %d items, want 2", n)
		}
	})
}

func TestOddPaths(t *testing.T) {
	for _, name := range []string{"with space", "hash#and?query", "percent%41"} {
		dir := filepath.Join(t.TempDir(), name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		d := openSQLite(t, filepath.Join(dir, "s.db"))
		if err := d.Evidence().Create(t.Context(), item("u-"+name)); err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "s.db")); err != nil {
			t.Fatalf("%q: database not where asked: %v", name, err)
		}
	}
}

func TestEvidenceNotFound(t *testing.T) {
	engines(t, func(t *testing.T, open func() *db.DB) {
		store := open().Evidence()
		if _, err := store.Get(t.Context(), "nope"); !errors.Is(err, evidence.ErrNotFound) {
			t.Errorf("Get of unknown id: %v, want ErrNotFound", err)
		}
		if _, err := store.ByUpload(t.Context(), "nope"); !errors.Is(err, evidence.ErrNotFound) {
			t.Errorf("ByUpload of unknown digest: %v, want ErrNotFound", err)
		}
	})
}

func TestEvidenceOneItemPerUpload(t *testing.T) {
	engines(t, func(t *testing.T, open func() *db.DB) {
		store := open().Evidence()
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				it := item("same-upload")
				it.ID = evidence.NewID()
				errs <- store.Create(t.Context(), it)
			})
		}
		wg.Wait()
		close(errs)
		ok := 0
		for err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, evidence.ErrExists):
				t.Errorf("concurrent Create: %v, want nil or ErrExists", err)
			}
		}
		if ok != 1 {
			t.Errorf("%d of 8 concurrent Creates for one upload succeeded, want exactly 1", ok)
		}
	})
}

func TestMigrationsAreVersioned(t *testing.T) {
	engines(t, func(t *testing.T, open func() *db.DB) {
		d := open()
		v1, err := d.Version(t.Context())
		if err != nil || v1 < 1 {
			t.Fatalf("Version = %d, %v", v1, err)
		}
		d.Close()
		// Opening again applies nothing twice.
		v2, err := open().Version(t.Context())
		if err != nil || v2 != v1 {
			t.Fatalf("after reopening, Version = %d, %v; want %d", v2, err, v1)
		}
	})
}

func TestCustodyIndex(t *testing.T) {
	engines(t, func(t *testing.T, open func() *db.DB) {
		d := open()
		c := d.Custody()
		ev := func(id string, typ evidence.EventType) evidence.Event {
			return evidence.Event{Type: typ, Evidence: &evidence.EventSubject{ID: id, SHA256: blob.Sum([]byte(id))}, Actor: "a", At: "t"}
		}
		for i, e := range []evidence.Event{ev("x", evidence.Received), ev("y", evidence.Received), ev("x", evidence.Viewed), ev("x", evidence.Downloaded)} {
			if err := c.Add(t.Context(), uint64(i), e); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Add(t.Context(), 2, ev("x", evidence.Viewed)); err != nil {
			t.Fatalf("adding an index twice: %v", err)
		}
		got, err := c.Events(t.Context(), "x")
		if err != nil || len(got) != 3 || got[0].Index != 0 || got[1].Type != evidence.Viewed || got[2].Index != 3 {
			t.Fatalf("Events(x) = %+v, %v", got, err)
		}
	})
}

// The database and its journal files are readable by their owner only:
// they hold TOTP secrets and password hashes.
func TestDatabaseFilesAreOwnerOnly(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := t.TempDir()
	path := filepath.Join(dir, "sightline.db")
	for range 2 { // made new, then opened again
		d, err := db.OpenSQLite(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Accounts().UserByName(t.Context(), "nobody"); err == nil {
			t.Fatal("found nobody")
		}
		for _, name := range []string{"sightline.db", "sightline.db-wal", "sightline.db-shm"} {
			fi, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s is %v, want -rw-------", name, fi.Mode().Perm())
			}
		}
		d.Close()
	}
}

// Servers starting at once on one new PostgreSQL database migrate it
// once: the migrations wait for each other's lock.
func TestPostgresMigratesOnceUnderManyStarts(t *testing.T) {
	dsn := pgtest.New(t)
	var wg sync.WaitGroup
	versions := make([]int, 4)
	errs := make([]error, len(versions))
	for i := range versions {
		wg.Go(func() {
			d, err := db.OpenPostgres(t.Context(), dsn)
			if err != nil {
				errs[i] = err
				return
			}
			defer d.Close()
			versions[i], errs[i] = d.Version(t.Context())
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil || versions[i] != versions[0] || versions[0] < 11 {
			t.Fatalf("start %d: version %d, %v (all: %v)", i, versions[i], err, versions)
		}
	}
}
