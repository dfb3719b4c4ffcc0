package main

import (
	"errors"
	"fmt"

	"github.com/nexplane/nexplane/app"
)

// exitStatus prints err as one line and maps it to an exit status.
func exitStatus(e *env, err error) int {
	if err == nil {
		return 0
	}
	var ue *errUsage
	switch {
	case errors.As(err, &ue), isConfigErr(err):
		fmt.Fprintf(e.stderr, "nexplane: %v\n", err)
		return 2
	}
	var ae *app.Error
	if errors.As(err, &ae) {
		// Application errors carry a message that is safe and meant to be shown.
		fmt.Fprintf(e.stderr, "nexplane: %s\n", ae.Message)
		return 1
	}
	fmt.Fprintf(e.stderr, "nexplane: %v\n", err)
	return 1
}
