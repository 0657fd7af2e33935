"""Self-contained dialogs for the interventions on an invoice."""
