package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// OperationKey names one operation of one change request the same way on
// every run of it, so a resumed request hands its unfinished operation to
// the target under the key of the interrupted run. Any other operation
// (another request, position, type or parameters, or a request that reuses
// an id after a restore from backup, made at another time) has another key.
// Targets that remember what they ran, like the agent, answer a repeated
// key from memory instead of running the operation twice.
func OperationKey(c *ChangeRequest, op *ChangeOperation) string {
	h := sha256.New()
	fmt.Fprintf(h, "nexplane operation key v1\x00%d\x00%d\x00%d\x00%d\x00%s\x00",
		c.ID, c.CreatedAt.UnixMilli(), op.ID, op.Seq, op.Type)
	h.Write(op.Params)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

type operationKeyCtx struct{}

// WithOperationKey carries the key of the operation being executed to its
// Execute (the engine sets it).
func WithOperationKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, operationKeyCtx{}, key)
}

// OperationKeyFrom returns the key WithOperationKey set, or "".
func OperationKeyFrom(ctx context.Context) string {
	k, _ := ctx.Value(operationKeyCtx{}).(string)
	return k
}
