package app

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// notAuditEvents are dotted literals with an event's prefix that are not
// events: actions, file names, setting keys.
var notAuditEvents = []string{
	"agent.conf", "audit.checkpoint_public_key", "audit.checkpoint_signing_key", "audit.pub", "audit.read",
	"auth.jwt_signing_key", "connector.rotate_credentials", "settings.manage",
}

// TestAuditEventCatalogue reads every non-test Go file of the server and
// fails when a dotted literal that names an event (its prefix is one of the
// catalogue's) is missing from AuditEvents, or when an event is built by
// concatenation from a prefix the test does not know how to expand.
func TestAuditEventCatalogue(t *testing.T) {
	if !slices.IsSorted(AuditEvents) || len(slices.Compact(slices.Clone(AuditEvents))) != len(AuditEvents) {
		t.Fatal("AuditEvents must be sorted and unique (IsAuditEvent searches it)")
	}
	prefixes := map[string]bool{}
	for _, e := range AuditEvents {
		p, _, _ := strings.Cut(e, ".")
		prefixes[p] = true
	}
	for _, ty := range AuditResourceTypes() {
		prefixes[ty] = true
	}
	dotted := regexp.MustCompile(`^([a-z_]+)\.[a-z_]+$`)
	seen := map[string]bool{}
	fset := token.NewFileSet()
	for _, root := range []string{".", "../cmd", "../store"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") ||
				strings.Contains(path, "test"+string(filepath.Separator)) {
				return nil
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch x := n.(type) {
				case *ast.BasicLit:
					if x.Kind != token.STRING {
						return true
					}
					s, err := strconv.Unquote(x.Value)
					if err != nil {
						return true
					}
					m := dotted.FindStringSubmatch(s)
					if m == nil || !prefixes[m[1]] || slices.Contains(notAuditEvents, s) {
						return true
					}
					seen[s] = true
					if !IsAuditEvent(s) {
						t.Errorf("%s: %q looks like an audit event but is not in AuditEvents (app/auditcatalogue.go); add it, or to notAuditEvents if it is not one", fset.Position(x.Pos()), s)
					}
				case *ast.BinaryExpr:
					lit, ok := x.X.(*ast.BasicLit)
					if !ok || x.Op != token.ADD || lit.Kind != token.STRING {
						return true
					}
					s, _ := strconv.Unquote(lit.Value)
					p, ok := strings.CutSuffix(s, ".")
					if !ok || !prefixes[p] {
						return true
					}
					// The engine closes a run as change.<final state>.
					if s != "change." {
						t.Errorf("%s: event built as %q+…: list its values in AuditEvents and teach this test", fset.Position(x.Pos()), s)
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, st := range []ChangeState{StateSucceeded, StateFailed} {
		if !IsAuditEvent("change." + string(st)) {
			t.Errorf("change.%s (written by the engine) is missing from AuditEvents", st)
		}
	}
	// The catalogue holds only events something writes.
	seen[EventAuditRollbackAccepted] = true
	for _, e := range AuditEvents {
		if !seen[e] {
			t.Errorf("AuditEvents lists %q but no server code writes it", e)
		}
	}
}

func TestAuditFilterChoicesFollowReadableTypes(t *testing.T) {
	s := &Service{}
	admin, err := s.AuditFilterChoices(Actor{Type: ActorUser, ID: "1", Role: RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(admin.ResourceTypes, AuditResourceTypes()) || !slices.Equal(admin.Events, AuditEvents) {
		t.Fatalf("admin choices = %+v", admin)
	}
	if !slices.Contains(admin.ResourceTypes, "audit") || !slices.Contains(admin.ResourceTypes, "user") {
		t.Fatalf("admin resource types %v", admin.ResourceTypes)
	}
	for _, r := range []Role{RoleOperator, RoleApprover, RoleViewer} {
		c, err := s.AuditFilterChoices(Actor{Type: ActorUser, ID: "2", Role: r})
		if err != nil {
			if ErrCode(err) == EFORBIDDEN && !Can(r, ActReadAudit) {
				continue
			}
			t.Fatalf("%s: %v", r, err)
		}
		if !slices.Equal(c.ResourceTypes, AuditReadableTypes(r)) {
			t.Errorf("%s: resource types %v, want %v", r, c.ResourceTypes, AuditReadableTypes(r))
		}
	}
}
