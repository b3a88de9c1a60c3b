package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/sightline/sightline/internal/ledger"
	"github.com/sightline/sightline/internal/server"
	"github.com/sightline/sightline/verify"
)

// keys prints the custody log's verifier key: what a verifier needs to
// check receipts and checkpoints offline. With --witness-policy it prints
// the policy a verifier pins instead: this log's key, the witnesses'
// keys and the quorum (sightline verify --policy). With --new FILE it
// makes a signing key for a log several servers will share (each is
// given the file, --log-key, or its contents, $SIGHTLINE_LOG_KEY).
func (m *Main) keys(args []string) error {
	fs := flag.NewFlagSet("sightline keys", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	data := fs.String("data", defaultData, "the server's data folder")
	policyFile := fs.String("witness-policy", "", "the server's --witness-policy: print the policy verifiers pin (the log's key, the witnesses, the quorum)")
	keyFile := fs.String("log-key", "", "the log's signing key file, if not the data folder's log.key")
	newKey := fs.String("new", "", "make a new signing key in this file (mode 0600; refused if it exists) for a log several servers share, and print its verifier key")
	origin := fs.String("origin", server.DefaultLogOrigin, "with --new: the log's name in its checkpoints, such as sightline.example.org/log")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *newKey != "" {
		vkey, err := ledger.NewKeyFile(*newKey, *origin)
		if err != nil {
			return err
		}
		fmt.Fprintln(m.Stdout, vkey)
		return nil
	}
	var vkey string
	var err error
	switch {
	case *keyFile != "":
		vkey, err = ledger.VerifierKeyOf(*keyFile)
	case os.Getenv(logKeyEnv) != "":
		vkey, err = ledger.VerifierKeyFor(os.Getenv(logKeyEnv))
	default:
		if err := openData(*data); err != nil {
			return err
		}
		if vkey, err = ledger.VerifierKeyOf(server.KeyFile(*data)); err != nil {
			err = fmt.Errorf("%w (the key is created when `sightline serve` first starts)", err)
		}
	}
	if err != nil {
		return err
	}
	if *policyFile == "" {
		fmt.Fprintln(m.Stdout, vkey)
		return nil
	}
	b, err := os.ReadFile(*policyFile)
	if err != nil {
		return err
	}
	if _, err := verify.ParsePolicy(b); err != nil {
		return fmt.Errorf("%s: %w", *policyFile, err)
	}
	// This log's key first; the policy's own log lines (this log or
	// others) and everything else as the file has them.
	fmt.Fprintf(m.Stdout, "# the witness policy of the custody log %s: pin it, check with `sightline verify --policy`\nlog %s\n", strings.SplitN(vkey, "+", 2)[0], vkey)
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "log" && f[1] == vkey {
			continue
		}
		fmt.Fprint(m.Stdout, line)
	}
	return nil
}
