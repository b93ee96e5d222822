"""What a course is made of: assignments, their cases, mistakes, tolerances and inputs."""
