"""What a grading run writes: gradebook, feedback, report, LMS exports, atomic files."""
