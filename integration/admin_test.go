package integration

import (
	"os/exec"
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
