package app

import (
	"maps"
	"slices"
)

// AuditEvents is the catalogue of every audit event Nexplane writes, sorted.
// The console's audit filter offers these; TestAuditEventCatalogue fails when
// a use case writes an event missing here.
var AuditEvents = []string{
	"agent.certificate_renewed",
	"agent.enrolled",
	"agent.enrollment_token_created",
	"agent.revoked",
	"api_token.created",
	"api_token.revoked",
	"asset.drift_acknowledged",
	"asset.drift_detected",
	EventAuditRollbackAccepted,
	"auth.login_failed",
	"auth.login_succeeded",
	"auth.logout",
	"auth.mfa_challenged",
	"change.approvals_insufficient",
	"change.approvals_voided",
	"change.approved",
	"change.cancelled",
	"change.created",
	"change.edited",
	"change.emergency_executed",
	"change.emergency_reviewed",
	"change.execution_started",
	"change.failed",
	"change.interrupted",
	"change.operation_failed",
	"change.operation_reconciled",
	"change.operation_started",
	"change.operation_succeeded",
	"change.rejected",
	"change.requeued",
	"change.resumed",
	"change.secret_revealed",
	"change.secrets_expired",
	"change.submitted",
	"change.succeeded",
	"connector.assets_synced",
	"connector.created",
	"connector.deleted",
	"connector.synced",
	"connector.updated",
	"identity_provider.created",
	"identity_provider.deleted",
	"identity_provider.tested",
	"identity_provider.updated",
	"mfa.disabled",
	"mfa.enrolled",
	"mfa.enrollment_started",
	"mfa.recovery_code_used",
	"mfa.recovery_codes_regenerated",
	"mfa.reset",
	"passkey.registered",
	"passkey.removed",
	"passkey.sign_count_regressed",
	"secrets.rekeyed",
	"service_account.created",
	"session.ended",
	"settings.changed",
	"user.created",
	"user.disabled",
	"user.enabled",
	"user.invitation_accepted",
	"user.invited",
	"user.login_throttle_cleared",
	"user.password_change_failed",
	"user.password_changed",
	"user.password_link_revealed",
	"user.password_reset_requested",
	"user.role_changed",
	"user.sign_in_changed",
}

// auditTypeAudit is the resource type of records about the audit log itself
// (an accepted rollback); only admins read them.
const auditTypeAudit = "audit"

// AuditResourceTypes returns the resource types of audit records, sorted:
// those of auditTypeAction and the audit log's own.
func AuditResourceTypes() []string {
	types := slices.Collect(maps.Keys(auditTypeAction))
	types = append(types, auditTypeAudit)
	slices.Sort(types)
	return types
}

// IsAuditEvent says whether event is in the catalogue.
func IsAuditEvent(event string) bool {
	_, ok := slices.BinarySearch(AuditEvents, event)
	return ok
}

// AuditFilterChoices are the values the audit filter offers an actor: every
// cataloged event and the resource types whose records the actor may read.
type AuditFilterChoices struct {
	Events        []string
	ResourceTypes []string
}

// AuditFilterChoices returns the choices of the audit filter for actor.
func (s *Service) AuditFilterChoices(actor Actor) (AuditFilterChoices, error) {
	if err := actor.require(ActReadAudit); err != nil {
		return AuditFilterChoices{}, err
	}
	types := actor.auditTypes()
	if types == nil {
		types = AuditResourceTypes()
	}
	return AuditFilterChoices{Events: slices.Clone(AuditEvents), ResourceTypes: slices.Clone(types)}, nil
}
