// Package served runs the built sightline binary for the benchmark
// programs: it builds it, starts it on a free loopback port, watches its
// memory, and stops it.
package served

import (
	"bufio"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Build builds ./cmd/sightline into dir and returns the binary's path.
func Build(dir string) string {
	bin := filepath.Join(dir, "sightline")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/sightline").CombinedOutput(); err != nil {
		log.Fatalf("building sightline: %v\n%s", err, out)
	}
	return bin
}

// Server is a running server.
type Server struct {
	Cmd *exec.Cmd
	URL string
}

// Start serves the data folder on a free loopback port, with extra flags.
func Start(bin, data string, extra ...string) *Server {
	cmd := exec.Command(bin, append([]string{"serve", "--data", data, "--listen", "127.0.0.1:0", "--log-level", "error"}, extra...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		log.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "sightline: serving on "); ok {
			go io.Copy(io.Discard, out)
			return &Server{cmd, strings.Fields(rest)[0]}
		}
	}
	log.Fatal("the server did not start")
	return nil
}

// Stop shuts the server down cleanly and waits.
func (s *Server) Stop() {
	s.Cmd.Process.Signal(syscall.SIGTERM)
	s.Cmd.Wait()
}

// WatchRSS samples the server's resident memory and returns a function
// that gives its peak (the kernel's high-water mark, and the samples).
func (s *Server) WatchRSS() func() int64 {
	pid := s.Cmd.Process.Pid
	var peak atomic.Int64
	stop := make(chan struct{})
	read := func(field string) int64 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return 0
		}
		for line := range strings.Lines(string(b)) {
			if rest, ok := strings.CutPrefix(line, field+":"); ok {
				kb, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
				return kb << 10
			}
		}
		return 0
	}
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if v := read("VmRSS"); v > peak.Load() {
				peak.Store(v)
			}
		}
	}()
	return func() int64 {
		close(stop)
		return max(peak.Load(), read("VmHWM"))
	}
}
