"""The goodness of a DA without a student: T. stddev (statistic), which samples (plan), the teacher
pass (measurement), the table (report)."""
