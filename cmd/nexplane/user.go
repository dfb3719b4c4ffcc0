package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/nexplane/nexplane/app"
)

func cmdUser(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usageErr("user: missing subcommand (create, reset-password, reset-mfa, unlock, list, password-login)")
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "create":
		return cmdUserCreate(ctx, e, args)
	case "reset-password":
		return cmdUserResetPassword(ctx, e, args)
	case "reset-mfa":
		return cmdUserResetMFA(ctx, e, args)
	case "unlock":
		return cmdUserUnlock(ctx, e, args)
	case "list":
		return cmdUserList(ctx, e, args)
	case "password-login":
		return cmdUserPasswordLogin(ctx, e, args)
	default:
		return usageErr("user: unknown subcommand %q (create, reset-password, reset-mfa, unlock, list, password-login)", sub)
	}
}

// readPassword takes the first line of stdin; passwords never travel in
// argv, where other local users could read them.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", usageErr("no password on stdin (pipe it in: printf '%%s\\n' \"$PW\" | nexplane ... --password-stdin)")
	}
	return pw, nil
}

func cmdUserCreate(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("user create", e.stderr)
	email := fs.String("email", "", "email address")
	role := fs.String("role", "", "admin, operator, approver or viewer")
	pwStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin")
	cfg, err := loadConfig(e.getenv, fs, args, false)
	if err != nil {
		return err
	}
	if *email == "" || *role == "" || !*pwStdin {
		return usageErr("user create: --email, --role and --password-stdin are required")
	}
	pw, err := readPassword(e.stdin)
	if err != nil {
		return err
	}
	d, err := openDeps(ctx, e, cfg, true)
	if err != nil {
		return err
	}
	defer d.Close()
	u, err := d.svc.CreateUser(ctx, app.SystemActor("cli"), app.NewUser{Email: *email, Password: pw, Role: *role})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "created user %d %s (%s)\n", u.ID, u.Email, u.Role)
	return nil
}

func cmdUserResetPassword(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("user reset-password", e.stderr)
	email := fs.String("email", "", "email address")
	pwStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin")
	cfg, err := loadConfig(e.getenv, fs, args, false)
	if err != nil {
		return err
	}
	if *email == "" || !*pwStdin {
		return usageErr("user reset-password: --email and --password-stdin are required")
	}
	pw, err := readPassword(e.stdin)
	if err != nil {
		return err
	}
	d, err := openDeps(ctx, e, cfg, true)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.svc.ResetPassword(ctx, app.SystemActor("cli"), *email, pw); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "password reset for %s; their sessions and tokens have ended\n", strings.ToLower(strings.TrimSpace(*email)))
	return nil
}

// cmdUserResetMFA removes a user's second factors and recovery codes (a lost
// device). Their sessions and tokens end; under an MFA policy that covers
// them they enrol again at their next console login.
func cmdUserResetMFA(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("user reset-mfa", e.stderr)
	email := fs.String("email", "", "email address")
	cfg, err := loadConfig(e.getenv, fs, args, false)
	if err != nil {
		return err
	}
	if *email == "" {
		return usageErr("user reset-mfa: --email is required")
	}
	d, err := openDeps(ctx, e, cfg, true)
	if err != nil {
		return err
	}
	defer d.Close()
	u, err := d.svc.ResetMFA(ctx, app.SystemActor("cli"), *email)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "two-factor authentication reset for %s; their sessions and tokens have ended\n", u.Email)
	return nil
}

// cmdUserUnlock clears a user's login throttling. The reset is written to
// the database, where every running server reads it at the next login.
func cmdUserUnlock(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("user unlock", e.stderr)
	email := fs.String("email", "", "email address")
	cfg, err := loadConfig(e.getenv, fs, args, false)
	if err != nil {
		return err
	}
	if *email == "" {
		return usageErr("user unlock: --email is required")
	}
	d, err := openDeps(ctx, e, cfg, true)
	if err != nil {
		return err
	}
	defer d.Close()
	u, err := d.svc.ClearLoginThrottle(ctx, app.SystemActor("cli"), *email)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "login throttling cleared for %s\n", u.Email)
	return nil
}

// cmdUserPasswordLogin switches password sign-in for everyone: the way
// back in when it is off and the identity provider is unreachable.
func cmdUserPasswordLogin(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("user password-login", e.stderr)
	cfg, err := loadConfig(e.getenv, fs, args, false)
	if err != nil {
		return err
	}
	var disabled bool
	switch fs.Arg(0) {
	case "on":
	case "off":
		disabled = true
	default:
		return usageErr("user password-login: say on or off")
	}
	d, err := openDeps(ctx, e, cfg, true)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.svc.SetLocalLoginDisabled(ctx, app.SystemActor("cli"), disabled); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "password sign-in is %s\n", fs.Arg(0))
	return nil
}

func cmdUserList(ctx context.Context, e *env, args []string) error {
	cfg, err := loadConfig(e.getenv, newFlagSet("user list", e.stderr), args, false)
	if err != nil {
		return err
	}
	d, err := openDeps(ctx, e, cfg, true)
	if err != nil {
		return err
	}
	defer d.Close()
	users, err := d.svc.ListUsers(ctx, app.SystemActor("cli"))
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEMAIL\tROLE\tSTATUS\tCREATED")
	for _, u := range users {
		status := "active"
		if u.Disabled {
			status = "disabled"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", u.ID, u.Email, u.Role, status, u.CreatedAt.UTC().Format("2006-01-02 15:04Z"))
	}
	return tw.Flush()
}
