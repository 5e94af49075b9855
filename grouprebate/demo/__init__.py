"""The demo campaign: a synthetic, reproducible landing zone full of the contract's edge cases."""
