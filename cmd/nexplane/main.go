// Command nexplane is the Nexplane control plane: the server and its admin CLI.
//
//	nexplane [serve]                         run the server
//	nexplane migrate                         apply database migrations and exit
//	nexplane user create --email E --role R --password-stdin
//	nexplane user reset-password --email E --password-stdin
//	nexplane user reset-mfa --email E
//	nexplane user list
//	nexplane audit verify
//	nexplane audit export [--from T] [--to T]
//	nexplane rekey
//	nexplane backup --to FILE
//	nexplane restore --from FILE
//	nexplane version
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/nexplane/nexplane/app/auth"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], newEnv(os.Getenv, os.Stdin, os.Stdout, os.Stderr))
	stop()
	os.Exit(code)
}

// env bundles what a command may touch, so tests can run commands in-process.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	log    *slog.Logger
	// bcryptCost is auth.DefaultCost; tests lower it to keep suites fast.
	bcryptCost int
}

func newEnv(getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) *env {
	return &env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr, bcryptCost: auth.DefaultCost,
		log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
}

// run dispatches a command and returns the process exit status: 0 success,
// 1 failure, 2 usage or configuration error.
func run(ctx context.Context, args []string, e *env) int {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	// The server logs its life at info level; CLI commands only warnings, so
	// their output stays the one line a script reads.
	level := slog.LevelWarn
	if cmd == "serve" {
		level = slog.LevelInfo
	}
	e.log = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	var err error
	switch cmd {
	case "serve":
		err = cmdServe(ctx, e, args)
	case "migrate":
		err = cmdMigrate(ctx, e, args)
	case "user":
		err = cmdUser(ctx, e, args)
	case "audit":
		err = cmdAudit(ctx, e, args)
	case "rekey":
		err = cmdRekey(ctx, e, args)
	case "backup":
		err = cmdBackup(ctx, e, args)
	case "restore":
		err = cmdRestore(ctx, e, args)
	case "version", "--version", "-v":
		fmt.Fprintf(e.stdout, "nexplane %s\n", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(e.stdout, usage)
		return 0
	default:
		err = usageErr("unknown command %q (try: nexplane help)", cmd)
	}
	return exitStatus(e, err)
}

const usage = `Usage:
  nexplane [serve]                                      run the server
  nexplane migrate                                      apply database migrations and exit
  nexplane user create --email E --role R --password-stdin
  nexplane user reset-password --email E --password-stdin
  nexplane user reset-mfa --email E                     remove a user's second factors (lost device)
  nexplane user list
  nexplane audit verify                                 check the audit hash chain
  nexplane audit export [--from T] [--to T]             audit records as JSON Lines
  nexplane rekey                                        re-seal every stored secret under SECRET_KEY
  nexplane backup --to FILE                             consistent copy of the SQLite database (server may run)
  nexplane restore --from FILE                          put a backup in place (server stopped)
  nexplane version

Configuration comes from the environment (see README): SECRET_KEY,
SECRET_KEY_PREVIOUS, NEXPLANE_DATA_DIR, DATABASE_URL, NEXPLANE_LISTEN, NEXPLANE_TLS_CERT,
NEXPLANE_TLS_KEY, NEXPLANE_INSECURE_HTTP.
`

type errUsage struct{ msg string }

func (e *errUsage) Error() string { return e.msg }

func usageErr(format string, args ...any) error { return &errUsage{fmt.Sprintf(format, args...)} }
