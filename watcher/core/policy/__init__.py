"""Promotion policy, pure: holds, gates on logged metrics, the serving contract, soak.

Everything here decides from plain values (a folder's history, a version's
metrics, two signatures, clock times); what reads them lives with the sources
and the spine. docs/policy.md describes what users see.
"""
