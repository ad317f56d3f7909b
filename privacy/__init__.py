"""Privacy: consent, erasure, field encryption, keys, the audit log, subject access; retention, backups, breaches.

Core (see docs/PRIVACY.md): ``consent`` (decisions, checked by
``consent_rules``), ``erasure`` (withdrawals and leavers, over the tables in
``registry``), ``personal`` and ``fields`` (envelope encryption under
``keyring``), ``keys`` (master key rotation), ``audit`` and ``audit_chain``
(the hash-chained log), ``export`` (subject access), ``redact`` (dead
letters), ``pseudonyms``, ``eid``, ``keywrap``, ``enrolment``. SQL lives in
``repository`` and ``audit_repository``. Operations (retention, backups,
breach support, the data document) are in their own modules.

Pure modules read no clock and no socket; time is passed in.
"""
