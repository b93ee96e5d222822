"""What the kit needs from the machine it runs on, for every layer above: temporary folders
of its own (``tempdirs``), files written whole or not at all (``files``), and telling the
machine's faults from a submission's (``faults``). Imports nothing else of the kit."""
