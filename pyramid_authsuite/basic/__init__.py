"""HTTP Basic authentication (RFC 7617) against the account store."""
