package httpserver

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/pkg/testenv"
)

func TestPprofServesProfilesUntilCancelled(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Pprof(ctx, addr) }()

	var body string
	testenv.Eventually(t, 5*time.Second, "pprof answers", func() error {
		resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
		if err != nil {
			return err
		}
		defer func() { _ = resp.Body.Close() }()
		b, err := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		body = string(b)
		return err
	})
	if !strings.Contains(body, "goroutine profile") {
		t.Errorf("not a goroutine profile:\n%.200s", body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Pprof returned %v after cancel, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Pprof did not return after cancel")
	}
}
