// Command nexplane-agent is the Nexplane host agent.
//
//	nexplane-agent enroll --server URL --token T --ca-sha256 H [--state-dir D] [--force]
//	nexplane-agent run    [--state-dir D] [--config F] [--root R] [--server URL]
//	nexplane-agent status [--state-dir D] [--root R] [--server URL]
//	nexplane-agent version
//
// Environment mirrors the flags: NEXPLANE_AGENT_STATE_DIR,
// NEXPLANE_AGENT_SERVER, NEXPLANE_AGENT_CONFIG, NEXPLANE_AGENT_ROOT,
// NEXPLANE_AGENT_TOKEN (keeps the token out of the process list).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nexplane/nexplane/agent"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError makes the exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{msg: fmt.Sprintf(format, args...)} }

const usage = `usage:
  nexplane-agent enroll --server URL --token T --ca-sha256 H [--state-dir D] [--force]
  nexplane-agent run [--state-dir D] [--config F] [--root R] [--server URL]
  nexplane-agent status [--state-dir D] [--root R] [--server URL]
  nexplane-agent version`

// run executes one command and returns the exit status: 0 success,
// 1 failure, 2 usage. Errors are one line on stderr.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var err error
	if len(args) == 0 {
		err = usagef("no command given")
	} else {
		cmd, rest := args[0], args[1:]
		switch cmd {
		case "enroll":
			err = cmdEnroll(ctx, rest, getenv, stdout, log)
		case "run":
			err = cmdRun(ctx, rest, getenv, log)
		case "status":
			err = cmdStatus(ctx, rest, getenv, stdout)
		case "version", "--version", "-v":
			fmt.Fprintf(stdout, "nexplane-agent %s\n", version)
		case "help", "-h", "--help":
			fmt.Fprintln(stdout, usage)
		default:
			err = usagef("unknown command %q", cmd)
		}
	}
	if err == nil {
		return 0
	}
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "nexplane-agent: %s (nexplane-agent help shows usage)\n", msg)
		return 2
	}
	fmt.Fprintf(stderr, "nexplane-agent: %s\n", msg)
	return 1
}

// flags builds a flag set whose errors become usage errors.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return usagef("%s: %v", fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return usagef("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

// envDefault is the environment value for a flag's default.
func envDefault(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

func cmdEnroll(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer, log *slog.Logger) error {
	fs := newFlags("enroll")
	o := agent.EnrollOptions{Logger: log}
	fs.StringVar(&o.Server, "server", getenv("NEXPLANE_AGENT_SERVER"), "control plane URL, https://host[:8444]")
	fs.StringVar(&o.Token, "token", getenv("NEXPLANE_AGENT_TOKEN"), "single-use enrollment token")
	fs.StringVar(&o.CASHA256, "ca-sha256", getenv("NEXPLANE_AGENT_CA_SHA256"), "hex SHA-256 fingerprint of the CA certificate")
	fs.StringVar(&o.StateDir, "state-dir", envDefault(getenv, "NEXPLANE_AGENT_STATE_DIR", agent.DefaultStateDir), "state directory")
	fs.BoolVar(&o.Force, "force", false, "replace an existing enrollment")
	if err := parse(fs, args); err != nil {
		return err
	}
	for _, req := range []struct{ name, v string }{{"--server", o.Server}, {"--token", o.Token}, {"--ca-sha256", o.CASHA256}} {
		if req.v == "" {
			return usagef("enroll: %s is required", req.name)
		}
	}
	id, err := agent.Enroll(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "enrolled as %s with %s; state in %s\n", id.AgentID, id.Server, o.StateDir)
	return nil
}

func cmdRun(ctx context.Context, args []string, getenv func(string) string, log *slog.Logger) error {
	fs := newFlags("run")
	o := agent.RunOptions{Logger: log, AgentVersion: version}
	fs.StringVar(&o.StateDir, "state-dir", envDefault(getenv, "NEXPLANE_AGENT_STATE_DIR", agent.DefaultStateDir), "state directory")
	fs.StringVar(&o.ConfigPath, "config", envDefault(getenv, "NEXPLANE_AGENT_CONFIG", agent.DefaultConfigPath), "local policy file")
	fs.StringVar(&o.Root, "root", envDefault(getenv, "NEXPLANE_AGENT_ROOT", "/"), "system root the operations act on")
	fs.StringVar(&o.Server, "server", getenv("NEXPLANE_AGENT_SERVER"), "override the enrolled server URL")
	if err := parse(fs, args); err != nil {
		return err
	}
	// A policy file named on purpose must exist; the default may be absent.
	o.ConfigRequired = o.ConfigPath != agent.DefaultConfigPath
	return agent.Run(ctx, o)
}

func cmdStatus(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := newFlags("status")
	o := agent.StatusOptions{AgentVersion: version}
	fs.StringVar(&o.StateDir, "state-dir", envDefault(getenv, "NEXPLANE_AGENT_STATE_DIR", agent.DefaultStateDir), "state directory")
	fs.StringVar(&o.Root, "root", envDefault(getenv, "NEXPLANE_AGENT_ROOT", "/"), "system root for the inventory")
	fs.StringVar(&o.Server, "server", getenv("NEXPLANE_AGENT_SERVER"), "override the enrolled server URL")
	if err := parse(fs, args); err != nil {
		return err
	}
	rep, err := agent.Status(ctx, o)
	if err != nil {
		return err
	}
	conn := "ok"
	if rep.Connectivity != nil {
		conn = rep.Connectivity.Error()
	}
	fmt.Fprintf(stdout, "agent id:     %s\nserver:       %s\nsubject:      %s\nserial:       %s\nnot after:    %s\nremaining:    %s\nconnectivity: %s\n",
		rep.AgentID, rep.Server, rep.Subject, rep.Serial, rep.NotAfter.UTC().Format(time.RFC3339),
		rep.Remaining.Round(time.Second), conn)
	if rep.Connectivity != nil {
		return errors.New("server not reachable: " + conn)
	}
	return nil
}
