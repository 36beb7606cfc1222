"""Launched by tests/test_distributed.py under `accelerate launch`: each process prints the world
size and rank it reached, through the Accelerator a `w2s` command builds (w2s.run.train.default_accelerator)."""

import sys

from w2s.run.train import default_accelerator

if __name__ == "__main__":
    accelerator = default_accelerator()
    # one write per line (print writes the text and the newline apart, which two processes interleave)
    sys.stdout.write(f"process {accelerator.process_index} of {accelerator.num_processes} on {accelerator.device}\n")
    sys.stdout.flush()
