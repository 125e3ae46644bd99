"""`pilotlens.batch(model, logs, out, ...)`: explain a fleet's logs into per-frame Parquet (see fleet/).

Imported lazily: `import pilotlens` does not load the fleet machinery, pyarrow or Ray.
"""
from __future__ import annotations


def batch(model, inputs, out, **options):
    """Explain every frame of every log in `inputs` (paths or globs) with the pilot `model` (a spec:
    a pilot file, a shipped name, FILE.py:Class with model_options={"weights": ...}) into Parquet
    parts under `out`, with `_SUCCESS.json` written last. engine="local" (default, no Ray) or "ray".
    Every option: `pilotlens.fleet.run.batch`. Returns a BatchResult; a rerun resumes."""
    from .fleet.run import batch as run
    return run(model, inputs, out, **options)
