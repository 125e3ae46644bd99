"""What the driver says when an actor fails: the user code's own error, not Ray's wrapper."""
from __future__ import annotations

from pilotlens.fleet.cluster import actor_error

# the shape of the text Ray Data 2.60 gives the driver for an actor's exception (colour codes included)
RAY_TEXT = ("\x1b[36mray::MapWorker(MapBatches(EvalActor)).submit()\x1b[39m (pid=1, ip=127.0.0.1)\n"
            "  File \"/x/fleet/evaluate.py\", line 72, in __call__\n    out.append(...)\n"
            "RuntimeError: injected: the model cannot take this batch\n\n"
            "The above exception was the direct cause of the following exception:\n\n"
            "\x1b[36mray::MapWorker(MapBatches(EvalActor)).submit()\x1b[39m (pid=1, ip=127.0.0.1)\n"
            "ray.exceptions.UserCodeException: UDF failed to process a data block.\n"
            "Failed to apply UDF transform after 3/3 attempts (total backoff 5.1s).")


class FakeRayError(Exception):
    pass


def test_the_user_codes_error_line_is_picked_out_of_rays_text():
    assert actor_error(FakeRayError(RAY_TEXT)) == "RuntimeError: injected: the model cannot take this batch"


def test_any_other_error_is_its_type_and_message():
    assert actor_error(ValueError("bad frame 7")) == "ValueError: bad frame 7"
