"""Customers: profiles with identities across channels, and what routing reads from them."""
