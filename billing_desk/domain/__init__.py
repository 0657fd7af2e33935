"""Pure business rules: money, currencies, ledger, reconciliation, corrections. Stdlib only."""
