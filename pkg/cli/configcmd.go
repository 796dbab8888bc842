package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/orderpipe/orderpipe/internal/devstack"
	"github.com/orderpipe/orderpipe/pkg/config"
)

// runConfig prints the table of every setting the services read, as README.md shows it.
func runConfig(_ context.Context, _ []string, out io.Writer) error {
	_, err := fmt.Fprint(out, config.Markdown(devstack.ConfigVars()))
	return err
}
