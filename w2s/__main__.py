import sys

try:
    from w2s.cli import main
except KeyboardInterrupt:  # Ctrl-C while the libraries load: nothing has started yet
    sys.stderr.write("w2s: interrupted\n")
    sys.exit(130)

sys.exit(main())
