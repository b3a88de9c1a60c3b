package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/sightline/sightline/internal/media"
	"github.com/sightline/sightline/internal/redact"
	"github.com/sightline/sightline/verify"
)

// redact renders a redaction manifest again from the original, offline,
// and says whether the bytes are the manifest's.
func (m *Main) redact(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("sightline redact", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() {
		fmt.Fprintln(m.Stderr, "usage: sightline redact --manifest M --original F -o OUT\n\n"+
			"Renders the redaction M lists from the original F (which must be the one it names) into OUT, and\n"+
			"compares the result with the output M names: the same bytes prove that the released copy is the\n"+
			"original with exactly the listed changes. Needs the ffmpeg build M names.")
		fs.PrintDefaults()
	}
	manifest := fs.String("manifest", "", "the redaction's manifest (JSON, as the server gave it)")
	original := fs.String("original", "", "the original file")
	out := fs.String("o", "", "where to write the rendered video")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 || *manifest == "" || *original == "" || *out == "" {
		fs.Usage()
		return flag.ErrHelp
	}
	mf, err := readManifest(*manifest)
	if err != nil {
		return err
	}
	f, err := os.Open(*original)
	if err != nil {
		return err
	}
	err = verify.OriginalCheck(mf, f)
	f.Close()
	if err != nil {
		fmt.Fprintln(m.Stdout, "FAIL:", err)
		return errReported
	}
	tmp, err := os.MkdirTemp(filepath.Dir(*out), ".sightline-redact-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	got, err := redact.Render(ctx, &media.Tool{Timeout: 24 * time.Hour}, media.Source{Path: *original, Container: mf.Original.Container},
		mf, filepath.Join(tmp, "out.mp4"), tmp)
	if err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(tmp, "out.mp4"), *out); err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "rendered %s: SHA-256 %s (%d bytes)\n", *out, got.Output.SHA256, got.Output.Size)
	if mf.Output == nil {
		fmt.Fprintln(m.Stdout, "the manifest names no output to compare with (not rendered)")
		return nil
	}
	switch {
	case got.Output.SHA256 == mf.Output.SHA256:
		fmt.Fprintf(m.Stdout, "OK: the same bytes as the manifest's output: the original %s with its %d changes and nothing else\n",
			mf.Original.SHA256, len(mf.Changes))
		return nil
	case slices.Equal(got.StreamHashes, mf.StreamHashes):
		fmt.Fprintf(m.Stdout, "DIFFERS: the output is %s, the manifest's %s; the decoded frames and sound are the same (%v),\n"+
			"so the encoder differs: the manifest was made with ffmpeg %s, %s\n", got.Output.SHA256, mf.Output.SHA256, got.StreamHashes, mf.Tools.FFmpeg, mf.Tools.X264)
		return errReported
	default:
		fmt.Fprintf(m.Stdout, "FAIL: the output is %s, the manifest's %s, and the frames or sound differ: this manifest does not describe that output\n",
			got.Output.SHA256, mf.Output.SHA256)
		return errReported
	}
}

// readManifest reads and checks a manifest file.
func readManifest(path string) (verify.Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return verify.Manifest{}, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64<<20+1))
	if err != nil {
		return verify.Manifest{}, err
	}
	return verify.ParseManifest(b)
}

// verifyRedaction checks a redacted video against its manifest and,
// with a receipt, the log's record of it.
func (m *Main) verifyRedaction(args []string) error {
	fs := flag.NewFlagSet("sightline verify-redaction", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() {
		fmt.Fprintln(m.Stderr, "usage: sightline verify-redaction VIDEO --manifest M [--receipt R --key VKEY]\n\n"+
			"Checks that VIDEO is the output M names and, with the receipt of the \"redacted\" event and the\n"+
			"log's key, that the log holds M for it. `sightline redact` checks the changes themselves.")
		fs.PrintDefaults()
	}
	manifest := fs.String("manifest", "", "the redaction's manifest")
	receiptPath := fs.String("receipt", "", "the receipt of its redacted event (GET /api/v1/redactions/{id}/receipt)")
	key := fs.String("key", "", "the custody log's verifier key, as `sightline keys` prints it")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *manifest == "" || (*receiptPath != "") != (*key != "") {
		fs.Usage()
		return flag.ErrHelp
	}
	mb, err := os.ReadFile(*manifest)
	if err != nil {
		return err
	}
	var rc *verify.Receipt
	if *receiptPath != "" {
		b, err := os.ReadFile(*receiptPath)
		if err != nil {
			return err
		}
		r, err := verify.Parse(b)
		if err != nil {
			return err
		}
		rc = &r
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return err
	}
	defer f.Close()
	res, err := verify.RedactionCheck(mb, f, rc, *key)
	if err != nil {
		fmt.Fprintln(m.Stdout, "FAIL:", err)
		return errReported
	}
	fmt.Fprintf(m.Stdout, "OK: %s is the output of manifest %s (%d changes to original %s)\n", pos[0], res.SHA256, len(res.Manifest.Changes), res.Manifest.Original.SHA256)
	if res.Logged {
		fmt.Fprintf(m.Stdout, "OK: the log holds it: %s\n", res.Receipt)
	}
	return nil
}
