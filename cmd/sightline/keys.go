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
// keys and the quorum (sightline verify --policy).
func (m *Main) keys(args []string) error {
	fs := flag.NewFlagSet("sightline keys", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	data := fs.String("data", defaultData, "the server's data folder")
	policyFile := fs.String("witness-policy", "", "the server's --witness-policy: print the policy verifiers pin (the log's key, the witnesses, the quorum)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := openData(*data); err != nil {
		return err
	}
	vkey, err := ledger.VerifierKeyOf(server.KeyFile(*data))
	if err != nil {
		return fmt.Errorf("%w (the key is created when `sightline serve` first starts)", err)
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
