"""Tables of the Stripe cache (pull side): owned by the pull engine."""
