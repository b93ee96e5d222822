"""What students and platforms receive: builds, public tests, otter and Gradescope zips."""
