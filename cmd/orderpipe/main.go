// Command orderpipe is the one CLI for people: the dev stack, topics, the
// local test servers, and more. Run it without arguments for the list.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/orderpipe/orderpipe/pkg/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Run(ctx, os.Args[1:], os.Stdout)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, cli.ErrUsage):
		fmt.Fprintln(os.Stderr, "orderpipe:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "orderpipe:", err)
		os.Exit(1)
	}
}
