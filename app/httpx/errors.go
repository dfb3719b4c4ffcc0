package httpx

import (
	"errors"

	"github.com/nexplane/nexplane/app"
)

func asAppError(err error, target **app.Error) bool { return errors.As(err, target) }
