package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/sightline/sightline/internal/client"
	"github.com/sightline/sightline/verify"
)

// export saves the evidence package of an incident or a case, resuming a
// download cut short, with a progress bar.
func (m *Main) export(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("sightline export", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() {
		fmt.Fprintln(m.Stderr, "usage: sightline export --server URL --token TOKEN (--incident ID | --case ID) --reason TEXT -o FILE.zip\n\n"+
			"Saves the evidence package (a BagIt zip a court can check offline). A run cut short resumes: run it again.")
		fs.PrintDefaults()
	}
	server := fs.String("server", "http://127.0.0.1:8080", "the Sightline server")
	token := fs.String("token", os.Getenv("SIGHTLINE_TOKEN"), "an API token of a supervisor or investigator (default $SIGHTLINE_TOKEN)")
	incident := fs.String("incident", "", "the incident to export")
	kase := fs.String("case", "", "the case to export")
	reason := fs.String("reason", "", "why it is exported (logged about every item)")
	out := fs.String("o", "", "the zip file to write")
	quiet := fs.Bool("quiet", false, "no progress display")
	if pos, err := parseInterleaved(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		fs.Usage()
		return flag.ErrHelp
	}
	kind, id := "incident", *incident
	if *kase != "" {
		kind, id = "case", *kase
	}
	switch {
	case (*incident == "") == (*kase == ""):
		return errors.New("give one of --incident ID and --case ID")
	case *reason == "":
		return errors.New("an export needs a --reason: it is logged about every item")
	case *out == "":
		return errors.New("give the file to write with -o FILE.zip")
	case *token == "":
		return errors.New("give an API token with --token (or $SIGHTLINE_TOKEN)")
	}
	if err := serverURL("server", *server); err != nil {
		return err
	}
	if _, err := os.Stat(*out); err == nil {
		return fmt.Errorf("%s exists: remove it or choose another -o", *out)
	}
	cl := &client.Client{Server: *server, Token: *token}
	bar := newProgressBar(m.Stderr, *out, *quiet)
	p, err := cl.DownloadPackage(ctx, kind, id, *reason, *out, bar.update)
	bar.done()
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "saved %s: %d bytes, sha256 %s, pinned to the log at size %d\ncheck it offline with: sightline verify-package %s --key 'THE LOG'S PUBLISHED KEY'\n",
		p.Path, p.Size, p.SHA256, p.Checkpoint, p.Path)
	return nil
}

// verifyPackage checks an evidence package offline: a line per item, OK
// or FAIL with why, and the package's own problems; exit 1 on any.
func (m *Main) verifyPackage(args []string) error {
	fs := flag.NewFlagSet("sightline verify-package", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() {
		fmt.Fprintln(m.Stderr, "usage: sightline verify-package FILE.zip --key VKEY\n\nVKEY is the custody log's published verifier key (not the one in the package).")
		fs.PrintDefaults()
	}
	key := fs.String("key", "", "the custody log's verifier key, as `sightline keys` prints it")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *key == "" {
		fs.Usage()
		return flag.ErrHelp
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	res, err := verify.Package(f, fi.Size(), *key)
	if err != nil {
		fmt.Fprintln(m.Stdout, "FAIL:", err)
		return errReported
	}
	for _, it := range res.Items {
		if len(it.Problems) == 0 {
			fmt.Fprintf(m.Stdout, "OK    %s  %s, %d events proved\n", it.ID, it.Original, it.Events)
			continue
		}
		fmt.Fprintf(m.Stdout, "FAIL  %s:", it.ID)
		for _, p := range it.Problems {
			fmt.Fprintf(m.Stdout, "\n      %s", p)
		}
		fmt.Fprintln(m.Stdout)
	}
	for _, p := range res.Problems {
		fmt.Fprintf(m.Stdout, "FAIL  package: %s\n", p)
	}
	if !res.OK() {
		return errReported
	}
	fmt.Fprintf(m.Stdout, "the package is whole and every entry is in %s at size %d (root %s)\n", res.Checkpoint.Origin, res.Checkpoint.Size, res.Checkpoint.Root)
	return nil
}
