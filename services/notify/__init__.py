"""notify: one delivery service for every outbound message (LMS, chat, Slack, email, PagerDuty,
in-app), with templates, retries, shared rate limits, read receipts, quiet hours and escalation."""
