package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// `sightline admin` manages accounts and tokens through the running
// server's admin socket, or on the data folder itself when no server runs;
// a second server cannot open a data folder in use; every change is in the
// custody log, and the audit still passes.
func TestAdminCommands(t *testing.T) {
	data := t.TempDir()
	srv := startServer(t, data, 0)

	out, errOut, err := sightline(t, "admin", "create-user", "--data", data, "--role", "supervisor", "--name", "sgt.reyes", "--unit", "central", "--url", srv.URL)
	if err != nil || !regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(srv.URL)+`/setup/setup_[A-Za-z0-9_-]{32}$`).MatchString(out) {
		t.Fatalf("create-user: %v %q %q", err, out, errOut)
	}
	if _, errOut, err := sightline(t, "admin", "create-user", "--data", data, "--role", "officer", "--name", "ofc.lane"); err == nil || !strings.Contains(errOut, "badge") {
		t.Errorf("an officer without a badge: %v %q", err, errOut)
	}
	if _, errOut, err := sightline(t, "admin", "create-user", "--data", data, "--role", "chief", "--name", "x.y"); err == nil || !strings.Contains(errOut, "role") {
		t.Errorf("an unknown role: %v %q", err, errOut)
	}
	if _, errOut, err := sightline(t, "admin", "create-user", "--data", data, "--role", "supervisor", "--name", "sgt.reyes"); err == nil || !strings.Contains(errOut, "exists") {
		t.Errorf("a name taken: %v %q", err, errOut)
	}
	tok, errOut, err := sightline(t, "admin", "device-token", "--data", data, "--unit", "central", "--device", "dock-3")
	if err != nil || !strings.HasPrefix(tok, "sld_") {
		t.Fatalf("device-token: %v %q %q", err, tok, errOut)
	}
	id := regexp.MustCompile(`token (t_\S+);`).FindStringSubmatch(errOut)
	if id == nil {
		t.Fatalf("no token id in %q", errOut)
	}
	if out, _, err := sightline(t, "admin", "revoke", "--data", data, "--id", id[1]); err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("revoke: %v %q", err, out)
	}
	if out, _, err := sightline(t, "admin", "tokens", "--data", data); err != nil || !strings.Contains(out, "revoked") {
		t.Errorf("tokens: %v %q", err, out)
	}

	// A second server on the same folder is refused.
	second := exec.Command(bin, "serve", "--data", data, "--listen", "127.0.0.1:0")
	if b, err := second.CombinedOutput(); err == nil || !strings.Contains(string(b), "in use by another sightline process") {
		t.Errorf("a second server on the data folder: %v %s", err, b)
	}

	// With the server stopped, the command opens the folder itself.
	srv.kill()
	if out, errOut, err := sightline(t, "admin", "token", "--data", data, "--user", "sgt.reyes", "--expires", "24h"); err != nil || !strings.HasPrefix(out, "sla_") {
		t.Fatalf("token with no server: %v %q %q", err, out, errOut)
	}
	if out, _, err := sightline(t, "admin", "users", "--data", data); err != nil || !strings.Contains(out, "sgt.reyes") || !strings.Contains(out, "supervisor") {
		t.Errorf("users: %v %q", err, out)
	}
	out, _, err = sightline(t, "audit", "--data", data)
	if err != nil || !strings.HasSuffix(out, "; 0 problems\n") || !strings.Contains(out, "4 log entries") {
		t.Errorf("audit after account changes (created, issued, revoked, issued): %v %q", err, out)
	}
}

// The commands say what they need and make nothing they were not asked
// to: only `serve` creates a data folder; each command's help lists its
// own flags; no log-library lines unless --verbose.
func TestCommandsSayWhatTheyNeed(t *testing.T) {
	cwd := t.TempDir()
	run := func(args ...string) (string, string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Dir = cwd
		var o, e strings.Builder
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		return o.String(), e.String(), err
	}
	abs := filepath.Join(cwd, "sightline-data")
	for _, args := range [][]string{
		{"admin", "create-user", "--role", "officer", "--name", "ofc.lane", "--badge", "7"},
		{"admin", "users"},
		{"audit"},
		{"keys"},
	} {
		_, errOut, err := run(args...)
		if err == nil || !strings.Contains(errOut, "no Sightline data folder at "+abs) || !strings.Contains(errOut, "--data DIR") {
			t.Errorf("%v with no data folder: %v %q", args, err, errOut)
		}
	}
	for _, args := range [][]string{{"admin", "-h"}, {"admin", "create-user", "-h"}, {"help", "upload"}, {"upload", "-h"}, {"audit", "-h"}} {
		out, errOut, err := run(args...)
		if err != nil {
			t.Errorf("%v: %v %q", args, err, errOut)
		}
		help := out + errOut
		switch args[len(args)-1] {
		case "upload":
			if !strings.HasPrefix(out, "usage: sightline upload") || !strings.Contains(out, "-source") {
				t.Errorf("help upload: %q", help)
			}
		case "-h":
			if args[0] == "admin" && len(args) == 3 && (!strings.Contains(help, "-role") || strings.Contains(help, "-device") || strings.Contains(help, "-expires")) {
				t.Errorf("admin create-user -h lists flags not its own: %q", help)
			}
			if args[0] == "upload" && (strings.Contains(help, "-data") || strings.Contains(help, "-role")) {
				t.Errorf("upload -h lists flags not its own: %q", help)
			}
		}
	}
	if _, err := os.Stat(abs); !os.IsNotExist(err) {
		t.Fatalf("a command other than serve made %s: %v", abs, err)
	}
	for _, args := range [][]string{{"refresh", "--server", "localhost:8080", "x.receipt.json"}, {"admin", "create-user", "--data", "d", "--url", "example.org", "--role", "officer", "--name", "a.b", "--badge", "1"}} {
		if _, errOut, err := run(args...); err == nil || !strings.Contains(errOut, "with its scheme") && !strings.Contains(errOut, "no Sightline data folder") {
			t.Errorf("%v: %v %q", args, err, errOut)
		}
	}

	// On a real data folder, with no server running: no log-library lines.
	data := t.TempDir()
	srv := startServer(t, data, 0)
	srv.kill()
	klogLine := regexp.MustCompile(`(?m)^[IWEF]\d{4} \d\d:\d\d:\d\d`)
	for _, args := range [][]string{
		{"admin", "create-user", "--data", data, "--role", "supervisor", "--name", "sgt.reyes", "--unit", "central"},
		{"admin", "users", "--data", data},
		{"audit", "--data", data},
	} {
		out, errOut, err := run(args...)
		if err != nil || klogLine.MatchString(out+errOut) {
			t.Errorf("%v: %v\n%s%s", args, err, out, errOut)
		}
	}
	if _, errOut, err := run("admin", "create-user", "--data", data, "--url", "example.org", "--role", "officer", "--name", "a.b", "--badge", "1"); err == nil || !strings.Contains(errOut, `--url "example.org": give the server's address with its scheme`) {
		t.Errorf("a setup address without a scheme: %v %q", err, errOut)
	}
}
