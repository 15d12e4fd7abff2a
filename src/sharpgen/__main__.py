"""Entry point for ``python -m sharpgen``."""

from sharpgen.cli import main

raise SystemExit(main())
