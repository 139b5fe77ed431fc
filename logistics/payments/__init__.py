"""Payments in (Stripe, PayPal, cash on delivery) and payouts out, behind small protocols."""
