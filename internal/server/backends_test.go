package server_test

import (
	"net/http"
	"os"
	"testing"

	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/ledger"
	"github.com/sightline/sightline/internal/media/mediatest"
	"github.com/sightline/sightline/internal/server/servertest"
)

// The suites run again on PostgreSQL and S3 (make test): this checks that
// they then do, so that a second run is never the first one twice.
func TestRunsOnTheAskedBackends(t *testing.T) {
	env := servertest.Start(t)
	_, s3 := env.Server.Blobs().(*blob.S3)
	if want := os.Getenv("SIGHTLINE_TEST_BLOBS") == "s3"; s3 != want {
		t.Errorf("blobs on S3: %v, want %v", s3, want)
	}
	engine := "sqlite"
	if os.Getenv("SIGHTLINE_TEST_DATABASE") == "postgres" {
		engine = "postgres"
	}
	if got := env.Server.Engine(); got != engine {
		t.Errorf("database engine %q, want %q", got, engine)
	}
	_, shared := env.Server.Log().Tiles().(*ledger.Shared)
	if want := os.Getenv("SIGHTLINE_TEST_LOG") == "shared"; shared != want {
		t.Errorf("custody log shared: %v, want %v", shared, want)
	}
	// An upload's original lands in the store the server was given.
	wav := mediatest.NoiseWAV(50_000, 1)
	u := env.Create(int64(len(wav)), map[string]string{"source": "dashcam"})
	if resp, body := env.Patch(u, 0, wav); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	if n, err := env.Server.Blobs().Stat(t.Context(), blob.Sum(wav)); err != nil || n != int64(len(wav)) {
		t.Fatalf("the original in the store: %d bytes, %v", n, err)
	}
}
