package views

import (
	"strconv"
	"strings"
)

func itoa(n int) string { return strconv.Itoa(n) }

func joinComma(s []string) string { return strings.Join(s, ", ") }

// approvalsRequired is a connector's approval policy for reading:
// "1 approval required", "2 approvals required".
func approvalsRequired(n string) string {
	if n == "1" {
		return "1 approval required"
	}
	return n + " approvals required"
}

// approvalCount says how many valid approvals a revision has and, when the
// policy is known, how many it needs.
func approvalCount(count, required string) string {
	s := count + " valid approval(s) of this revision"
	if required != "" {
		s += "; " + approvalsRequired(required)
	}
	return s
}

// boolAttr is a boolean as an attribute value: "true" or "false".
func boolAttr(b bool) string { return strconv.FormatBool(b) }
