"""A class at a time: discover, batch, resume, progress, late policy, faults."""
