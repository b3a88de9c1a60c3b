// Package witnesstest runs real witnesses on loopback for tests and
// `make witnesses`: litewitness (filippo.io/torchwood, its key held by an
// ssh-agent of its own) and omniwitness (github.com/transparency-dev/
// witness), each with a fresh database, both installed by
// scripts/deps.sh. They speak C2SP tlog-witness and cosign with C2SP
// tlog-cosignature/v1.
package witnesstest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/sightline/sightline/verify"
)

// T is what the helpers need of a test (T has it) or of a
// program (Program).
type T interface {
	Helper()
	Fatalf(format string, args ...any)
	TempDir() string
	Cleanup(func())
}

// Program is a T for programs (make witnesses, the benchmarks): Fatalf
// cleans up and exits; Close cleans up.
type Program struct{ cleanups []func() }

func (p *Program) Helper() {}

func (p *Program) Fatalf(format string, args ...any) {
	p.Close()
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func (p *Program) TempDir() string {
	d, err := os.MkdirTemp("", "sightline-witness-")
	if err != nil {
		p.Fatalf("%v", err)
	}
	p.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func (p *Program) Cleanup(f func()) { p.cleanups = append(p.cleanups, f) }

// Close runs the cleanups, the last first.
func (p *Program) Close() {
	for i := len(p.cleanups) - 1; i >= 0; i-- {
		p.cleanups[i]()
	}
	p.cleanups = nil
}

// Witness is one running witness.
type Witness struct {
	// Name is the witness's name in the policy and in its cosignatures.
	Name string
	// Key is its cosignature/v1 verifier key.
	Key string
	// URL is where it takes add-checkpoint requests.
	URL string

	t      T
	dir    string
	listen string
	argsAt func(listen string) []string
	env    []string
	bin    string
	cmd    *exec.Cmd
	exited chan struct{}
}

// tool finds an installed witness program: on PATH, or in Go's bin.
func tool(t T, name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	out, _ := exec.Command("go", "env", "GOPATH").Output()
	p := filepath.Join(strings.TrimSpace(string(out)), "bin", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is not installed (scripts/deps.sh test installs it): %v", name, err)
	}
	return p
}

// freePort is a loopback port nobody listens on now.
func freePort(t T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// cosignatureKey is the vkey of an Ed25519 witness key.
func cosignatureKey(name string, pub ed25519.PublicKey) string {
	return fmt.Sprintf("%s+%08x+%s", name, verify.CosignatureKeyID(name, pub), base64.StdEncoding.EncodeToString(append([]byte{0x04}, pub...)))
}

// Litewitness starts a litewitness named name that witnesses the log of
// origin with verifier key logKey. Its key is made by ssh-keygen and held
// by an ssh-agent started for it.
func Litewitness(t T, name, origin, logKey string) *Witness {
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	agent := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := agent.Start(); err != nil {
		t.Fatalf("ssh-agent: %v", err)
	}
	t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })
	key := filepath.Join(dir, "key")
	run(t, nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", key)
	env := append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	// The socket appears before the agent accepts on it: add the key
	// until the agent takes it.
	waitFor(t, func() bool {
		cmd := exec.Command("ssh-add", "-q", key)
		cmd.Env = env
		return cmd.Run() == nil
	}, "ssh-agent to take the key")
	fp := strings.Fields(run(t, nil, "ssh-keygen", "-l", "-E", "sha256", "-f", key+".pub"))[1]
	pub := sshEd25519(t, key+".pub")
	db := filepath.Join(dir, "litewitness.db")
	ctl := tool(t, "witnessctl")
	run(t, nil, ctl, "add-log", "-db", db, "-origin", origin)
	run(t, nil, ctl, "add-key", "-db", db, "-origin", origin, "-key", logKey)
	w := &Witness{Name: name, Key: cosignatureKey(name, pub), t: t, dir: dir, bin: tool(t, "litewitness"), env: env,
		argsAt: func(listen string) []string {
			return []string{"-db", db, "-key", fp, "-name", name, "-listen", listen, "-ssh-agent", sock}
		}}
	w.first()
	return w
}

// Omniwitness starts an omniwitness named name that witnesses the log of
// origin with verifier key logKey.
func Omniwitness(t T, name, origin, logKey string) *Witness {
	t.Helper()
	dir := t.TempDir()
	skey, _, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatalf("%v", err)
	}
	keyFile := filepath.Join(dir, "key")
	os.WriteFile(keyFile, []byte(skey), 0o600)
	// PRIVATE+KEY+name+id+base64(algorithm || seed); base64 has "+" too.
	parts := strings.SplitN(skey, "+", 5)
	seed, err := base64.StdEncoding.DecodeString(parts[len(parts)-1])
	if err != nil || len(seed) != 1+ed25519.SeedSize {
		t.Fatalf("a note key of an unexpected form: %v", err)
	}
	pub := ed25519.NewKeyFromSeed(seed[1:]).Public().(ed25519.PublicKey)
	logs := filepath.Join(dir, "logs.yaml")
	os.WriteFile(logs, fmt.Appendf(nil, "Logs:\n  - Origin: %q\n    PublicKey: %q\n    URL: \"http://127.0.0.1:1\"\n", origin, logKey), 0o644)
	w := &Witness{Name: name, Key: cosignatureKey(name, pub), t: t, dir: dir, bin: tool(t, "omniwitness"),
		argsAt: func(listen string) []string {
			return []string{"--listen", listen, "--metrics_listen", "", "--db_file", filepath.Join(dir, "omniwitness.db"),
				"--private_key_path", keyFile, "--additional_logs", logs}
		}}
	w.first()
	return w
}

// first starts the witness on a free port; another is tried if it exits
// before it answers (a port taken in between).
func (w *Witness) first() {
	w.t.Helper()
	for attempt := 0; ; attempt++ {
		w.listen = fmt.Sprintf("127.0.0.1:%d", freePort(w.t))
		w.URL = "http://" + w.listen
		if w.run() {
			return
		}
		if attempt == 2 {
			w.t.Fatalf("%s exited before answering, three times:\n%s", w.Name, w.cmd.Stderr.(*logTail).b)
		}
	}
}

// Start runs the witness again, on its port, with its database as it
// was, and waits until it answers.
func (w *Witness) Start() {
	w.t.Helper()
	if !w.run() {
		w.t.Fatalf("%s exited before answering:\n%s", w.Name, w.cmd.Stderr.(*logTail).b)
	}
}

// run starts the process and reports whether it answers (false: it
// exited first).
func (w *Witness) run() bool {
	w.t.Helper()
	w.cmd = exec.Command(w.bin, w.argsAt(w.listen)...)
	w.cmd.Env = w.env
	w.cmd.Stdout, w.cmd.Stderr = &logTail{}, &logTail{}
	if err := w.cmd.Start(); err != nil {
		w.t.Fatalf("starting %s: %v", w.Name, err)
	}
	cmd, exited := w.cmd, make(chan struct{})
	w.exited = exited
	go func() { cmd.Wait(); close(exited) }()
	w.t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	deadline := time.Now().Add(time.Minute)
	for {
		select {
		case <-exited:
			return false
		default:
		}
		if resp, err := http.Get(w.URL + "/"); err == nil {
			resp.Body.Close()
			return true
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("%s did not answer in a minute", w.Name)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop kills the witness, as a crash or an outage would.
func (w *Witness) Stop() {
	w.cmd.Process.Kill()
	<-w.exited
}

// Policy is a C2SP tlog-policy for the log with verifier key logKey:
// the witnesses, with their URLs, in one group of which k must cosign.
func Policy(logKey string, k int, ws ...*Witness) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "log %s\n", logKey)
	var names []string
	for _, w := range ws {
		fmt.Fprintf(&b, "witness %s %s %s\n", w.Name, w.Key, w.URL)
		names = append(names, w.Name)
	}
	fmt.Fprintf(&b, "group witnesses %d %s\nquorum witnesses\n", k, strings.Join(names, " "))
	return []byte(b.String())
}

func run(t T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// waitFor polls ok for up to a minute.
func waitFor(t T, ok func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sshEd25519 reads the Ed25519 public key of an OpenSSH public key file.
func sshEd25519(t T, path string) ed25519.PublicKey {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v", err)
	}
	f := strings.Fields(string(b))
	blob, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil {
		t.Fatalf("%v", err)
	}
	// string "ssh-ed25519", then string key: each a uint32 length first.
	n := binary.BigEndian.Uint32(blob)
	rest := blob[4+n:]
	if binary.BigEndian.Uint32(rest) != ed25519.PublicKeySize {
		t.Fatalf("%s is not an Ed25519 key", path)
	}
	return ed25519.PublicKey(rest[4 : 4+ed25519.PublicKeySize])
}

// logTail keeps the last 64 KiB a witness printed, for a failing test.
type logTail struct{ b []byte }

func (l *logTail) Write(p []byte) (int, error) {
	l.b = append(l.b, p...)
	if len(l.b) > 64<<10 {
		l.b = l.b[len(l.b)-64<<10:]
	}
	return len(p), nil
}
