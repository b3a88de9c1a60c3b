package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/sightline/sightline/internal/fingerprint"
	"github.com/sightline/sightline/internal/media"
	"github.com/sightline/sightline/verify"
)

// verifyRelease checks a file of a public release against its proof and
// the log's key: that the log holds the release's manifest for this file,
// and that the file's seconds match the records its original committed
// to at intake (ffmpeg reads the file).
func (m *Main) verifyRelease(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("sightline verify-release", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() {
		fmt.Fprintln(m.Stderr, "usage: sightline verify-release FILE --manifest PROOF --key VKEY\n\n"+
			"Checks FILE, a video of a public release, against PROOF (the release's \"download with proof\":\n"+
			"GET /r/{id}/proof) and the custody log's verifier key: the log holds the release's manifest for\n"+
			"this file, and the file's sound and pictures, second by second, match the records its original\n"+
			"recording committed to when it was received. What a redaction's box hides is not compared.")
		fs.PrintDefaults()
	}
	proofPath := fs.String("manifest", "", "the release's proof (it holds the manifest)")
	key := fs.String("key", "", "the custody log's verifier key, as `sightline keys` prints it")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *proofPath == "" || *key == "" {
		fs.Usage()
		return flag.ErrHelp
	}
	proof, err := os.ReadFile(*proofPath)
	if err != nil {
		return err
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return err
	}
	defer f.Close()
	tmp, err := os.MkdirTemp("", "sightline-verify-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	again := func(fromS float64) ([]verify.Record, error) {
		tool := &media.Tool{Timeout: 30 * time.Minute}
		head := make([]byte, media.SniffLen)
		n, _ := f.ReadAt(head, 0)
		format, ok := media.Sniff(head[:n])
		if !ok || format.Kind != media.Video {
			return nil, fmt.Errorf("%s is not a video", pos[0])
		}
		info, err := tool.Inspect(ctx, pos[0], format)
		if err != nil {
			return nil, err
		}
		in := fingerprint.Input{Source: media.Source{Path: pos[0], Container: format.Container}, Sound: info.Audio != nil}
		if info.Video != nil {
			in.Width, in.Height = info.Video.Width, info.Video.Height
		}
		d, err := fingerprint.Decode(ctx, tool, in, tmp)
		if err != nil {
			return nil, err
		}
		return d.Records(fromS), nil
	}
	res, err := verify.ReleaseCheck(proof, f, *key, again)
	if err != nil {
		fmt.Fprintln(m.Stdout, "FAIL:", err)
		return errReported
	}
	fmt.Fprintln(m.Stdout, res)
	return nil
}
