"""Challenge-response: one-time server challenges answered with HMAC-SHA256, an Ed25519 signature or an RSA-OAEP decryption."""
