"""What plugins may import: errors, the registry, the protocols, atomic files, the untrusted-file
guard, the ``Clip`` and its item ids, and the names every stage shares. Nothing here imports the
rest of the engine."""
