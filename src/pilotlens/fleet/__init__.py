"""A fleet's logs: planning (logs -> parts cut like the local batches), the local and Ray engines,
Parquet parts and a manifest written last. Ray is imported only by the Ray engine."""
from .manifest import read_manifest
from .plan import Plan, Selection, expand, plan
from .run import BatchResult, batch
from .read import read_frames
from .table import decode_map

__all__ = ["batch", "BatchResult", "plan", "Plan", "Selection", "expand", "read_frames", "read_manifest",
           "decode_map"]
