"""Billing Desk: a desktop tool for billing support teams over Stripe."""

__version__ = "0.1.0"
