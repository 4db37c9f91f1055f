"""HMAC service keys: HTTP Message Signatures (RFC 9421) with Content-Digest (RFC 9530), and webhook signatures."""
