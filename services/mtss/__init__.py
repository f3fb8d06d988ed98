"""mtss: intervention programs (MTSS/RTI) — templates, schedules and sessions with conflict
detection, enrollment, attendance, progress monitoring, exit decisions, dashboards, caregiver
communication, iCalendar feeds and Ed-Fi export/import (docs/mtss.md)."""
