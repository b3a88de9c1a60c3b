package verify_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/sightline/sightline/internal/bag"
	"github.com/sightline/sightline/internal/media/mediatest"
	"github.com/sightline/sightline/internal/server/servertest"
	"github.com/sightline/sightline/verify"
)

// receipt uploads a file to a real server and fetches its receipt.
func receipt(t *testing.T) (verify.Receipt, string, string) {
	env := servertest.Start(t)
	data := mediatest.NoiseWAV(200_000, 3)
	u := env.Create(int64(len(data)), map[string]string{"source": "phone", "filename": "a.wav"})
	if resp, body := env.Patch(u, 0, data); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH: %d %s", resp.StatusCode, body)
	}
	r := env.Receipt(u)
	req, _ := http.NewRequest("GET", env.URL+"/api/v1/evidence/"+r.ID+"/receipt", nil)
	req.Header.Set("Authorization", "Bearer "+r.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET receipt: %d %v %s", resp.StatusCode, err, body)
	}
	rc, err := verify.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "a.wav")
	os.WriteFile(file, data, 0o644)
	return rc, file, env.Server.Log().VerifierKey()
}

func TestReceipt(t *testing.T) {
	rc, file, key := receipt(t)
	res, err := verify.File(file, rc, key)
	if err != nil {
		t.Fatalf("a genuine receipt does not verify: %v", err)
	}
	if !strings.HasPrefix(res.String(), "OK: "+rc.SHA256+" logged at index ") || res.Event != "received" {
		t.Errorf("result %q", res)
	}

	otherKey := func() string {
		_, vkey, _ := note.GenerateKey(rand.Reader, rc.Origin)
		return vkey
	}()
	tests := []struct {
		name   string
		change func(r *verify.Receipt, path string)
		want   error
	}{
		{"file differs", func(r *verify.Receipt, path string) {
			b, _ := os.ReadFile(path)
			b[100] ^= 1
			os.WriteFile(path, b, 0o644)
		}, verify.ErrFileDiffers},
		{"another log's key", func(r *verify.Receipt, _ string) { r.VerifierKey = otherKey }, verify.ErrSignature},
		{"checkpoint edited", func(r *verify.Receipt, _ string) {
			r.Checkpoint = strings.Replace(r.Checkpoint, "\n1\n", "\n2\n", 1)
		}, verify.ErrSignature},
		{"proof edited", func(r *verify.Receipt, _ string) {
			if len(r.InclusionProof) == 0 {
				r.InclusionProof = []string{"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}
				return
			}
			r.InclusionProof[0] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
		}, verify.ErrProof},
		{"entry edited", func(r *verify.Receipt, _ string) {
			r.Entry = strings.Replace(r.Entry, `"received"`, `"viewed"`, 1)
		}, verify.ErrProof},
		{"entry about another file", func(r *verify.Receipt, _ string) {
			r.SHA256 = strings.Repeat("0", 64)
		}, verify.ErrFileDiffers},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := rc
			r.InclusionProof = append([]string(nil), rc.InclusionProof...)
			path := filepath.Join(t.TempDir(), "f")
			b, _ := os.ReadFile(file)
			os.WriteFile(path, b, 0o644)
			tc.change(&r, path)
			key := ""
			if _, err := verify.File(path, r, key); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := verify.Check(rc, otherKey); !errors.Is(err, verify.ErrSignature) {
		t.Errorf("a receipt checked against another key: %v", err)
	}
}

// A refreshed receipt must carry on the old one: Extends refuses one that
// dropped a checkpoint the old receipt held or is about another entry, and
// Check refuses earlier checkpoints that are out of order.
func TestExtends(t *testing.T) {
	env := servertest.Start(t)
	var rcs []verify.Receipt
	for i := range 3 {
		data := mediatest.NoiseWAV(100_000+i, uint64(i+10))
		u := env.Create(int64(len(data)), map[string]string{"source": "phone"})
		if resp, body := env.Patch(u, 0, data); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("PATCH: %d %s", resp.StatusCode, body)
		}
		r := env.Receipt(u)
		rc, err := env.Client().Receipt(t.Context(), r.ID, r.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		rcs = append(rcs, rc)
	}
	key := env.Server.Log().VerifierKey()
	first := rcs[0]
	// Refresh the first receipt twice, the log growing in between.
	mid, err := env.Server.Log().Refresh(t.Context(), first)
	if err != nil {
		t.Fatal(err)
	}
	data := mediatest.NoiseWAV(100_500, 99)
	u := env.Create(int64(len(data)), map[string]string{"source": "phone"})
	env.Patch(u, 0, data)
	r := env.Receipt(u)
	if _, err := env.Client().Receipt(t.Context(), r.ID, r.AccessToken); err != nil {
		t.Fatal(err)
	}
	last, err := env.Server.Log().Refresh(t.Context(), mid)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := verify.Extends(mid, last, key); err != nil || len(res.Earlier) < 2 {
		t.Fatalf("a genuine refresh: %v, earlier %v", err, res.Earlier)
	}

	dropped := last
	dropped.Earlier = dropped.Earlier[1:]
	if _, err := verify.Extends(mid, dropped, key); !errors.Is(err, verify.ErrDropped) {
		t.Errorf("a refresh that dropped the first checkpoint: %v, want ErrDropped", err)
	}
	if _, err := verify.Extends(first, rcs[2], key); !errors.Is(err, verify.ErrDropped) {
		t.Errorf("another entry's receipt as a refresh: %v, want ErrDropped", err)
	}
	swapped := last
	swapped.Earlier = []verify.Earlier{last.Earlier[1], last.Earlier[0]}
	if _, err := verify.Check(swapped, key); !errors.Is(err, verify.ErrMalformed) {
		t.Errorf("earlier checkpoints out of order: %v, want ErrMalformed", err)
	}
	// An earlier checkpoint that does not cover the entry proves nothing
	// about it.
	late := rcs[2]
	late.Earlier = []verify.Earlier{{Checkpoint: first.Checkpoint}}
	if _, err := verify.Check(late, key); !errors.Is(err, verify.ErrMalformed) {
		t.Errorf("an earlier checkpoint before the entry: %v, want ErrMalformed", err)
	}
}

func TestParseRefusesMalformed(t *testing.T) {
	for _, in := range []string{``, `{}`, `{"format":"sightline-receipt-v1","extra":1}`, `[1]`} {
		if _, err := verify.Parse([]byte(in)); !errors.Is(err, verify.ErrMalformed) {
			t.Errorf("Parse(%q) = %v", in, err)
		}
	}
}

func FuzzReceipt(f *testing.F) {
	good, _ := json.Marshal(verify.Receipt{Format: verify.Format, SHA256: strings.Repeat("a", 64), Entry: `{"type":"received","evidence":{"id":"x","sha256":"` + strings.Repeat("a", 64) + `"},"actor":"","at":"2026-01-01T00:00:00.000000Z"}`,
		Checkpoint: "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— o abc=\n", InclusionProof: []string{"AA=="}})
	f.Add(good)
	withEarlier, _ := json.Marshal(verify.Receipt{Format: verify.Format, SHA256: strings.Repeat("a", 64), Entry: `{"type":"received","evidence":{"id":"x","sha256":"` + strings.Repeat("a", 64) + `"},"actor":"","at":"2026-01-01T00:00:00.000000Z"}`,
		Checkpoint: "o\n2\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— o abc=\n", InclusionProof: []string{"AA=="},
		Earlier: []verify.Earlier{{Checkpoint: "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— o abc=\n", ConsistencyProof: []string{"AA=="}}}})
	f.Add(withEarlier)
	f.Add([]byte(`{"format":"sightline-capture-v1","access_token":"t","receipt":` + string(good) + `}`))
	f.Add([]byte(`{"format":"sightline-review-receipt-v1","document":"{}","receipt":` + string(good) + `}`))
	var r verify.Receipt
	json.Unmarshal(good, &r)
	f.Add(verify.FormatProof(r))
	_, vkey, _ := note.GenerateKey(rand.Reader, "o")
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := verify.Parse(b)
		if err != nil {
			return
		}
		// No forged receipt verifies against a key that never signed anything.
		if _, err := verify.Check(r, vkey); err == nil {
			t.Fatalf("a receipt verified against an unused key: %s", b)
		}
	})
}

// Checkpoint parsing takes untrusted bytes (a receipt's, a history line, a
// fetched /log/checkpoint): it never panics, and what it accepts is a note
// the key signed whose first lines are exactly the origin, size and root
// it reports.
func FuzzCheckpoint(f *testing.F) {
	skey, vkey, _ := note.GenerateKey(rand.Reader, "o")
	signer, _ := note.NewSigner(skey)
	v, _ := note.NewVerifier(vkey)
	signed, _ := note.Sign(&note.Note{Text: "o\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"}, signer)
	f.Add(signed)
	withExt, _ := note.Sign(&note.Note{Text: "o\n18446744073709551615\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nextension\n"}, signer)
	f.Add(withExt)
	bad, _ := note.Sign(&note.Note{Text: "o\n05\nAAAA\n"}, signer)
	f.Add(bad)
	f.Add([]byte("o\n1\n\n\n— o abc=\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cp, err := verify.OpenCheckpoint(b, v)
		if err != nil {
			return
		}
		n, err := note.Open(b, note.VerifierList(v))
		if err != nil {
			t.Fatalf("accepted a checkpoint whose signature does not verify: %v", err)
		}
		want := fmt.Sprintf("%s\n%d\n%s\n", cp.Origin, cp.Size, base64.StdEncoding.EncodeToString(cp.Root[:]))
		if cp.Origin != "o" || !strings.HasPrefix(n.Text, want) {
			t.Fatalf("reported %q, the note says %q", want, n.Text)
		}
	})
}

// What the pages save holds a receipt, and Parse reads it: the capture
// and upload pages' record (with a token and a link verify does not
// read), and a review's receipt, whose document must be the one the
// entry names.
func TestSavedFiles(t *testing.T) {
	rc, file, key := receipt(t)
	bare, _ := json.Marshal(rc)
	record := fmt.Sprintf(`{"format":%q,"evidence_page":"https://x/e/1#token=t","access_token":"t","evidence":{"id":"1"},"receipt":%s,"earlier_parts":[]}`, verify.CaptureFormat, bare)
	got, err := verify.Parse([]byte(record))
	if err != nil {
		t.Fatalf("the capture page's record: %v", err)
	}
	if _, err := verify.File(file, got, key); err != nil {
		t.Errorf("the capture page's record does not verify: %v", err)
	}
	early := fmt.Sprintf(`{"format":%q,"access_token":"t","receipt":null}`, verify.CaptureFormat)
	if _, err := verify.Parse([]byte(early)); !errors.Is(err, verify.ErrMalformed) || !strings.Contains(err.Error(), "before its receipt was ready") {
		t.Errorf("a record saved before its receipt: %v", err)
	}
	// The receipt is of a "received" event, which names no document: a
	// document handed with it is refused, not ignored.
	review := fmt.Sprintf(`{"format":%q,"document":"{\"seen\":\"forged\"}","receipt":%s}`, verify.ReviewFormat, bare)
	got, err = verify.Parse([]byte(review))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verify.File(file, got, key); !errors.Is(err, verify.ErrDocument) {
		t.Errorf("a document the entry does not name: %v, want ErrDocument", err)
	}
	for _, in := range []string{
		fmt.Sprintf(`{"format":%q,"document":"","receipt":%s}`, verify.ReviewFormat, bare),
		fmt.Sprintf(`{"format":%q,"document":"d","receipt":%s,"extra":1}`, verify.ReviewFormat, bare),
		fmt.Sprintf(`{"format":%q,"receipt":{"format":%q,"receipt":%s}}`, verify.CaptureFormat, verify.CaptureFormat, bare),
	} {
		if _, err := verify.Parse([]byte(in)); !errors.Is(err, verify.ErrMalformed) {
			t.Errorf("Parse(%.80s…) = %v, want ErrMalformed", in, err)
		}
	}
}

// A receipt written as a C2SP tlog-proof@v1 (the entry in its extra line)
// verifies with the log's key, and only with it; a changed proof line or
// checkpoint fails.
func TestTlogProof(t *testing.T) {
	rc, file, key := receipt(t)
	proof := verify.FormatProof(rc)
	if !strings.HasPrefix(string(proof), "c2sp.org/tlog-proof@v1\nextra ") || !strings.Contains(string(proof), "\nindex ") {
		t.Fatalf("proof:\n%s", proof)
	}
	got, err := verify.Parse(proof)
	if err != nil {
		t.Fatal(err)
	}
	res, err := verify.File(file, got, key)
	if err != nil || res.Index != rc.Index || res.SHA256 != rc.SHA256 {
		t.Fatalf("a genuine tlog-proof: %v %+v", err, res)
	}
	if _, err := verify.File(file, got, ""); !errors.Is(err, verify.ErrSignature) {
		t.Errorf("a tlog-proof without a key: %v, want ErrSignature", err)
	}
	lines := strings.Split(string(proof), "\n")
	for name, tc := range map[string]struct {
		proof string
		want  error
	}{
		"a proof hash added":   {strings.Replace(string(proof), lines[2]+"\n", lines[2]+"\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", 1), verify.ErrProof},
		"another index":        {strings.Replace(string(proof), lines[2], fmt.Sprintf("index %d", rc.Index+1), 1), verify.ErrProof},
		"no extra":             {strings.Replace(string(proof), lines[1]+"\n", "", 1), verify.ErrMalformed},
		"no checkpoint":        {strings.SplitN(string(proof), "\n\n", 2)[0], verify.ErrMalformed},
		"a signature changed":  {strings.Replace(string(proof), "— ", "— x", 1), verify.ErrSignature},
		"an index with a zero": {strings.Replace(string(proof), lines[2], "index 0"+strings.TrimPrefix(lines[2], "index "), 1), verify.ErrMalformed},
	} {
		r, err := verify.Parse([]byte(tc.proof))
		if err == nil {
			_, err = verify.File(file, r, key)
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

// Package never panics on a zip, and never passes one a fuzzer made: its
// entries cannot carry a signature the key checks.
func FuzzPackage(f *testing.F) {
	_, key, err := note.GenerateKey(rand.Reader, "o")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(buildSeed(f))
	f.Add([]byte("PK\x05\x06" + strings.Repeat("\x00", 18)))
	f.Fuzz(func(t *testing.T, z []byte) {
		res, err := verify.Package(bytes.NewReader(z), int64(len(z)), key)
		if err == nil && res.OK() {
			t.Fatalf("a made-up package passed: %+v", res)
		}
	})
}

// buildSeed is a small bag shaped as a package, for the fuzzer.
func buildSeed(f testing.TB) []byte {
	zero := strings.Repeat("0", 64)
	var buf bytes.Buffer
	b := bag.Bag{Top: "sightline-case-x-3", Files: []bag.File{
		bag.Bytes(verify.PackageItems, []byte(`[{"id":"a","original":"originals/a.mp4","sha256":"`+zero+`","size":1,"received_index":0,"derived":null}]`)),
		bag.Bytes(verify.PackageEntries, []byte(`{"index":0,"entry":{"type":"received","evidence":{"id":"a","sha256":"`+zero+`"},"actor":"x","at":"2026-01-01T00:00:00Z","details":{"size":"1"}}}`+"\n")),
		bag.Bytes(verify.PackageEvents, []byte(strings.Join(verify.EventsHeader, ",")+"\n0,2026-01-01T00:00:00Z,a,received,,x,,,,,,,\n")),
		bag.Bytes(verify.PackageCheckpoint, []byte("o\n1\nAAAA\n\n— o x\n")),
		bag.Bytes(verify.PackageReceipts+"events/0.tlog-proof", []byte("c2sp.org/tlog-proof@v1\nindex 0\n\no\n")),
		bag.Bytes(verify.PackageEarlier+"1", []byte("o\n1\n")),
		bag.Bytes("originals/a.mp4", []byte("x")),
	}}
	if _, err := b.WriteTo(&buf); err != nil {
		f.Fatal(err)
	}
	return buf.Bytes()
}
