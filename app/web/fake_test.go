package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/nexplane/nexplane/app"
)

// fakeType is a connector type that needs no target system, so the change
// request pages can be tested through every state quickly. Its plans and
// results are computed, never faked by the console.
const fakeType = "fake"

// fakeSecret is what fake.secret reveals once.
const fakeSecret = "generated-Secret-Value-91"

type fakeDriver struct{}

func (fakeDriver) Type() string { return fakeType }

func (fakeDriver) ValidateConfig(c json.RawMessage) (json.RawMessage, error) {
	var cfg struct {
		Label string `json:"label"`
	}
	if err := json.Unmarshal(c, &cfg); err != nil {
		return nil, app.Errorf(app.EINVALID, "fake config: must be a JSON object")
	}
	return json.Marshal(cfg)
}

func (fakeDriver) ValidateCredentials(b []byte) error {
	var c struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(b, &c); err != nil || c.Token == "" {
		return app.Errorf(app.EINVALID, "fake credentials: token is required")
	}
	return nil
}

func (fakeDriver) Connect(context.Context, json.RawMessage, []byte) (app.Conn, error) {
	return fakeConn{}, nil
}

type fakeConn struct{}

func (fakeConn) Test(context.Context) (string, error) { return "fake target reachable", nil }
func (fakeConn) Close() error                         { return nil }

// fakeNoop touches nothing; a target of "fail" makes it fail.
type fakeNoop struct {
	Target string   `json:"target"`
	Tags   []string `json:"tags,omitempty"`
	Force  bool     `json:"force,omitempty"`
}

func (o *fakeNoop) Validate() error {
	if o.Target == "" {
		return app.Errorf(app.EINVALID, "target is required")
	}
	return nil
}

func (o *fakeNoop) Plan(context.Context, app.Conn) (string, error) {
	return "would touch " + o.Target + " tags=" + strings.Join(o.Tags, ","), nil
}

func (o *fakeNoop) Execute(context.Context, app.Conn) (*app.OpResult, error) {
	if o.Target == "fail" {
		return nil, errors.New("the fake target refused")
	}
	return &app.OpResult{Summary: "touched " + o.Target}, nil
}

// fakeSecretOp produces a one-time secret for the requester.
type fakeSecretOp struct {
	Target string `json:"target"`
}

func (o *fakeSecretOp) Validate() error {
	if o.Target == "" {
		return app.Errorf(app.EINVALID, "target is required")
	}
	return nil
}

func (o *fakeSecretOp) Plan(context.Context, app.Conn) (string, error) {
	return "would make a secret for " + o.Target, nil
}

func (o *fakeSecretOp) Execute(context.Context, app.Conn) (*app.OpResult, error) {
	return &app.OpResult{Summary: "made a secret for " + o.Target, Reveal: []byte(fakeSecret)}, nil
}

func registerFake(r *app.Registry) {
	r.RegisterDriver(fakeDriver{})
	target := app.FieldSpec{Name: "target", Label: "Target", Kind: app.FieldString, Required: true}
	r.RegisterOperation(app.OperationSpec{Type: "fake.noop", ConnectorType: fakeType, Description: "Touch nothing.",
		Fields: []app.FieldSpec{target,
			{Name: "tags", Label: "Tags", Kind: app.FieldList},
			{Name: "force", Label: "Force", Kind: app.FieldBool}},
		New: func() app.Operation { return new(fakeNoop) }})
	r.RegisterOperation(app.OperationSpec{Type: "fake.secret", ConnectorType: fakeType, Description: "Make a secret.",
		Fields: []app.FieldSpec{target}, New: func() app.Operation { return new(fakeSecretOp) }})
}
