package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/sightline/sightline/internal/client"
	"github.com/sightline/sightline/internal/durable"
	"github.com/sightline/sightline/verify"
)

// refresh brings receipts up to the custody log's latest checkpoint. Each
// refreshed receipt is checked, with the key, to prove everything the old
// one did and that the log extends every checkpoint the old one held,
// before it replaces the old file.
func (m *Main) refresh(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("sightline refresh", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() {
		fmt.Fprintln(m.Stderr, "usage: sightline refresh --server URL [--key VKEY] RECEIPT...\n\nEach RECEIPT (a .receipt.json file) is replaced by one for the log's latest checkpoint, once it checks.")
		fs.PrintDefaults()
	}
	server := fs.String("server", "http://127.0.0.1:8080", "the Sightline server whose log issued the receipts")
	key := fs.String("key", "", "the custody log's verifier key; default: the key in each old receipt")
	files, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		fs.Usage()
		return flag.ErrHelp
	}
	if err := serverURL("server", *server); err != nil {
		return err
	}
	cl := &client.Client{Server: *server}
	failed := 0
	for _, path := range files {
		line, err := m.refreshOne(ctx, cl, path, *key)
		if err != nil {
			fmt.Fprintf(m.Stdout, "FAIL: %s: %v\n", path, err)
			failed++
			continue
		}
		fmt.Fprintln(m.Stdout, line)
	}
	if failed > 0 {
		return errReported
	}
	return nil
}

func (m *Main) refreshOne(ctx context.Context, cl *client.Client, path, key string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	old, err := verify.Parse(b)
	if err != nil {
		return "", err
	}
	if key == "" {
		key = old.VerifierKey
	}
	before, err := verify.Check(old, key)
	if err != nil {
		return "", fmt.Errorf("the receipt held does not check: %w", err)
	}
	next, err := cl.Refresh(ctx, old)
	if err != nil {
		return "", err
	}
	after, err := verify.Extends(old, next, key)
	if err != nil {
		return "", fmt.Errorf("the server's answer: %w", err)
	}
	out, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return "", err
	}
	if err := durable.WriteFile(path, append(out, '\n'), 0o644); err != nil {
		return "", err
	}
	return fmt.Sprintf("refreshed %s: index %d, checkpoint of size %d -> %d, consistent with %d earlier checkpoints",
		path, after.Index, before.TreeSize, after.TreeSize, len(after.Earlier)), nil
}
