"""The rules: enrolment, changes to a series, answers, staff. No I/O but the session."""
