"""The scripts of tools/concepts (builders, review sheet) imported as modules by the tests (the folder is
not a package; each script imports its neighbour ``_common``)."""

import importlib.util
import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[1] / "tools" / "concepts"


def tool_module(name: str):
    """``tools/concepts/<name>.py`` as a module."""
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(TOOLS))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(TOOLS))
    return module
