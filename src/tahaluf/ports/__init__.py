"""Storage ports: the interfaces services need from storage, and the vocabulary they share.

Each module is one area (banks, scan log, hub, accounts, feedback, reviews,
webhooks, transactions, clock): its records (frozen dataclasses) and a
:class:`typing.Protocol` naming the operations. ``tahaluf.storage`` implements
them on SQL (SQLite, PostgreSQL) and in memory (``tahaluf.storage.memory``);
:mod:`tahaluf.bootstrap` bundles one implementation of each. Nothing here
imports storage, the API or the CLI.
"""
