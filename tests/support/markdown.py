"""Command lines out of Markdown, as the README and docs/ci.md walks run them."""

from __future__ import annotations

import re


def bash_blocks(text: str) -> list[list[str]]:
    """Every ```bash block of a Markdown text as its command lines (comments stripped)."""
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL)
    return [
        [re.sub(r"\s+#\s.*$", "", line).strip() for line in block.splitlines() if line.strip()]
        for block in blocks
    ]
