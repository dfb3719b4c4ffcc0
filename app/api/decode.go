package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/httpx"
)

// maxBody caps every JSON request body.
const maxBody = 64 << 10

// decode reads exactly one JSON object into v, refusing unknown fields,
// trailing data, wrong content types and oversized bodies.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return app.Errorf(app.EINVALID, "Content-Type must be application/json")
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return app.Errorf(app.EINVALID, "request body must hold a single JSON object")
	}
	return nil
}

// decodeOptional is decode for endpoints whose body may be absent.
func decodeOptional(w http.ResponseWriter, r *http.Request, v any) error {
	if r.ContentLength == 0 {
		return nil
	}
	return decode(w, r, v)
}

func decodeError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, io.EOF):
		return app.Errorf(app.EINVALID, "request body is empty; a JSON object is required")
	case errors.As(err, &tooBig):
		return app.Errorf(app.EINVALID, "request body is larger than %d bytes", tooBig.Limit)
	case errors.As(err, &syn):
		return app.Errorf(app.EINVALID, "malformed JSON at byte %d", syn.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return app.Errorf(app.EINVALID, "malformed JSON: unexpected end of body")
	case errors.As(err, &typ):
		if typ.Field != "" {
			return app.Errorf(app.EINVALID, "field %q must be a %s", typ.Field, jsonKind(typ.Type.Kind().String()))
		}
		return app.Errorf(app.EINVALID, "request body must be a JSON object")
	default:
		// encoding/json reports unknown fields only through its message.
		if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return app.Errorf(app.EINVALID, "unknown field %s", field)
		}
		return app.Errorf(app.EINVALID, "malformed JSON request body")
	}
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "int", "int64", "float64":
		return "number"
	case "map", "struct":
		return "object"
	case "slice":
		return "array"
	default:
		return k
	}
}

// pathID parses a positive integer path value.
func pathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, app.Errorf(app.EINVALID, "%s must be a positive integer", name)
	}
	return id, nil
}

// muxErrorsAsJSON rewrites the mux's own plain-text 404 and 405 answers into
// the JSON error envelope; handlers' JSON errors pass through untouched.
func muxErrorsAsJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&jsonStatusWriter{ResponseWriter: w, r: r}, r)
	})
}

type jsonStatusWriter struct {
	http.ResponseWriter
	r          *http.Request
	suppressed bool
}

func (w *jsonStatusWriter) WriteHeader(status int) {
	if (status == http.StatusMethodNotAllowed || status == http.StatusNotFound) &&
		w.Header().Get("Content-Type") != "application/json; charset=utf-8" {
		w.suppressed = true
		detail := httpx.ErrorDetail{Code: app.ENOTFOUND, RequestID: httpx.RequestID(w.r.Context()),
			Message: fmt.Sprintf("no such endpoint: %s %s", w.r.Method, w.r.URL.Path)}
		if status == http.StatusMethodNotAllowed {
			detail.Code = "method_not_allowed"
			detail.Message = fmt.Sprintf("method %s is not allowed on %s", w.r.Method, w.r.URL.Path)
		}
		httpx.WriteJSON(w.ResponseWriter, status, httpx.ErrorBody{Error: detail})
		return
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *jsonStatusWriter) Write(b []byte) (int, error) {
	if w.suppressed {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}
