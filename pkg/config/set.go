// Package config loads 12-factor configuration: every setting has an
// environment variable and a command-line flag; the flag wins when both are
// given. Settings are registered on a Set, which also renders the table of
// settings that README.md documents.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Var describes one registered setting.
type Var struct {
	Env     string
	Flag    string
	Default string
	Usage   string
	Secret  bool
}

// Set is a group of settings bound to environment variables and flags.
type Set struct {
	fs     *flag.FlagSet
	vars   []Var
	lookup func(string) (string, bool)
	errs   []error
}

// NewSet returns a Set for the named program. lookup reads the environment;
// nil means os.LookupEnv.
func NewSet(name string, lookup func(string) (string, bool)) *Set {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &Set{fs: fs, lookup: lookup}
}

// Vars returns the registered settings in registration order.
func (s *Set) Vars() []Var { return append([]Var(nil), s.vars...) }

func (s *Set) register(v Var) (string, bool) {
	s.vars = append(s.vars, v)
	return s.lookup(v.Env)
}

func (s *Set) bad(v Var, raw string, err error) {
	s.errs = append(s.errs, fmt.Errorf("%s=%q: %w", v.Env, raw, err))
}

// String registers a string setting.
func (s *Set) String(p *string, env, flagName, def, usage string) {
	v := Var{Env: env, Flag: flagName, Default: def, Usage: usage}
	*p = def
	if raw, ok := s.register(v); ok {
		*p = raw
	}
	s.fs.StringVar(p, flagName, *p, usage)
}

// Secret registers a string setting whose value is never printed.
func (s *Set) Secret(p *string, env, flagName, usage string) {
	v := Var{Env: env, Flag: flagName, Usage: usage, Secret: true}
	if raw, ok := s.register(v); ok {
		*p = raw
	}
	s.fs.StringVar(p, flagName, *p, usage)
}

// Int registers an integer setting.
func (s *Set) Int(p *int, env, flagName string, def int, usage string) {
	v := Var{Env: env, Flag: flagName, Default: strconv.Itoa(def), Usage: usage}
	*p = def
	if raw, ok := s.register(v); ok {
		n, err := strconv.Atoi(strings.TrimSpace(raw))
		if err != nil {
			s.bad(v, raw, errors.New("not an integer"))
		} else {
			*p = n
		}
	}
	s.fs.IntVar(p, flagName, *p, usage)
}

// Float registers a floating-point setting.
func (s *Set) Float(p *float64, env, flagName string, def float64, usage string) {
	v := Var{Env: env, Flag: flagName, Default: strconv.FormatFloat(def, 'g', -1, 64), Usage: usage}
	*p = def
	if raw, ok := s.register(v); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
		if err != nil {
			s.bad(v, raw, errors.New("not a number"))
		} else {
			*p = f
		}
	}
	s.fs.Float64Var(p, flagName, *p, usage)
}

// Bool registers a boolean setting.
func (s *Set) Bool(p *bool, env, flagName string, def bool, usage string) {
	v := Var{Env: env, Flag: flagName, Default: strconv.FormatBool(def), Usage: usage}
	*p = def
	if raw, ok := s.register(v); ok {
		b, err := strconv.ParseBool(strings.TrimSpace(raw))
		if err != nil {
			s.bad(v, raw, errors.New("not a boolean (true/false)"))
		} else {
			*p = b
		}
	}
	s.fs.BoolVar(p, flagName, *p, usage)
}

// Duration registers a duration setting ("250ms", "10s", "7d" is not valid Go: use "168h").
func (s *Set) Duration(p *time.Duration, env, flagName string, def time.Duration, usage string) {
	v := Var{Env: env, Flag: flagName, Default: def.String(), Usage: usage}
	*p = def
	if raw, ok := s.register(v); ok {
		d, err := time.ParseDuration(strings.TrimSpace(raw))
		if err != nil {
			s.bad(v, raw, errors.New("not a duration (e.g. 250ms, 10s, 168h)"))
		} else {
			*p = d
		}
	}
	s.fs.DurationVar(p, flagName, *p, usage)
}

// List registers a comma-separated list setting.
func (s *Set) List(p *[]string, env, flagName, def, usage string) {
	v := Var{Env: env, Flag: flagName, Default: def, Usage: usage}
	*p = splitList(def)
	if raw, ok := s.register(v); ok {
		*p = splitList(raw)
	}
	s.fs.Func(flagName, usage, func(raw string) error { *p = splitList(raw); return nil })
}

func splitList(raw string) []string {
	var out []string
	for _, part := range strings.Split(raw, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// Parse applies command-line flags over the environment and reports every
// malformed value at once.
func (s *Set) Parse(args []string) error {
	if err := s.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		s.errs = append(s.errs, err)
	}
	if s.fs.NArg() > 0 {
		s.errs = append(s.errs, fmt.Errorf("unexpected arguments: %q", s.fs.Args()))
	}
	return errors.Join(s.errs...)
}

// Usage writes the settings as help text.
func (s *Set) Usage(w io.Writer) {
	for _, v := range s.vars {
		def := v.Default
		if v.Secret {
			def = "(secret)"
		}
		fmt.Fprintf(w, "  -%s / %s (default %q)\n      %s\n", v.Flag, v.Env, def, v.Usage)
	}
}

// Markdown renders vars as a Markdown table, sorted by variable name and
// without duplicates, for README.md.
func Markdown(vars []Var) string {
	seen := map[string]bool{}
	var rows []Var
	for _, v := range vars {
		if !seen[v.Env] {
			seen[v.Env] = true
			rows = append(rows, v)
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Env < rows[j].Env })
	var b strings.Builder
	b.WriteString("| variable | flag | default | meaning |\n|---|---|---|---|\n")
	for _, v := range rows {
		def := "`" + v.Default + "`"
		if v.Default == "" {
			def = "—"
		}
		fmt.Fprintf(&b, "| `%s` | `-%s` | %s | %s |\n", v.Env, v.Flag, strings.ReplaceAll(def, "|", "\\|"), v.Usage)
	}
	return b.String()
}
