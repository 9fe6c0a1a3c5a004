"""Vendor clients: plain `requests` code, base URL and credentials from configuration.

They speak each vendor's real contract (see shared/vendor-apis.md), honour its rate
windows, retry within the brief's budget, and never invent a result.
"""
