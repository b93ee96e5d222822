# Debugging left in: an endless loop at the top level.
while True:
    pass
