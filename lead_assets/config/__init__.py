"""Versioned sprint configuration (target profile, targets, prices) and environment settings."""
