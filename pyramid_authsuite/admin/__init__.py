"""User management over HTTP: the ``/admin/users`` API (``authsuite.endpoints = admin``),
its events and audit log, and the sync and async clients that call it.

This package's ``__init__`` stays empty of imports, so that the clients
(:mod:`pyramid_authsuite.admin.client`) load without the server side.
"""
