"""The dashboard API (FastAPI): REST, live push and the web UI.

Today it serves health and operational status only; rosters, registers,
muster and the parents' pages come with their issues, behind role-based
access, staff MFA and the audit mechanism in ``privacy``.
"""
