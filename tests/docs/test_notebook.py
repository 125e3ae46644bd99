"""docs/notebook.ipynb runs: its code cells, in order, as one script (matplotlib on Agg), and the
values that end its cells show themselves as a notebook would show them."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "notebook.ipynb"


def _cells():
    nb = json.loads(NOTEBOOK.read_text())
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def test_the_notebook_is_valid_and_has_code():
    nb = json.loads(NOTEBOOK.read_text())
    assert nb["nbformat"] == 4 and len(_cells()) >= 3
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code"), "commit it without outputs"


def test_the_notebook_code_runs_as_a_script(tmp_path):
    pytest.importorskip("matplotlib")
    # each cell's last line is what a notebook would display: display it as IPython would
    # (_repr_png_ for a Saliency, savefig for a figure) so the display code runs too
    script = ["import ast as _ast", "from matplotlib.figure import Figure as _Figure",
              "def _display(value, i):",
              "    if hasattr(value, '_repr_png_'):",
              "        data = value._repr_png_()",
              "        assert data[:4] == b'\\x89PNG', i",
              f"        open(r'{tmp_path}' + f'/cell{{i}}.png', 'wb').write(data)",
              "    elif isinstance(value, _Figure):",
              f"        value.savefig(r'{tmp_path}' + f'/cell{{i}}.png')",
              "_ns = {}"]
    for i, cell in enumerate(_cells()):
        script.append(f"_tree = _ast.parse({cell!r})")
        script.append("_last = _tree.body.pop() if _tree.body and isinstance(_tree.body[-1], _ast.Expr) else None")
        script.append("exec(compile(_tree, 'cell', 'exec'), _ns)")
        script.append(f"_display(eval(compile(_ast.Expression(_last.value), 'cell', 'eval'), _ns), {i}) if _last else None")
    path = tmp_path / "notebook.py"
    path.write_text("\n".join(script) + "\n")
    env = {**os.environ, "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, str(path)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    shown = sorted(p.name for p in tmp_path.glob("cell*.png"))
    assert shown == [f"cell{i}.png" for i in range(len(_cells()))], shown   # every cell ends in a picture
