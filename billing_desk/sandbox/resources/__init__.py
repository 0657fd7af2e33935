"""The Stripe resources the sandbox serves, one module each (handlers take a `Call`)."""
