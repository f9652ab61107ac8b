# pyarrow.compute builds its functions at import time from Arrow's registry, so a type checker sees
# none of them: every attribute is Any here. A partial stub package (py.typed says "partial"): the
# rest of pyarrow is checked from its own sources. pyright reads it from ./typings.
from typing import Any

def __getattr__(name: str) -> Any: ...
