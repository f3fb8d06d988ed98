"""mtss's domain, plain Python (no gRPC, SQLAlchemy or NATS: tests/contracts/test_architecture.py):
schedules and their expansion into sessions (schedule.py), double-booking detection (conflicts.py),
progress-monitoring analysis (analysis.py), and the programs, enrollments, attendance and decisions
(programs.py)."""
