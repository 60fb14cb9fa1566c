"""Named queries: keyword-only functions over a Session, the only place that speaks SQL/ORM.

Flows and tasks call these; nothing above db/ builds queries itself.
"""
