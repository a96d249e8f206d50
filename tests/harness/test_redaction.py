"""Credentials out of everything printed or stored (harness/redaction.py)."""

from __future__ import annotations

import json

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from harness.redaction import PATTERNS_ONLY, REDACTED, Redactor, is_secret_name, secret_values


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("python train.py --public_key abc123 --seed 1", "abc123"),
        ("python train.py --private_key=def456", "def456"),
        ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI", "wJalrXUtnFEMI"),
        ("aws_access_key_id = AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
        ("db password=hunter2 ok", "hunter2"),
        ('{"token": "tok-987"}', "tok-987"),
        ("Authorization: Bearer eyJhbGciOi.xyz", "eyJhbGciOi"),
        ("pip install git+https://me:ghp_secretvalue@github.com/a/b", "ghp_secretvalue"),
        ("url?api_key=k1k2k3&x=1", "k1k2k3"),
    ],
)
def test_redact_removes_credentials(text, secret):
    redacted = PATTERNS_ONLY.text(text)
    assert secret not in redacted
    assert REDACTED in redacted


@pytest.mark.parametrize(
    "text",
    [
        "global step 5: loss = 2.3456 (0.100 sec/step)",
        "tokenizers==0.15.0",
        "--number_of_steps=10 --train_inception=true --input_file_pattern=/data/train-?????",
        "Tokenizer: loaded 5 words",
    ],
)
def test_redact_leaves_ordinary_text_alone(text):
    assert PATTERNS_ONLY.text(text) == text


def test_redact_command_hides_value_after_secret_flag():
    argv = ["train.py", "--public_key", "abc", "--private_key=def", "--use_token", "--seed", "1"]
    assert PATTERNS_ONLY.command(argv) == [
        "train.py",
        "--public_key",
        REDACTED,
        f"--private_key={REDACTED}",
        "--use_token",
        "--seed",
        "1",
    ]


def test_the_literal_secret_is_hidden_however_a_job_reprints_it():
    redactor = Redactor.for_params(["--private_key=Zq9-SECRET-77", "--public_key", "pk_AB12CD"])
    echoed = "flags: {'private_key': 'Zq9-SECRET-77'} key Zq9-SECRET-77 pub=pk_AB12CD"
    shown = redactor.text(echoed)
    assert "Zq9-SECRET-77" not in shown and "pk_AB12CD" not in shown
    assert shown.count(REDACTED) == 3


def test_secret_values_come_from_secret_named_flags_only():
    argv = ["--private_key=abcdef", "--uhub_password", "hunter22", "--seed=12345", "--token=ab"]
    assert secret_values(argv) == ["abcdef", "hunter22"]  # too-short values are not hidden


def test_data_redacts_nested_values_and_secret_named_keys():
    redactor = Redactor(["s3cr3t-value"])
    data = {
        "job": {"train_params": ["--private_key", "s3cr3t-value", "--seed=1"]},
        "api_key": "plain",
        "note": "contains s3cr3t-value inside",
        "count": 3,
    }
    out = redactor.data(data)
    assert "s3cr3t-value" not in json.dumps(out)
    assert out["api_key"] == REDACTED and out["count"] == 3


@given(st.text(alphabet=st.characters(codec="utf-8"), min_size=4, max_size=30))
def test_any_known_secret_disappears_from_any_text(secret):
    redactor = Redactor([secret])
    assert secret not in redactor.text(f"before {secret} after {secret}")


SECRET_NAMES = [
    "private_key",
    "public_key",
    "sk",
    "ak",
    "wandb_key",
    "db_pass",
    "access_id",
    "oss_key",
    "hf_auth",
    "api-key",
    "apiKey",
    "AWS_SECRET_ACCESS_KEY",
    "secret_id",
    "auth_token",
    "uhub_password",
    "passwd",
    "credentials",
    "ACCESS_KEY_ID",
    "x.token",
    "hf_token",
    "github_pat_token",
    "oss.access-key",
    "authorization",
]
ORDINARY_NAMES = [
    "number_of_steps",
    "max_number_of_steps",
    "train-steps",
    "batch_size",
    "learning_rate",
    "tokenizer",
    "max_tokens",
    "num_passes",
    "author",
    "train_inception",
    "keep_checkpoint_max",
    "checkpoint_path",
    "trainable_scopes",
    "data_dir",
    "output_dir",
    "log_dir",
    "seed",
    "input_file_pattern",
    "skip_bad_images",
    "task",
    "mask_ratio",
    "bypass",
]


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_secret_names_of_every_kind_are_recognised(name: str) -> None:
    assert is_secret_name(f"--{name}") and is_secret_name(name)


@pytest.mark.parametrize("name", ORDINARY_NAMES)
def test_ordinary_flag_names_are_not_secrets(name: str) -> None:
    assert not is_secret_name(f"--{name}")


_SEGMENT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6)


@given(
    prefix=st.lists(_SEGMENT, max_size=2),
    secret=st.sampled_from(SECRET_NAMES),
    suffix=st.lists(_SEGMENT, max_size=2),
    value=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_/", min_size=6, max_size=20),
    separator=st.sampled_from(["_", "-"]),
)
def test_a_secret_named_flags_value_never_survives(prefix, secret, suffix, value, separator):
    """However it is decorated and passed, the value of a secret-named flag is hidden in
    text, in argument lists and in stored data."""
    name = separator.join([*prefix, secret, *suffix])
    assume(value not in name)
    # A separate argument that starts with "-" is the next flag, not this one's value
    # (argparse and absl read it so too); `--name=-value` is covered by the other forms.
    assume(not value.startswith("-"))
    redactor = Redactor.for_params([f"--{name}={value}"])
    assert value not in redactor.text(f"echo --{name}={value} then {value}")
    assert value not in " ".join(PATTERNS_ONLY.command(["train.py", f"--{name}", value]))
    assert value not in json.dumps(PATTERNS_ONLY.data({"params": [f"--{name}={value}"]}))
    assert value not in PATTERNS_ONLY.text(f"{name}: {value}")


def test_url_passwords_in_any_parameter_are_known_secrets() -> None:
    argv = ["--db_url=https://alice:pw-Hunter22@db.example/x", "--seed=1"]
    assert secret_values(argv) == ["pw-Hunter22"]
    assert Redactor.for_params(argv).text("password pw-Hunter22") == "password <redacted>"


def test_data_redacts_keys_and_numbers_colliding_ones() -> None:
    redactor = Redactor(["s3cr3t-value"])
    out = redactor.data({"run-s3cr3t-value/a": "1", "run-<redacted>/a": "2", "100": 1.5})
    assert out == {"run-<redacted>/a": "1", "run-<redacted>/a (2)": "2", "100": 1.5}
