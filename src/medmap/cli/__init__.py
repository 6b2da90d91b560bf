"""The ``medmap`` command (thin: parses, calls the library, shows progress)."""
