// Command run is `make cluster`: Sightline as three replicas behind
// HAProxy on this machine, with their PostgreSQL, MariaDB and S3 server,
// until interrupted (see package cluster). Everything it starts is
// thrown away when it stops.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sightline/sightline/internal/cluster"
)

func main() {
	bin := flag.String("bin", "bin/sightline", "the sightline binary the replicas run")
	dir := flag.String("dir", "", "the folder of the replicas' data (default: a new temporary one)")
	n := flag.Int("replicas", 3, "how many replicas")
	verbose := flag.Bool("v", false, "print the replicas' and HAProxy's output")
	flag.Parse()
	if *dir == "" {
		d, err := os.MkdirTemp("", "sightline-cluster-")
		if err != nil {
			log.Fatal(err)
		}
		*dir = d
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := cluster.Config{Binary: *bin, Dir: *dir, Replicas: *n}
	if *verbose {
		cfg.Logs = func(i int, line string) { fmt.Fprintf(os.Stderr, "[%d] %s\n", i, line) }
	}
	c, err := cluster.Start(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("sightline cluster: %d replicas behind HAProxy at %s\n", *n, c.URL)
	for _, r := range c.Replicas() {
		fmt.Printf("  replica %d: http://%s, data %s\n", r.N, r.Addr, r.Data)
	}
	var quoted []string
	for _, f := range c.Flags() {
		if strings.ContainsAny(f, "?&()%") {
			f = "'" + f + "'"
		}
		quoted = append(quoted, f)
	}
	// The S3 server's keys are in this process's environment (s3test).
	flags := strings.Join(quoted, " ")
	env := fmt.Sprintf("AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s", os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"))
	fmt.Printf("stores: %s\n", flags)
	fmt.Printf("a staff account: %s %s admin create-user --data %s %s --role supervisor --name sgt.reyes --unit central --url %s\n", env, *bin, c.Replicas()[0].Data, flags, c.URL)
	fmt.Printf("the audit:       %s %s audit %s\n", env, *bin, flags)
	fmt.Println("Ctrl-C stops it and throws it all away.")
	<-ctx.Done()
	c.Stop()
	os.RemoveAll(*dir)
}
