"""sandbox: running untrusted Python with hard limits, and grading exercises against test cases."""
