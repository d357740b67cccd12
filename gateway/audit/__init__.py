"""Recording what was disclosed, to whom and why: the hash-chained audit log written
before and after each answer, the disclosure records read back from it, the reports and
FHIR AuditEvent export built on them, and usage figures for oversight.
"""
