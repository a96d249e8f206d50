"""Credentials out of everything the harness prints, logs, records or serialises.

UAI jobs are often given `--public_key`/`--private_key` and cloud keys on their
command line, and jobs echo their flags. One `Redactor` is made at the edge
(CLI, pytest plugin, API caller) from the job's parameters and handed to the two
places where text leaves the harness: the console reporter and the run record's
serialisation. It hides the literal values of secret-named flags wherever they
appear (however a job re-prints them) and anything shaped like a credential.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "<redacted>"

# A name is secret when one of its `_`/`-`/`.` separated segments is (or ends in) a key,
# secret, token or password, is a pass/pwd/auth/credential word, or is a cloud AK/SK:
# `--private_key`, `--wandb_key`, `apiKey`, `AWS_SECRET_ACCESS_KEY`, `--db_pass`,
# `--hf_auth`, `--sk`, `--access_id`; not `tokenizer`, `max_tokens`, `num_passes`, `author`.
_SECRET_SEGMENT = (
    r"(?:[a-z0-9]*(?:key|keys|secret|secrets|token|password|passwd|passphrase)"
    r"|pass|pwd|(?!author(?:[^a-z0-9]|$))auth[a-z0-9]*|credentials?|creds?|sk|ak"
    r"|access[_-]id|secret[_-]id)"
)
_SECRET_NAME = rf"(?:[A-Za-z0-9]+[_.-])*{_SECRET_SEGMENT}(?:[_.-][A-Za-z0-9]+)*"
_VALUE = r"(?:\"[^\"\n]*\"|'[^'\n]*'|[^\s\"',;&|)]+)"
_SECRET_KEY = re.compile(rf"-{{0,2}}{_SECRET_NAME}", re.IGNORECASE)
_SECRET_PATTERNS: tuple[re.Pattern[str], ...] = (
    # PEM private keys, whole block.
    re.compile(
        r"(?P<pre>)-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----",
        re.DOTALL,
    ),
    # Authorization headers and bearer tokens.
    re.compile(
        r"(?P<pre>\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token)\s+)?)"
        r"[^\s\"',]+",
        re.IGNORECASE,
    ),
    re.compile(r"(?P<pre>\bbearer\s+)[A-Za-z0-9._~+/-]+=*", re.IGNORECASE),
    # name=value, name: value, "name": "value", --name=value (`==` is a pip pin, not a secret).
    re.compile(
        rf"(?P<pre>(?<![A-Za-z0-9_.-])-{{0,2}}{_SECRET_NAME}[\"']?[ \t]*(?:=(?!=)|:(?!:))[ \t]*)"
        rf"{_VALUE}",
        re.IGNORECASE,
    ),
    # --name value (command lines joined into one string).
    re.compile(rf"(?P<pre>(?<!\S)-{{1,2}}{_SECRET_NAME}[ \t]+)(?!-){_VALUE}", re.IGNORECASE),
    # user:password@ in URLs.
    re.compile(r"(?P<pre>\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+:)[^/\s@]+(?=@)"),
    # Well-known token shapes: AWS key ids, GitHub, Slack, OpenAI-style keys, JWTs.
    re.compile(
        r"(?P<pre>)\b(?:AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{20,}"
        r"|xox[abposr]-[A-Za-z0-9-]{10,}|sk-[A-Za-z0-9_-]{20,}"
        r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+)"
    ),
)
# The password of a URL's `user:password@`, in any parameter (`--db_url=https://a:pw@host`).
_URL_PASSWORD = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+:([^/\s@]+)@")
# What reads as the next flag rather than a value (a key may well start with "-").
_FLAG = re.compile(r"^--[A-Za-z]")
# Values shorter than this are not hidden by value (they would blank out ordinary words).
_MIN_SECRET_LENGTH = 4


def is_secret_name(name: str) -> bool:
    """Whether a flag or key name (`--private_key`, `AWS_SECRET_ACCESS_KEY`) names a secret."""
    return _SECRET_KEY.fullmatch(name) is not None


def secret_values(argv: Iterable[str]) -> list[str]:
    """The values given to secret-named flags in an argument list (`--k=v` and `--k v`),
    and the passwords of URLs with credentials in any of its words."""
    items = list(argv)
    found = [password for item in items for password in _URL_PASSWORD.findall(item)]
    for index, item in enumerate(items):
        name, equals, value = item.partition("=")
        if not name.startswith("-") or not is_secret_name(name):
            continue
        if equals:
            found.append(value)
        elif index + 1 < len(items) and not _FLAG.match(items[index + 1]):
            found.append(items[index + 1])
    return [value for value in found if len(value) >= _MIN_SECRET_LENGTH]


class Redactor:
    """Hides credentials: the known secret values, then credential-shaped text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret containing another is hidden whole.
        self._secrets = sorted({s for s in secrets if len(s) >= _MIN_SECRET_LENGTH}, key=len)[::-1]

    @classmethod
    def for_params(cls, *argvs: Iterable[str]) -> Redactor:
        """A redactor that knows the secrets passed on these command lines."""
        return cls(value for argv in argvs for value in secret_values(argv))

    def knowing(self, *argvs: Iterable[str]) -> Redactor:
        """This redactor, also hiding the secrets passed on these command lines."""
        return Redactor([*self._secrets, *(v for argv in argvs for v in secret_values(argv))])

    def text(self, text: str) -> str:
        """`text` with secrets replaced by `<redacted>`."""
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        for pattern in _SECRET_PATTERNS:
            text = pattern.sub(lambda match: match["pre"] + REDACTED, text)
        return text

    def command(self, argv: Iterable[str]) -> list[str]:
        """An argument list with secrets hidden, including `--private_key VALUE` split in two."""
        redacted: list[str] = []
        hide_next = False
        for arg in argv:
            if hide_next and not _FLAG.match(arg):
                redacted.append(REDACTED)
                hide_next = False
                continue
            hide_next = arg.startswith("-") and "=" not in arg and is_secret_name(arg)
            redacted.append(self.text(arg))
        return redacted

    def data(self, value: Any) -> Any:
        """A JSON-ready value with every string redacted, keys too (file names a job chose:
        the record's output hashes); secret-named keys lose their value."""
        if isinstance(value, Mapping):
            redacted: dict[Any, Any] = {}
            for key, item in value.items():
                shown = self._key(key, redacted)
                if isinstance(item, str) and item and is_secret_name(str(key)):
                    redacted[shown] = REDACTED
                else:
                    redacted[shown] = self.data(item)
            return redacted
        if isinstance(value, list):
            if value and all(isinstance(item, str) for item in value):
                return self.command(value)
            return [self.data(item) for item in value]
        if isinstance(value, str):
            return self.text(value)
        return value

    def _key(self, key: Any, taken: Mapping[Any, Any]) -> Any:
        """A mapping key redacted, numbered when another key already reads the same. Numbers
        (global steps of losses) stay as they are."""
        if not isinstance(key, str) or key.isdecimal():
            return key
        shown = candidate = self.text(key)
        number = 1
        while candidate in taken:
            number += 1
            candidate = f"{shown} ({number})"
        return candidate


PATTERNS_ONLY = Redactor()
