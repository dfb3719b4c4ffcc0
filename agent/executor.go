package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/nexplane/nexplane/agent/ops"
)

// Executor runs decoded operations against a system root. It is safe for
// use by one goroutine at a time; the runtime executes work serially so two
// operations never race on /etc/passwd.
type Executor struct {
	// Root is the system root the operations act on; "/" on a real host,
	// a temporary directory in tests (passed to the tools as --root).
	Root string
	// Tools maps "useradd", "usermod", "userdel" to absolute paths; missing
	// entries are looked up in /usr/sbin, /sbin and PATH.
	Tools map[string]string
	// Policy narrows the accepted types and allows root-equivalent groups;
	// nil accepts every compiled-in type and allows no such group.
	Policy *Policy
	// Timeout bounds one system tool run; 0 means one minute.
	Timeout time.Duration
	// AgentVersion is reported in facts.
	AgentVersion string
	// OnFactsRefresh is called after host.facts.refresh so the runtime can
	// send a heartbeat at once.
	OnFactsRefresh func()
}

// refusal is an error that stopped work before anything ran.
type refusal struct{ msg string }

func (r *refusal) Error() string { return "refused: " + r.msg }

func refuse(format string, args ...any) error {
	return &refusal{msg: fmt.Sprintf(format, args...)}
}

// Execute decodes and runs one work item and always returns a Result:
// decoding and policy failures become "refused: …" with nothing run.
func (x *Executor) Execute(ctx context.Context, w ops.Work) ops.Result {
	res := ops.Result{ID: w.ID}
	// Unknown first, so the message says what is wrong; then the host's
	// policy, before the parameters are even looked at.
	if !ops.Known(w.Type) {
		res.Error = fmt.Sprintf("refused: %v %q", ops.ErrUnknownType, w.Type)
		return res
	}
	if x.Policy != nil && !x.Policy.Allows(w.Type) {
		res.Error = fmt.Sprintf("refused: operation type %q is not allowed by this host's policy (%s)", w.Type, x.Policy.Source)
		return res
	}
	op, err := ops.Decode(w.Type, w.Params)
	if err != nil {
		res.Error = "refused: " + err.Error()
		return res
	}
	summary, details, err := x.Run(ctx, op)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	res.OK, res.Summary, res.Details = true, summary, details
	return res
}

// Run executes a validated operation. It validates again, because Run is
// exported and the agent must never trust its caller.
func (x *Executor) Run(ctx context.Context, op ops.Op) (summary string, details map[string]any, err error) {
	if err := op.Validate(); err != nil {
		return "", nil, refuse("%s: %v", op.Type(), err)
	}
	switch o := op.(type) {
	case ops.UserCreate:
		return x.userCreate(ctx, o)
	case ops.UserLock:
		return x.userLock(ctx, o.Name, true)
	case ops.UserUnlock:
		return x.userLock(ctx, o.Name, false)
	case ops.UserDelete:
		return x.userDelete(ctx, o)
	case ops.SSHKeyAdd:
		return x.sshKeyAdd(o)
	case ops.SSHKeyRemove:
		return x.sshKeyRemove(o)
	case ops.FactsRefresh:
		f := CollectFacts(x.root(), x.AgentVersion)
		x.Policy.report(&f)
		if x.OnFactsRefresh != nil {
			x.OnFactsRefresh()
		}
		return "facts refreshed", map[string]any{"facts": f}, nil
	}
	return "", nil, refuse("operation type %q has no executor", op.Type())
}

func (x *Executor) root() string {
	if x.Root == "" {
		return "/"
	}
	return filepath.Clean(x.Root)
}

// rootArgs are the shadow-utils arguments that point a tool at the root.
// On a real host ("/") none are passed, so the tools behave as usual.
func (x *Executor) rootArgs() []string {
	if r := x.root(); r != "/" {
		return []string{"--root", r}
	}
	return nil
}

func (x *Executor) tool(name string) (string, error) {
	if p := x.Tools[name]; p != "" {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if _, err := exec.LookPath(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found: %w", name, err)
	}
	return p, nil
}

// runTool runs a system tool directly, never through a shell, with a fixed
// environment so its messages are predictable.
func (x *Executor) runTool(ctx context.Context, name string, args ...string) error {
	path, err := x.tool(name)
	if err != nil {
		return err
	}
	timeout := x.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, append(x.rootArgs(), args...)...)
	cmd.Env = []string{"LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := strings.Join(strings.Fields(out.String()), " ")
		if len(msg) > 500 {
			msg = msg[:500] + "…"
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("%s exited with status %d: %s", name, ee.ExitCode(), msg)
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// mutableUser looks a user up and refuses system accounts: the name check
// in ops cannot know this host's uids.
func (x *Executor) mutableUser(name string) (passwdEntry, error) {
	u, ok, err := lookupUser(x.root(), name)
	if err != nil {
		return u, err
	}
	if !ok {
		return u, refuse("user %q does not exist", name)
	}
	if err := checkMutable(u); err != nil {
		return u, err
	}
	return u, nil
}

func checkMutable(u passwdEntry) error {
	if u.UID < ops.MinUID || u.UID > ops.MaxUID || u.Name == "root" {
		return refuse("user %q has uid %d: system accounts (uid below %d, root, nobody) are never changed", u.Name, u.UID, ops.MinUID)
	}
	return nil
}
