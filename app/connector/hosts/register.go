package hosts

import (
	"github.com/nexplane/nexplane/agent/ops"
	"github.com/nexplane/nexplane/app"
)

// Register adds drv and the host operation types to r.
func Register(r *app.Registry, drv Driver) {
	r.RegisterDriver(drv)
	for _, s := range Operations() {
		r.RegisterOperation(s)
	}
}

// description is what the console's type choice says about this type.
const description = "Local users and SSH keys on Linux hosts, through Nexplane agents. Needs no credentials: enroll the hosts' agents under Agents; labels pick which ones."

// ConfigSpec describes the hosts config. There are no credentials: agents
// authenticate with their own certificates.
func (Driver) ConfigSpec() app.ConfigSpec {
	return app.ConfigSpec{Label: "Hosts run by agents", Description: description, Fields: []app.ConfigField{
		{Name: "labels", Label: "Agent labels", Type: app.ConfigMap,
			Help: "key=value, one per line: the connector's agents carry all of them; empty selects every enrolled agent"},
		{Name: "timeout", Label: "Operation timeout", Type: app.ConfigText, Default: formatDuration(DefaultTimeout),
			Help: "How long an operation waits for its agent's result: 5s to 10m"},
		{Name: "ssh_key_max_age_days", Label: "Maximum SSH key age (days)", Type: app.ConfigNumber, Default: DefaultSSHKeyMaxAgeDays,
			Help: "1 to 3650 days since the key was first seen; older keys are reported as a finding"},
		app.SyncIntervalField(syncInterval),
	}}
}

// hostField is the parameter every agents operation adds to the host
// operation's own.
var hostField = app.FieldSpec{Name: "host", Label: "Host", Kind: app.FieldString, Required: true,
	Help: "The host's name as its agent reports it (e.g. web-1), or its agent id; it must be an agent of this connector."}

// Operations returns one operation type per agent/ops type, in ops order:
// the host field first, then the operation's own fields.
func Operations() []app.OperationSpec {
	specs := ops.Specs()
	out := make([]app.OperationSpec, 0, len(specs))
	for _, s := range specs {
		fields := []app.FieldSpec{hostField}
		for _, f := range s.Fields {
			fields = append(fields, app.FieldSpec{Name: f.Name, Label: f.Label, Kind: app.FieldKind(f.Kind),
				Required: f.Required, Help: f.Help})
		}
		out = append(out, app.OperationSpec{
			Type: s.Type, ConnectorType: Type,
			Description: s.Description + " Runs on the host's agent.",
			Fields:      fields,
			New:         newHostOperation(s.Type),
		})
	}
	return out
}
