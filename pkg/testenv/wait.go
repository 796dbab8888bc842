package testenv

import (
	"errors"
	"testing"
	"time"
)

// PollInterval is how often Eventually asks again.
const PollInterval = 50 * time.Millisecond

// Eventually calls cond until it returns nil, every PollInterval, and fails
// t with what and cond's last error if within passes first. It waits for a
// state to be reached; it measures nothing (no timed tests).
func Eventually(t testing.TB, within time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s: %v", within, what, err)
		}
		time.Sleep(PollInterval)
	}
}

// ErrNotYet is what Holds returns while its condition is false.
var ErrNotYet = errors.New("condition not met yet")

// Holds adapts a bool condition to Eventually.
func Holds(cond func() bool) func() error {
	return func() error {
		if cond() {
			return nil
		}
		return ErrNotYet
	}
}
