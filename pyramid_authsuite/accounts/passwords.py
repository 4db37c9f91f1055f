"""Password hashing for the account store: Argon2id through argon2-cffi.

The defaults follow the OWASP Password Storage Cheat Sheet for Argon2id
(m=19 MiB, t=2, p=1). Hashes are self-describing PHC strings
(``$argon2id$v=19$m=19456,t=2,p=1$salt$hash``), so parameters can be raised
later: :meth:`PasswordHasher.needs_rehash` says when a stored hash was made
with other parameters, and the store rehashes it at the next successful login.
"""
from __future__ import annotations

import secrets

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["PasswordHasher"]


def _check_positive_int(name: str, value: object) -> int:
    # bool is an int subclass; True as "1 iteration" is always a mistake.
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


class PasswordHasher:
    """Hash and verify passwords with Argon2id.

    Constructor arguments:

    ``time_cost``
        Number of iterations (t), default 2.
    ``memory_cost``
        Memory in KiB (m), default 19456 (19 MiB). At least ``8 * parallelism``,
        the minimum Argon2 accepts.
    ``parallelism``
        Number of lanes (p), default 1.

    Bad values raise ``ValueError``. One dummy hash is made at construction
    with the same parameters, for :meth:`verify_dummy`.
    """

    def __init__(self, time_cost: int = 2, memory_cost: int = 19456, parallelism: int = 1):
        _check_positive_int("time_cost", time_cost)
        _check_positive_int("memory_cost", memory_cost)
        _check_positive_int("parallelism", parallelism)
        if memory_cost < 8 * parallelism:
            raise ValueError(
                f"memory_cost must be at least 8 * parallelism KiB "
                f"({8 * parallelism}), got {memory_cost}"
            )
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            type=argon2.Type.ID,
        )
        # Made once, with the same parameters as real hashes, so verifying a
        # password for an unknown userid costs exactly as much as a wrong one.
        # Its plaintext is random and thrown away: nothing can match it on purpose.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(32))

    @property
    def time_cost(self) -> int:
        return self._hasher.time_cost

    @property
    def memory_cost(self) -> int:
        return self._hasher.memory_cost

    @property
    def parallelism(self) -> int:
        return self._hasher.parallelism

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(time_cost={self.time_cost}, "
            f"memory_cost={self.memory_cost}, parallelism={self.parallelism})"
        )

    def hash(self, password: str) -> str:
        """Return the Argon2id PHC string for ``password`` (a fresh random salt each time)."""
        if not isinstance(password, str):
            raise TypeError("password must be a str")
        return self._hasher.hash(password)

    def verify(self, stored_hash: str, password: str) -> bool:
        """``True`` if ``password`` matches ``stored_hash``.

        ``False`` on a mismatch and also on a hash that is malformed or not
        Argon2 at all: a damaged row must lock the account, not crash the login.
        """
        if not isinstance(stored_hash, str) or not isinstance(password, str):
            return False
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        except ValueError:
            # A non-ASCII hash or an unencodable password (lone surrogates)
            # fails while encoding, before argon2 sees it.
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        """``True`` if ``stored_hash`` was not made with this hasher's parameters.

        A hash whose parameters cannot be read counts as needing a rehash.
        """
        if not isinstance(stored_hash, str):
            return True
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except (InvalidHashError, ValueError):
            return True

    def verify_dummy(self, password: str) -> None:
        """Spend the time of one verification and discard the result.

        Called when there is no hash to check (unknown userid, account without
        a password), so the response time does not reveal which userids exist.
        """
        # Same code path as a real check, so the cost is the same too.
        self.verify(self._dummy_hash, password if isinstance(password, str) else "")
