"""Credential files a code folder may hold by accident (`--code-path ~`, a checkout with a
deploy key): never copied into a run or an image, each left out with a note.

Left out: the folders `.ssh`, `.aws` and `.gnupg`; the files `.netrc`, `.pypirc`,
`.git-credentials` and `.docker/config.json`; and private keys - `id_rsa`, `id_dsa`,
`id_ecdsa`, `id_ed25519`, `*.pem` and `*.key` files that hold a PRIVATE KEY block.
"""

from __future__ import annotations

import re
from pathlib import Path

CREDENTIAL_FOLDERS = frozenset({".ssh", ".aws", ".gnupg"})
CREDENTIAL_FILES = frozenset({".netrc", ".pypirc", ".git-credentials"})
_KEY_NAMES = frozenset({"id_rsa", "id_dsa", "id_ecdsa", "id_ed25519"})
_KEY_SUFFIXES = (".pem", ".key")
_PRIVATE_KEY = re.compile(rb"^-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----\r?$", re.MULTILINE)
_HEAD_BYTES = 64 * 1024


def is_credential(path: Path) -> bool:
    """Whether `path` (a file or folder in a code folder) is one of the credentials above."""
    name = path.name
    if path.is_symlink():
        return name in CREDENTIAL_FOLDERS | CREDENTIAL_FILES
    if path.is_dir():
        return name in CREDENTIAL_FOLDERS
    if name in CREDENTIAL_FILES or (name == "config.json" and path.parent.name == ".docker"):
        return True
    if (name in _KEY_NAMES or name.endswith(_KEY_SUFFIXES)) and path.is_file():
        try:
            with path.open("rb") as file:
                return _PRIVATE_KEY.search(file.read(_HEAD_BYTES)) is not None
        except OSError:
            return True  # unreadable: not copyable either, and not worth the risk
    return False


def left_out(directory: Path, names: list[str]) -> list[str]:
    """The names in `directory` that are credentials (for shutil.copytree's `ignore`)."""
    return [name for name in names if is_credential(directory / name)]
