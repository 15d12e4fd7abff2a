"""What each workflow rule does, one function per rule: read the inputs, call the library, write
the outputs atomically. The CLI (:mod:`sharpgen.cli`) parses arguments and calls these; the
module names follow the rule files in ``workflow/rules/``."""
