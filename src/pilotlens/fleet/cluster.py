"""Ray, imported only here and only when asked: connect to a cluster or start a quiet local one.

A local cluster started by pilotlens listens on loopback only (Ray replaces 127.0.0.1 by the host's
address unless RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, read when Ray is imported), keeps its session
files in a temporary folder removed afterwards, and writes nothing into the home folder (Ray 2.60
turns token authentication on for a new local cluster and saves the token in ~/.ray/auth_token;
RAY_AUTH_MODE=disabled keeps it off: the cluster is reachable from this machine only). No dashboard,
no usage statistics.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import sys
import tempfile
import warnings
from contextlib import contextmanager
from typing import Iterator

LOCAL_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


#: where Ray's text of an actor's error passes from the user code's traceback to Ray's own
_RAY_TAKES_OVER = "The above exception was the direct cause of the following exception:"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def actor_error(exc: BaseException) -> str:
    """What failed, in one line. Ray Data hands the driver an actor's error as its own exception whose text holds
    the user code's traceback; the line that names the user code's exception (`RuntimeError: ...`) is the
    one a reader needs, not Ray's wrapper or the traceback. Any other exception: `Type: message`."""
    text = _ANSI.sub("", str(exc))
    if _RAY_TAKES_OVER in text:
        lines = [line.strip() for line in text.split(_RAY_TAKES_OVER)[0].splitlines() if line.strip()]
        if lines:
            return lines[-1]
    return f"{type(exc).__name__}: {text}"


def import_ray():
    try:
        import ray
    except ImportError as exc:
        raise RuntimeError("--engine ray needs Ray Data: pip install 'pilotlens[ray]'") from exc
    return ray


@contextmanager
def quiet_ray_data() -> Iterator[None]:
    """Ray Data warns about its own deprecated settings (DeprecationWarning from ray's code): not ours.
    Its INFO lines (execution plans, "progress bars disabled") are kept out of the user's terminal."""
    names = ["ray.data"] + [n for n in logging.root.manager.loggerDict if n.startswith("ray.data.")]
    levels = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"ray(\.|$)")
        try:
            yield
        finally:
            for n, level in levels.items():
                logging.getLogger(n).setLevel(level)


@contextmanager
def connected(address: str | None = None, num_cpus: int | None = None) -> Iterator[object]:
    """Ray, initialised: the cluster already joined in this process, the one at `address`, or a
    local one started here (and shut down on exit)."""
    already = sys.modules.get("ray")
    if already is not None and already.is_initialized():
        yield already
        return
    if address is not None:
        ray = import_ray()
        ray.init(address=address, log_to_driver=False, logging_level="WARNING")
        try:
            yield ray
        finally:
            ray.shutdown()
        return
    before = {key: os.environ.get(key) for key in LOCAL_ENV}
    for key, value in LOCAL_ENV.items():
        os.environ.setdefault(key, value)   # before Ray is imported: it reads the first at import
    temp = tempfile.mkdtemp(prefix="pilotlens-ray-")
    try:
        ray = import_ray()
        constants = getattr(getattr(ray, "_private", None), "ray_constants", None)
        if getattr(constants, "ENABLE_RAY_CLUSTER", False):   # read at import: refuse before listening anywhere
            raise RuntimeError("Ray was imported before pilotlens could keep its local cluster on loopback: set "
                               "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 before importing ray, or give --ray-address")
        ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False, _node_ip_address="127.0.0.1",
                 _temp_dir=temp, log_to_driver=False, logging_level="WARNING")
        try:
            where = {n["NodeManagerAddress"] for n in ray.nodes()}
            if where != {"127.0.0.1"}:   # Ray was imported before the variable above could be set
                raise RuntimeError(f"the local Ray cluster listens on {', '.join(sorted(where))}, not only on loopback: "
                                   "Ray was imported before pilotlens started it; set "
                                   "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 before importing ray, or give --ray-address")
            yield ray
        finally:
            ray.shutdown()
    finally:
        shutil.rmtree(temp, ignore_errors=True)
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
