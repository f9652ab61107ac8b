# pyarrow.compute builds its functions at import time from Arrow's registry, so a type checker sees
# none of them: every attribute is Any here (pyright reads stubs from ./typings).
from typing import Any

def __getattr__(name: str) -> Any: ...
