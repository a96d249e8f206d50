"""TF_CONFIG parsing and validation (im2txt/im2txt/cluster.py)."""

from __future__ import annotations

import json
import socket
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from im2txt.cluster import (
    CHIEF,
    PS,
    WORKER,
    Cluster,
    ClusterConfigError,
    Task,
    from_environment,
    parse_tf_config,
    unreachable,
)

# UCloud's documented example: a node hosts a ps and the master on different ports.
UCLOUD_EXAMPLE = {
    "cluster": {
        "master": ["ip0:2222"],
        "ps": ["ip0:2223", "ip1:2223"],
        "worker": ["ip1:2222"],
    },
    "task": {"type": "worker", "index": 0},
    "environment": "cloud",
}


def _config(task_type: str, index: object, **cluster: list[object]) -> str:
    return json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})


def test_ucloud_example_maps_master_to_chief() -> None:
    cluster = parse_tf_config(json.dumps(UCLOUD_EXAMPLE))
    assert cluster == Cluster(
        chief="ip0:2222",
        workers=("ip1:2222",),
        ps=("ip0:2223", "ip1:2223"),
        task=Task(WORKER, 0, "ip1:2222"),
    )
    assert not cluster.is_chief
    assert cluster.spec() == {
        "chief": ["ip0:2222"],
        "worker": ["ip1:2222"],
        "ps": ["ip0:2223", "ip1:2223"],
    }
    assert [str(task) for task in cluster.servers()] == [
        "ps 0 at ip0:2223",
        "ps 1 at ip1:2223",
        "worker 0 at ip1:2222",
    ]


@pytest.mark.parametrize("name", ["master", "chief"])
def test_master_and_chief_both_name_the_chief(name: str) -> None:
    cluster = parse_tf_config(
        _config(name, 0, **{name: ["h:1"]}, ps=["h:2"], worker=["h:3", "h:4"])
    )
    assert cluster.is_chief
    assert cluster.task == Task(CHIEF, 0, "h:1")


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "  ",
        "{}",
        '{"environment": "cloud"}',
        '{"cluster": {}}',
        _config("master", 0, master=["h:1"]),
        _config("worker", 0, worker=["h:1"]),
        json.dumps({"cluster": {"master": ["h:1"]}}),
    ],
)
def test_unset_empty_or_one_task_means_single_node(text: str | None) -> None:
    assert parse_tf_config(text) is None


def test_from_environment_reads_tf_config() -> None:
    assert from_environment({}) is None
    assert from_environment({"TF_CONFIG": json.dumps(UCLOUD_EXAMPLE)}).task.role == WORKER


THREE = {"master": ["h:1"], "ps": ["h:2"], "worker": ["h:3"]}

MALFORMED = {
    "not json": ("{cluster: ", "not valid JSON"),
    "not an object": ("[1, 2]", "must be a JSON object"),
    "cluster not an object": ('{"cluster": ["h:1"]}', "'cluster' must be an object"),
    "task list not a list": (_config("ps", 0, master=["h:1"], ps="h:2"), "must be a list"),
    "unknown type in cluster": (
        _config("master", 0, **THREE, evaluator=["h:9"]),
        "unknown task type 'evaluator' in the cluster",
    ),
    "master and chief": (
        _config("ps", 0, master=["h:1"], chief=["h:5"], ps=["h:2"], worker=["h:3"]),
        "names the chief twice",
    ),
    "two masters": (
        _config("ps", 0, master=["h:1", "h:5"], ps=["h:2"], worker=["h:3"]),
        "exactly one chief",
    ),
    "no chief": (_config("ps", 0, ps=["h:2"], worker=["h:3"]), "exactly one chief"),
    "no ps": (_config("worker", 0, master=["h:1"], worker=["h:3"]), "at least one 'ps' task"),
    "no worker": (_config("ps", 0, master=["h:1"], ps=["h:2"]), "at least one 'worker' task"),
    "task missing": (json.dumps({"cluster": THREE}), "'task' must be an object"),
    "task type unknown": (_config("evaluator", 0, **THREE), "unknown task type 'evaluator'"),
    "task type not in cluster": (
        _config("chief", 0, ps=["h:2"], worker=["h:3"]),
        "task type 'chief' has no entry in the cluster",
    ),
    "index out of range": (_config("ps", 1, **THREE), "task index 1 is out of range"),
    "negative index": (_config("ps", -1, **THREE), "task index -1 is out of range"),
    "index missing": (
        json.dumps({"cluster": THREE, "task": {"type": "ps"}}),
        "task index must be an integer, got None",
    ),
    "index a string": (_config("ps", "0", **THREE), "task index must be an integer"),
    "index a bool": (_config("ps", True, **THREE), "task index must be an integer"),
    "address without port": (
        _config("ps", 0, master=["h"], ps=["h:2"], worker=["h:3"]),
        "cluster 'master' entry 0 is 'h', not 'host:port'",
    ),
    "port zero": (_config("ps", 0, master=["h:0"], ps=["h:2"], worker=["h:3"]), "port 1-65535"),
    "port too large": (
        _config("ps", 0, master=["h:70000"], ps=["h:2"], worker=["h:3"]),
        "port 1-65535",
    ),
    "address not a string": (
        _config("ps", 0, master=[2222], ps=["h:2"], worker=["h:3"]),
        "must be a 'host:port' string",
    ),
    "shared address": (
        _config("ps", 0, master=["h:1"], ps=["h:1"], worker=["h:3"]),
        "cluster 'ps' entry 0 repeats cluster 'master' entry 0's address h:1",
    ),
    "task without cluster": ('{"task": {"type": "worker", "index": 0}}', "cluster is empty"),
    "bad task in one-task cluster": (
        _config("worker", 0, master=["h:1"]),
        "task type 'worker' has no entry",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_bad_tf_config_is_one_error_naming_tf_config(case: str) -> None:
    text, expected = MALFORMED[case]
    with pytest.raises(ClusterConfigError) as raised:
        parse_tf_config(text)
    assert str(raised.value).startswith("TF_CONFIG: ")
    assert expected in str(raised.value)


_HOSTS = st.sampled_from(["127.0.0.1", "10.9.8.7", "node-a", "[::1]"])


@st.composite
def clusters(draw: st.DrawFn) -> tuple[dict[str, list[str]], str, int]:
    """A valid TF_CONFIG cluster of distinct addresses and a task within it."""
    counts = {
        draw(st.sampled_from(["master", "chief"])): 1,
        "ps": draw(st.integers(1, 4)),
        "worker": draw(st.integers(1, 6)),
    }
    ports = draw(
        st.lists(st.integers(1, 65535), min_size=sum(counts.values()), unique=True).map(iter)
    )
    host = draw(_HOSTS)
    jobs = {name: [f"{host}:{next(ports)}" for _ in range(n)] for name, n in counts.items()}
    task_type = draw(st.sampled_from(sorted(jobs)))
    return jobs, task_type, draw(st.integers(0, counts[task_type] - 1))


@given(clusters())
def test_valid_clusters_parse_to_their_task(drawn: tuple[dict[str, list[str]], str, int]) -> None:
    jobs, task_type, index = drawn
    cluster = parse_tf_config(_config(task_type, index, **jobs))
    assert cluster.task.address == jobs[task_type][index]
    assert cluster.task.index == index
    assert cluster.task.role == {"master": CHIEF, "chief": CHIEF}.get(task_type, task_type)
    chief_name = "master" if "master" in jobs else "chief"
    assert cluster.spec() == {CHIEF: jobs[chief_name], WORKER: jobs["worker"], PS: jobs["ps"]}


@given(clusters(), st.integers(1, 50))
def test_index_past_the_end_is_refused(
    drawn: tuple[dict[str, list[str]], str, int], beyond: int
) -> None:
    jobs, task_type, _ = drawn
    with pytest.raises(ClusterConfigError, match="out of range"):
        parse_tf_config(_config(task_type, len(jobs[task_type]) - 1 + beyond, **jobs))


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
_KEYS = st.sampled_from(["cluster", "task", "type", "index", "master", "ps", "worker", "chief"])


@given(st.dictionaries(_KEYS, _JSON | st.dictionaries(_KEYS, _JSON), max_size=3) | _JSON)
def test_any_json_parses_or_raises_the_config_error(value: object) -> None:
    try:
        result = parse_tf_config(json.dumps(value))
    except ClusterConfigError as err:
        assert str(err).startswith("TF_CONFIG: ")
    else:
        assert result is None or isinstance(result, Cluster)


@given(st.text(max_size=30))
def test_any_text_parses_or_raises_the_config_error(text: str) -> None:
    try:
        parse_tf_config(text)
    except ClusterConfigError:
        pass


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_names_tasks_that_refuse_connections() -> None:
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        up = Task(PS, 0, f"127.0.0.1:{listening.getsockname()[1]}")
        down = Task(WORKER, 1, f"127.0.0.1:{_free_port()}")
        assert unreachable([up, down], wait_s=0) == [down]
        assert unreachable([up], wait_s=0) == []


def test_unreachable_waits_for_a_task_that_starts_late() -> None:
    port = _free_port()
    started = threading.Event()
    with socket.socket() as late:

        def start_listening() -> None:
            late.bind(("127.0.0.1", port))
            late.listen()
            started.set()

        timer = threading.Timer(0.5, start_listening)
        timer.start()
        try:
            assert unreachable([Task(PS, 0, f"127.0.0.1:{port}")], wait_s=60, poll_s=0.1) == []
            assert started.is_set()
        finally:
            timer.join()
