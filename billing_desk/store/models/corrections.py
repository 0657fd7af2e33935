"""Tables of corrections, approvals, holds, the audit trail and staff: owned by corrections."""
