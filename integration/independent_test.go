package integration

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/sightline/sightline/internal/client"
	"github.com/sightline/sightline/internal/media/mediatest"
)

// An outsider checks the log with nothing of Sightline's code: the Go
// checksum database's tlog and note packages, the log's public key, and
// plain HTTP GETs of /log/. The served tiles must hash to the signed
// checkpoint, every receipt's entry must be the entry served at its index,
// and its proof must check against a checkpoint the key signed.
func TestIndependentVerifierAgreesWithReceipts(t *testing.T) {
	data := t.TempDir()
	srv := startServer(t, data, 0)
	verifier, err := note.NewVerifier(logKey(t, data))
	if err != nil {
		t.Fatal(err)
	}

	// A few uploads, each with its receipt.
	c := &client.Client{Server: srv.URL}
	type rec struct {
		entry string
		index uint64
		proof []string
		cp    string
	}
	var recs []rec
	for i := range 3 {
		file := filepath.Join(t.TempDir(), fmt.Sprintf("cam%d.wav", i))
		os.WriteFile(file, mediatest.NoiseWAV(50_000, uint64(1000+i)), 0o644)
		res, err := c.UploadFile(t.Context(), file, map[string]string{"source": "surveillance"}, &client.Journal{Dir: t.TempDir()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.Receipt(t.Context(), res.ID, res.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec{r.Entry, r.Index, r.InclusionProof, r.Checkpoint})
	}

	get := httpGetter(t, srv.URL)
	var cp struct {
		size int64
		root tlog.Hash
	}
	deadline := time.Now().Add(time.Minute) // for a busy machine
	for {
		tree := openCheckpoint(t, get("checkpoint"), verifier)
		cp.size, cp.root = tree.N, tree.Hash
		if cp.size >= int64(len(recs)) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The tiles, fetched over HTTP, must hash to the signed root.
	tiles := tileFetcher{get: get}
	hr := tlog.TileHashReader(tlog.Tree{N: cp.size, Hash: cp.root}, tiles)
	if h, err := tlog.TreeHash(cp.size, hr); err != nil || h != cp.root {
		t.Fatalf("the served tiles hash to %v (%v), the checkpoint says %v", h, err, cp.root)
	}

	for _, r := range recs {
		// The receipt's entry is the one served at its index.
		bundle := get(entriesPath(int64(r.index)/256, cp.size))
		if got := bundleEntry(t, bundle, int(r.index%256)); got != r.entry {
			t.Errorf("entry %d served as %q, receipt says %q", r.index, got, r.entry)
		}
		// Our own proof, from the served tiles, and the receipt's.
		p, err := tlog.ProveRecord(cp.size, int64(r.index), hr)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.CheckRecord(p, cp.size, cp.root, int64(r.index), tlog.RecordHash([]byte(r.entry))); err != nil {
			t.Errorf("entry %d is not in the served tree: %v", r.index, err)
		}
		rcp := openCheckpoint(t, []byte(r.cp), verifier)
		size, root := rcp.N, rcp.Hash
		rp := make(tlog.RecordProof, len(r.proof))
		for i, s := range r.proof {
			b, _ := base64.StdEncoding.DecodeString(s)
			copy(rp[i][:], b)
		}
		if err := tlog.CheckRecord(rp, size, root, int64(r.index), tlog.RecordHash([]byte(r.entry))); err != nil {
			t.Errorf("receipt proof for %d: %v", r.index, err)
		}
		// And the receipt's checkpoint is consistent with the current one.
		if size <= cp.size {
			tp, err := tlog.ProveTree(cp.size, size, hr)
			if err != nil || tlog.CheckTree(tp, cp.size, cp.root, size, root) != nil {
				t.Errorf("checkpoint %d is not consistent with %d: %v", size, cp.size, err)
			}
		}
	}
}

// httpGetter returns a function that GETs a path under base/log/, failing
// the test on anything but 200.
func httpGetter(t *testing.T, base string) func(string) []byte {
	return func(path string) []byte {
		t.Helper()
		resp, err := http.Get(base + "/log/" + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET /log/%s: %d", path, resp.StatusCode)
		}
		return b
	}
}

// openCheckpoint checks a checkpoint note's signature with v and reads its
// size and root, as C2SP tlog-checkpoint lays them out.
func openCheckpoint(t *testing.T, raw []byte, v note.Verifier) tlog.Tree {
	t.Helper()
	n, err := note.Open(raw, note.VerifierList(v))
	if err != nil {
		t.Fatalf("checkpoint does not verify with the published key: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[0] != v.Name() {
		t.Fatalf("malformed checkpoint %q", n.Text)
	}
	var tree tlog.Tree
	tree.N, err = strconv.ParseInt(lines[1], 10, 64)
	root, err2 := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || err2 != nil || len(root) != tlog.HashSize {
		t.Fatalf("malformed checkpoint %q", n.Text)
	}
	copy(tree.Hash[:], root)
	return tree
}

// tileFetcher reads C2SP tlog-tiles over HTTP for the Go tlog package,
// whose paths carry the tile height ("tile/8/0/000") where C2SP's do not.
type tileFetcher struct{ get func(string) []byte }

func (tileFetcher) Height() int { return 8 }

func (f tileFetcher) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		out[i] = f.get("tile/" + strings.TrimPrefix(t.Path(), "tile/8/"))
	}
	return out, nil
}

func (tileFetcher) SaveTiles([]tlog.Tile, [][]byte) {}

// entriesPath is the C2SP path of entry bundle n in a tree of size size.
func entriesPath(n, size int64) string {
	w := size - n*256
	t := tlog.Tile{H: 8, L: 0, N: n, W: int(min(w, 256))}
	return "tile/entries/" + strings.TrimPrefix(t.Path(), "tile/8/0/")
}

// bundleEntry reads entry i of a C2SP entry bundle: 16-bit big-endian
// lengths, each followed by its entry.
func bundleEntry(t *testing.T, b []byte, i int) string {
	for j := 0; len(b) >= 2; j++ {
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			break
		}
		if j == i {
			return string(b[2 : 2+n])
		}
		b = b[2+n:]
	}
	t.Fatalf("entry %d not in bundle", i)
	return ""
}
