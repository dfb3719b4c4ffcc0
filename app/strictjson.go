package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// DecodeStrictJSON decodes exactly one JSON object into v, refusing unknown
// fields and trailing data. Its errors name fields and types but never
// values, so it is safe for credentials and operation parameters.
func DecodeStrictJSON(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if dec.Decode(&struct{}{}) != io.EOF {
			return errors.New("must be a single JSON object")
		}
		return nil
	}
	var typ *json.UnmarshalTypeError
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &typ) && typ.Field != "":
		return fmt.Errorf("field %q has the wrong type", typ.Field)
	case errors.As(err, &syn), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("malformed JSON")
	}
	// encoding/json reports unknown fields only through its message.
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return errors.New("unknown field " + f)
	}
	return errors.New("must be a JSON object")
}
