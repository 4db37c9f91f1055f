"""Hawk HTTP authentication (Hawk 1: request headers, bewits, Server-Authorization)."""
