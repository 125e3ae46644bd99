"""How fast each pilotlens method is, as a ratio to the model's FASTEST forward pass, next to captum and torchcam.

    python bench/explain_speed.py                      # shipped PilotNet and donkey, batch 32, 1 and 2 threads,
                                                       # then occlusion against captum (~15 min)
    python bench/explain_speed.py --quick              # fewer repeats, one occlusion round
    python bench/explain_speed.py --threads 1 --models pilotnet --repeats 30 --occlusion-rounds 0

Every timing is taken in one run, on the same model, batch and machine, and turned into a ratio to the
fastest forward pass of that model: `torch.no_grad()` model(x) on the NCHW batch and on a channels_last copy
are BOTH timed right before every call, and the faster of the two is the denominator (on these CPUs that is
usually channels_last, the layout pilotlens's explainers run; a ratio to the NCHW pass alone would flatter
them). Each round runs every method once (in an order shuffled anew each round, seeded), each preceded by the
two forward passes; a method's ratio is the median over rounds of (its time / the faster forward next to it).
Every implementation gets the batch the unit ran: the channels_last batch whenever the model runs it
(pilotlens/layout.py's verdict), made before timing, as `Pilot.prepare` makes it for free from H x W x C
frames; pilotlens's targeted methods are ALSO timed on the NCHW batch (rows "... (NCHW batch)"), where they
make the channels_last copy themselves, as a caller holding an NCHW tensor pays it. pytorch-grad-cam's GradCAM is
the third reference (`pip install --no-deps grad-cam ttach`); it imports torchvision, which this CPU build of
torch lacks, for helpers GradCAM does not call, so tests/torchvision_stand_in.py stands in for those imports
and the header says so.
See bench/README.md for how to read the tables.

Every implementation does the same job to the same output: a B x H x W map per batch, normalised per image
to [0, 1], at the input's resolution (what pilotlens returns). The `Δmap` column checks that: the largest
difference between the reference's map and pilotlens's for the same batch.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import os
import platform
import random
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

import pilotlens
import pilotlens.layout
from pilotlens.models.zoo import Affine, PilotNet

warnings.filterwarnings("ignore")  # captum warns that the input did not require grad; that is expected

try:
    import captum
    from captum.attr import GuidedBackprop, IntegratedGradients, LayerAttribution, LayerGradCam, NoiseTunnel, Saliency
    CAPTUM = f"captum {captum.__version__}"
except Exception as exc:  # noqa: BLE001 - any import failure means "not available"
    captum, CAPTUM = None, f"captum not available ({type(exc).__name__}: {exc})"

try:
    import torchcam
    from torchcam.methods import CAM as TorchcamCAM
    from torchcam.methods import GradCAM as TorchcamGradCAM
    TORCHCAM = f"torchcam {torchcam.__version__} (no torchvision needed)"
except Exception as exc:  # noqa: BLE001
    torchcam, TORCHCAM = None, f"torchcam not available ({type(exc).__name__}: {exc})"

try:  # it imports torchvision for helpers its GradCAM does not call: where torchvision cannot import, a stand-in
    import importlib.util
    from importlib.metadata import version as _version
    if importlib.util.find_spec("pytorch_grad_cam") is None:  # then no stand-in either: nothing else sees one
        raise ModuleNotFoundError("No module named 'pytorch_grad_cam'")
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
    import torchvision_stand_in  # the tests' (they use pytorch-grad-cam as a reference too)
    with torchvision_stand_in.standing_in() as STAND_IN:
        import pytorch_grad_cam
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    GRADCAM_LIB = f"pytorch-grad-cam {_version('grad-cam')}" + (
        " (torchvision not importable: tests/torchvision_stand_in.py provides the names it imports, "
        "and the timed path calls none of them)" if STAND_IN else "")
except Exception as exc:  # noqa: BLE001
    pytorch_grad_cam, GRADCAM_LIB = None, (f"pytorch-grad-cam not available ({type(exc).__name__}: {exc}); "
                                           "pip install --no-deps grad-cam ttach")

LIBRARIES = ("captum", "torchcam", "pytorch-grad-cam")
#: the issue's targets: both shipped pilots, batch 32, ratio to the fastest forward pass
TARGETS = {"visual_backprop": 1.1, "grad_cam": 1.1, "gradient": 2.2, "guided_backprop": 2.2}
#: methods whose map depends on which ReLUs open: a ReLU within rounding of zero may open differently when the
#: forward pass runs channels_last (pilotlens/layout.py), and these maps then differ by more than rounding
LAYOUT_SENSITIVE = ("gradient", "guided_backprop", "grad_cam", "integrated_gradients")  # smoothgrad: noise differs
IG_STEPS, SMOOTHGRAD_SAMPLES, SMOOTHGRAD_NOISE = 16, 8, 0.15


# -- the models ----------------------------------------------------------------------------------
@dataclass
class Bench:
    """A model, the input it sees and the layers the layer methods read."""

    name: str
    model: nn.Module
    shape: tuple[int, int, int]          # C x H x W
    pixel_range: float                   # inputs are uniform in [0, pixel_range]
    layer: str                           # the last conv, by name (grad_cam's default layer)
    cam_layer: str | None = None         # for a global-average-pool model: the layer feeding the pool
    fc: str | None = None                # ... and its linear head

    def batch(self, size: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(size)
        return torch.rand((size, *self.shape), generator=gen) * self.pixel_range


class PilotNetGAP(nn.Module):
    """PilotNet's convolutions, then global average pooling and one linear layer: the shape cam needs."""

    def __init__(self):
        super().__init__()
        self.normalize = Affine(1 / 127.5, -1.0)
        self.features = PilotNet().features
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(64, 1)

    def forward(self, x):
        return self.fc(self.flatten(self.pool(self.features(self.normalize(x)))))


def shipped(name: str) -> nn.Module:
    """A shipped pilot's model (trained weights; Pilot.load("pilotnet") / ("donkey"))."""
    from pilotlens.models.pilot import Pilot
    return Pilot.load(name).model.eval()


MODELS = {
    "pilotnet": lambda: Bench("PilotNet", shipped("pilotnet"), (3, 66, 200), 255.0, "features.conv5"),
    "donkey": lambda: Bench("DonkeyLinear", shipped("donkey"), (3, 120, 160), 1.0, "features.conv5"),
    "pilotnet_gap": lambda: Bench("PilotNet-GAP", PilotNetGAP().eval(), (3, 66, 200), 255.0, "features.conv5",
                                  cam_layer="features.relu5", fc="fc"),
}


def benches(names: list[str]) -> list[Bench]:
    torch.manual_seed(1)  # untrained weights; with seed 0 PilotNet's guided-backprop maps are all zero
    return [MODELS[n]() for n in names]


# -- the implementations -----------------------------------------------------------------------------
def minmax(a: torch.Tensor) -> torch.Tensor:
    """Per-image min-max normalisation of B x H x W, the one every reference gets."""
    flat = a.reshape(a.shape[0], -1)
    lo = flat.amin(dim=1, keepdim=True)
    span = flat.amax(dim=1, keepdim=True) - lo
    return ((flat - lo) / span.clamp_min(1e-12)).reshape(a.shape)


@dataclass
class Case:
    method: str                          # the pilotlens method name the row is about
    library: str                         # "pilotlens", "captum", "torchcam" or "forward"
    run: Callable[[], torch.Tensor]      # one call: the normalised maps B x H x W
    slow: bool = False
    label: str = ""                      # what exactly runs, for the legend
    ms: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)   # time / the fastest forward timed next to it
    fastest: list[float] = field(default_factory=list)  # ms of that fastest forward, per sample
    number: int = 1                      # calls per timed sample
    diff: float | None = None            # max |map - pilotlens map|
    last: torch.Tensor | None = None     # the maps of the last timed call


#: the suffix of the secondary rows: pilotlens's explainers handed the caller's NCHW batch (they arrange it
#: channels_last themselves, paying the copy the unit does not pay)
ON_NCHW = " (NCHW batch)"


def pilotlens_cases(b: Bench, x: torch.Tensor, x_nchw: torch.Tensor | None = None) -> tuple[list[Case], list[str]]:
    """pilotlens's methods on x (the batch the fastest forward runs: channels_last where the model takes it,
    as Pilot.prepare builds it); with x_nchw also the targeted methods on the NCHW batch, as secondary rows."""
    specs = [
        ("visual_backprop", {}, False), ("grad_cam", {}, False), ("gradient", {}, False),
        ("guided_backprop", {}, False), ("activation", {}, False), ("cam", {}, False),
        ("integrated_gradients", {"steps": IG_STEPS}, True),
        ("smoothgrad", {"samples": SMOOTHGRAD_SAMPLES, "noise": SMOOTHGRAD_NOISE}, True),
    ]
    cases, skipped = [], []
    for method, options, slow in specs:
        ex = pilotlens.explainer(b.model, method, **options)
        try:
            ex(x[:1], target=0)
        except ValueError as exc:  # e.g. cam on a model without a global-average-pool head
            skipped.append(f"{method}: {str(exc).split(';')[0]}")
            continue
        opts = ", ".join(f"{k}={v}" for k, v in options.items())
        label = f"pilotlens.explainer(model, {method!r}{', ' + opts if opts else ''})"
        cases.append(Case(method, "pilotlens", lambda ex=ex: ex(x, target=0).maps, slow,
                          label + " on the batch the fastest forward runs"))
        if x_nchw is not None and x_nchw is not x and method in TARGETS:
            cases.append(Case(method + ON_NCHW, "pilotlens", lambda ex=ex: ex(x_nchw, target=0).maps, slow,
                              label + " on the NCHW batch (it makes the channels_last copy itself)"))
    return cases, skipped


def captum_cases(b: Bench, x: torch.Tensor) -> list[Case]:
    if captum is None:
        return []
    model, (H, W) = b.model, b.shape[1:]
    layer = dict(model.named_modules())[b.layer]
    saliency, guided, ig = Saliency(model), GuidedBackprop(model), IntegratedGradients(model)
    gradcam = LayerGradCam(model, layer)
    smooth = NoiseTunnel(Saliency(model))
    return [
        Case("gradient", "captum", lambda: minmax(saliency.attribute(x, target=0, abs=True).amax(dim=1)),
             label="Saliency(abs=True), max over channels, min-max"),
        Case("guided_backprop", "captum", lambda: minmax(guided.attribute(x, target=0).abs().amax(dim=1)),
             label="GuidedBackprop, |.| max over channels, min-max"),
        Case("grad_cam", "captum",
             lambda: minmax(LayerAttribution.interpolate(gradcam.attribute(x, target=0, relu_attributions=True),
                                                         (H, W), interpolate_mode="bilinear")[:, 0]),
             label=f"LayerGradCam({b.layer}) + LayerAttribution.interpolate(bilinear), min-max"),
        Case("integrated_gradients", "captum",
             lambda: minmax(ig.attribute(x, baselines=0.0, target=0, n_steps=IG_STEPS).sum(dim=1)), True,
             label=f"IntegratedGradients(n_steps={IG_STEPS}, gausslegendre), sum over channels, min-max"),
        Case("smoothgrad", "captum",
             lambda: minmax(smooth.attribute(x, nt_type="smoothgrad", nt_samples=SMOOTHGRAD_SAMPLES,
                                             stdevs=SMOOTHGRAD_NOISE * b.pixel_range, target=0, abs=True).amax(dim=1)),
             True, label=f"NoiseTunnel(Saliency(abs=True), smoothgrad, {SMOOTHGRAD_SAMPLES} samples), max, min-max"),
    ]


def torchcam_cases(b: Bench, x: torch.Tensor) -> list[Case]:
    if torchcam is None:
        return []
    size = b.shape[1:]

    def upsample(cam):  # torchcam's maps are normalised at the layer's resolution
        return F.interpolate(cam.unsqueeze(1), size=size, mode="bilinear", align_corners=False)[:, 0]

    # each extractor gets its own copy of the model: torchcam keeps its hooks on the model for the
    # extractor's life, and they must not slow down the plain forward pass or the other libraries
    model = copy.deepcopy(b.model).eval()
    gradcam = TorchcamGradCAM(model, target_layer=b.layer, input_shape=b.shape)
    cases = [Case("grad_cam", "torchcam", lambda: upsample(gradcam(class_idx=0, scores=model(x))[0]),
                  label=f"GradCAM({b.layer!r}) on model(x), F.interpolate bilinear")]
    if b.fc:
        gap_model = copy.deepcopy(b.model).eval()
        cam = TorchcamCAM(gap_model, target_layer=b.cam_layer, fc_layer=b.fc, input_shape=b.shape)

        def run_cam():
            with torch.no_grad():
                return upsample(cam(class_idx=0, scores=gap_model(x))[0])
        cases.append(Case("cam", "torchcam", run_cam,
                          label=f"CAM({b.cam_layer!r}, fc_layer={b.fc!r}) on model(x) in no_grad, F.interpolate bilinear"))
    return cases


def gradcam_lib_cases(b: Bench, x: torch.Tensor) -> list[Case]:
    """pytorch-grad-cam's GradCAM as its README uses it: the library computes the gradient of every weight too
    (`loss.backward()`), normalises each map at the layer's resolution, resizes it with cv2 and normalises it
    again; it returns numpy, turned back into a tensor here (a view, no copy)."""
    if pytorch_grad_cam is None:
        return []
    model = copy.deepcopy(b.model).eval()  # its hooks stay on the model while the object lives
    cam = pytorch_grad_cam.GradCAM(model=model, target_layers=[dict(model.named_modules())[b.layer]])
    targets = [ClassifierOutputTarget(0)] * x.shape[0]
    return [Case("grad_cam", "pytorch-grad-cam", lambda: torch.from_numpy(cam(input_tensor=x, targets=targets)),
                 label=f"GradCAM(target_layers=[{b.layer}]), ClassifierOutputTarget(0) per image, its cv2 resize")]


# -- timing ----------------------------------------------------------------------------------------
#: what `timed` reads: wall time, or with --clock thread this thread's CPU time (time.thread_time), which
#: other processes on a shared machine barely move; at one torch thread every op runs on this thread
CLOCK = time.perf_counter


def timed(c: Case, number: int) -> float:
    """Seconds per call of c.run over `number` calls; the last maps are kept for check_maps."""
    t0 = CLOCK()
    for _ in range(number):
        c.last = c.run()
    return (CLOCK() - t0) / number


def calibrate(c: Case, warmup: int, min_sample_s: float) -> int:
    """Warm up, then how many calls make one sample last about min_sample_s."""
    for _ in range(warmup):
        c.last = c.run()
    return max(1, round(min_sample_s / max(timed(c, 1), 1e-6)))


def measure(cases: list[Case], forwards: list[Case], rounds: int, min_rounds: int, seconds: float,
            warmup: int, min_sample_s: float) -> int:
    """Interleaved: every round times, before each case, every forward in `forwards` (the NCHW batch and the
    channels_last batch, in alternating order) and then the case; the case's ratio is its time over the
    FASTEST of those forwards (kept in case.fastest), and each forward's own time and ratio to that fastest
    are recorded on the forward's Case. The case order is shuffled anew each round (seeded), so no case always follows
    the same one: a call that leaves the caches or the allocator in a bad state would otherwise slow the
    forward timed before one particular case, every round, and flatter that case's ratio. Stops after
    `rounds`, or once `seconds` have passed and `min_rounds` are done. Slow cases are not warmed up: one
    call per sample (their first call, at seconds a call, costs a few percent at most)."""
    start = time.perf_counter()
    for f in forwards:
        f.number = calibrate(f, warmup, min_sample_s)
    for c in cases:
        c.number = 1 if c.slow else calibrate(c, warmup, min_sample_s)
    done, collecting, order = 0, gc.isenabled(), random.Random(0)
    gc.disable()  # no collector pauses inside a sample (as timeit); one full collection per round instead
    try:
        while done < rounds and (done < min_rounds or time.perf_counter() - start < seconds):
            gc.collect()
            for i, c in enumerate(order.sample(cases, len(cases))):
                pair = forwards if i % 2 == 0 else forwards[::-1]  # neither layout always runs first
                t_fwd = {id(f): timed(f, f.number) for f in pair}
                t = timed(c, c.number)
                fastest = min(t_fwd.values())
                c.ms.append(t * 1e3)
                c.ratios.append(t / fastest)
                for f in forwards:
                    f.ms.append(t_fwd[id(f)] * 1e3)
                    f.ratios.append(t_fwd[id(f)] / fastest)
                c.fastest.append(fastest * 1e3)
            done += 1
    finally:
        if collecting:
            gc.enable()
    return done


def check_maps(cases: list[Case], x: torch.Tensor) -> list[str]:
    """Each implementation returned B x H x W maps in [0, 1] (its last timed call); record how far each is
    from pilotlens's. Where a gradient map is further than rounding from a reference's, pilotlens runs once
    more on the batch as given (PILOTLENS_CHANNELS_LAST=0): the lines returned say how far that one is, which
    tells a ReLU that opens differently in the two layouts' rounding (pilotlens/layout.py) from a wrong map."""
    ours: dict[str, Case] = {}
    notes = []
    for c in sorted(cases, key=lambda c: c.library != "pilotlens"):
        maps = c.last.detach()
        if tuple(maps.shape) != (x.shape[0], *x.shape[2:]) or not torch.isfinite(maps).all():
            raise AssertionError(f"{c.library} {c.method}: maps of shape {tuple(maps.shape)}, expected B x H x W finite")
        if maps.min() < -1e-4 or maps.max() > 1 + 1e-4:
            raise AssertionError(f"{c.library} {c.method}: maps outside [0, 1]")
        if c.library == "pilotlens":
            ours[c.method] = c
        elif c.method in ours:
            c.diff = float((maps - ours[c.method].last).abs().max())
            if c.diff > 1e-5 and c.method in LAYOUT_SENSITIVE and c.library == "captum":  # torchcam normalises first
                with batch_as_given():  # the NCHW rows' explainer: the batch as given must be NCHW to mean it
                    plain = float((maps - ours.get(c.method + ON_NCHW, ours[c.method]).run()).abs().max())
                notes.append(f"  Δmap {c.library} {c.method}: {c.diff:.0e}; pilotlens on the batch as given "
                             f"(PILOTLENS_CHANNELS_LAST=0): {plain:.0e}")
    return notes


@contextlib.contextmanager
def batch_as_given():
    """pilotlens's explainers run the batch as given (PILOTLENS_CHANNELS_LAST=0), then as before."""
    before = os.environ.get(pilotlens.layout.ENV)
    os.environ[pilotlens.layout.ENV] = "0"
    try:
        yield
    finally:
        if before is None:
            del os.environ[pilotlens.layout.ENV]
        else:
            os.environ[pilotlens.layout.ENV] = before


# -- the tables ------------------------------------------------------------------------------------
def med(v: list[float]) -> float:
    return statistics.median(v) if v else float("nan")


def quartiles(v: list[float]) -> tuple[float, float]:
    if len(v) < 4:
        return min(v), max(v)
    q = statistics.quantiles(v, n=4)
    return q[0], q[2]


def rows(cases: list[Case], forwards: list[Case], extras: list[Case]) -> list[dict]:
    """One row per method: pilotlens's ms and ratio, each library's, and pilotlens's speedup; first the
    fastest forward pass (the unit), each layout's forward as a ratio to it, then `extras`: the forward timed
    as a case (the noise floor of every ratio) and the gradient's kernel floor."""
    by = {(c.method, c.library): c for c in cases}
    fastest = [ms for c in cases + extras if not c.slow for ms in c.fastest]
    out = [{"method": "fastest forward (no_grad)", "ms": med(fastest), "ratio": 1.0, "iqr": None, "slow": False}]
    for f in forwards + extras:
        out.append({"method": f.method, "ms": med(f.ms), "ratio": med(f.ratios), "iqr": quartiles(f.ratios),
                    "slow": False})
    for method in dict.fromkeys(c.method for c in cases):
        ours = by.get((method, "pilotlens"))
        row = {"method": method, "ms": med(ours.ms) if ours else None, "ratio": med(ours.ratios) if ours else None,
               "iqr": quartiles(ours.ratios) if ours else None, "slow": any(c.slow for c in cases if c.method == method)}
        for lib in LIBRARIES:
            ref = by.get((method, lib))
            row[lib] = None if ref is None else {
                "ms": med(ref.ms), "ratio": med(ref.ratios), "diff": ref.diff,
                "speedup": med(ref.ratios) / row["ratio"] if row["ratio"] else None}
        out.append(row)
    return out


def fmt(v, spec: str, missing: str = "—") -> str:
    return missing if v is None else format(v, spec)


#: each library's short name in the column heads
SHORT = {"captum": "captum", "torchcam": "torchcam", "pytorch-grad-cam": "grad-cam"}
HEADER = (["method", "pilotlens ms", "× fwd"] + [f"{SHORT[lib]} {col}" for lib in LIBRARIES for col in ("ms", "× fwd")]
          + [f"speedup vs {SHORT[lib]}" for lib in LIBRARIES] + [f"Δmap {SHORT[lib]}" for lib in LIBRARIES])


def cells(row: dict, iqr: bool) -> list[str]:
    ratio = fmt(row["ratio"], ".2f")
    if iqr and row["iqr"] is not None:
        ratio += f" [{row['iqr'][0]:.2f}–{row['iqr'][1]:.2f}]"
    out = [row["method"], fmt(row["ms"], ".1f"), ratio]
    refs = [row.get(lib) for lib in LIBRARIES]
    for ref in refs:
        out += [fmt(ref and ref["ms"], ".1f"), fmt(ref and ref["ratio"], ".2f")]
    out += [fmt(ref and ref["speedup"], ".2f") + ("×" if ref and ref["speedup"] else "") for ref in refs]
    out += [fmt(ref and ref["diff"], ".0e") for ref in refs]
    return out


def text_table(table: list[dict]) -> str:
    lines = [HEADER] + [cells(r, iqr=True) for r in table]
    widths = [max(len(l[i]) for l in lines) for i in range(len(HEADER))]
    return "\n".join("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(l, widths)))
                     for l in lines)


def markdown_table(table: list[dict]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join(["---"] + ["---:"] * (len(HEADER) - 1)) + "|"]
    lines += ["| " + " | ".join(cells(r, iqr=False)) + " |" for r in table]
    return "\n".join(lines)


def target_lines(name: str, batch: int, table: list[dict]) -> list[str]:
    if name not in ("PilotNet", "DonkeyLinear") or batch != 32:
        return []
    out = []
    floor = next((r["ratio"] for r in table if r["method"] == GRADIENT_FLOOR), None)
    for row in table:
        goal = TARGETS.get(row["method"])
        if goal is not None and row["ratio"] is not None:
            verdict = "met" if row["ratio"] <= goal else "MISSED"
            line = f"  target {row['method']:<16} ≤ {goal:.1f}× the fastest forward: {row['ratio']:.2f}×  {verdict}"
            if goal >= 2 and floor is not None:
                line += f"  (the kernels alone: {floor:.2f}×)"
            out.append(line)
    return out


# -- main ------------------------------------------------------------------------------------------
def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"


def load() -> str:
    try:
        return " ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def steady_allocator() -> str:
    """pilotlens.keep_freed_memory(), as the pilotlens command does at start: glibc keeps freed blocks, so a
    forward pass timed after a call that freed tens of MB does not fault them back in (33 ms alone, 43-47 ms
    right after a Grad-CAM call, on PilotNet at one thread) and no ratio depends on the call before it.
    Both sides of every ratio, references included, run under it."""
    if pilotlens.keep_freed_memory():
        return "glibc malloc keeps freed memory (pilotlens.keep_freed_memory: mmap threshold 32 MB, trim threshold 1 GB)"
    return "allocator left as it is (not glibc, or PILOTLENS_KEEP_MEMORY=0)"


def warn_contention() -> None:
    """Say so when other processes use the cores this run's threads need: torch's threads then wait on
    each other at every op, which slows small ops far more than big ones and distorts the ratios."""
    try:
        busy = os.getloadavg()[0]
    except OSError:
        return
    free = (os.cpu_count() or 1) - busy
    if torch.get_num_threads() > max(1.0, free + 0.5):
        print(f"WARNING: load average {busy:.1f} on {os.cpu_count()} cores but {torch.get_num_threads()} torch threads: "
              "other processes compete for the cores and the ratios will be distorted; try --threads 1\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, nargs="+", default=[32], help="batch sizes (default 32)")
    p.add_argument("--repeats", type=int, default=None, help="most rounds for the fast methods (default 25; quick 6)")
    p.add_argument("--slow-repeats", type=int, default=None, help="most rounds for the slow section (default 3; quick 1)")
    p.add_argument("--seconds", type=float, default=None,
                   help="time budget of the method tables per thread count (default 150; quick 28): each model "
                        "and batch gets its share and stops adding rounds when it is spent (at least 3 fast "
                        "rounds, 1 slow round)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                   help="torch.set_num_threads, each in turn (default 1 2)")
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=["pilotnet", "donkey"],
                   help="pilotnet_gap (PilotNet's convs + global average pool + linear) is where cam runs")
    p.add_argument("--no-slow", action="store_true", help="skip integrated gradients and smoothgrad")
    p.add_argument("--occlusion-rounds", type=int, default=3,
                   help="rounds of the occlusion section (0 skips it; it takes minutes: captum's full passes)")
    p.add_argument("--occlusion-batch", type=int, default=1, help="images per occlusion call (default 1)")
    p.add_argument("--clock", choices=["wall", "thread"], default="wall",
                   help="wall (default) or thread: this thread's CPU time, robust on a loaded machine but only "
                        "meaningful at one torch thread (forces --threads 1; torch's worker threads are not counted)")
    p.add_argument("--quick", action="store_true",
                   help="fewer rounds, slow section only at the smallest batch, one occlusion round: a smoke run")
    args = p.parse_args(argv)
    global CLOCK
    if args.clock == "thread":
        CLOCK, args.threads = time.thread_time, [1]
    fast_rounds = args.repeats or (6 if args.quick else 25)
    slow_rounds = args.slow_repeats or (1 if args.quick else 3)
    seconds = args.seconds or (28.0 if args.quick else 150.0)
    warmup, min_sample_s = (1, 0.01) if args.quick else (2, 0.03)
    weight = {b: b ** 0.5 for b in args.batch}  # a bigger batch gets more of the budget: its calls are slower
    share = {b: seconds / len(args.models) * w / sum(weight.values()) for b, w in weight.items()}

    started = time.perf_counter()
    print(f"pilotlens explain speed — {machine()}; {steady_allocator()}")
    print(f"references: {CAPTUM}; {TORCHCAM}; {GRADCAM_LIB}")
    print(f"clock: {'this thread' + chr(39) + 's CPU time (time.thread_time)' if args.clock == 'thread' else 'wall'}; "
          f"threads {args.threads}; at most {fast_rounds} rounds (fast), {0 if args.no_slow else slow_rounds} (slow), "
          f"{seconds:.0f} s budget per thread count; load average at start: {load()}")
    print("ratios are to the FASTEST forward pass (NCHW and channels_last both timed next to each call); "
          "every implementation runs on the channels_last batch where the model takes it (pilotlens's rows "
          "'(NCHW batch)': on the NCHW batch, paying the copy); [p25–p75] across rounds\n")

    results, legend = [], {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        warn_contention()
        for b in benches(args.models):
            for batch in args.batch:
                x = b.batch(batch)
                # both layouts of the batch: the faster forward is the unit, and the references get the
                # channels_last batch too wherever the model runs it (the advantage pilotlens's explainers take)
                cl = pilotlens.layout.decide(b.model, x)
                xr = x.contiguous(memory_format=torch.channels_last) if cl else x
                forwards = [Case("forward NCHW", "forward", lambda m=b.model, x=x: _forward(m, x),
                                 label="model(x), no_grad, on the NCHW batch")]
                if cl:
                    forwards.append(Case("forward channels_last", "forward", lambda m=b.model, xr=xr: _forward(m, xr),
                                         label="model(x.contiguous(memory_format=torch.channels_last)), no_grad"))
                noise = Case("forward again", "forward", forwards[-1].run,
                             label=f"the {forwards[-1].method} pass timed as a case: the noise floor of every ratio")
                floor = gradient_floor(b.model, xr)
                ours, skipped = pilotlens_cases(b, xr, x)
                cases = ours + captum_cases(b, xr) + torchcam_cases(b, xr) + gradcam_lib_cases(b, xr)
                if args.no_slow or (args.quick and batch != min(args.batch)):
                    cases = [c for c in cases if not c.slow]
                fast, slow = [c for c in cases if not c.slow], [c for c in cases if c.slow]
                t0 = time.perf_counter()
                n_fast = measure([noise, floor] + fast, forwards, fast_rounds, 3, share[batch] * (0.5 if slow else 1.0),
                                 warmup, min_sample_s)
                n_slow = 0
                if slow:
                    n_slow = measure(slow, [Case(f.method, "forward", f.run) for f in forwards], slow_rounds, 1,
                                     share[batch] - (time.perf_counter() - t0), warmup, min_sample_s)
                notes = check_maps(cases, x)
                table = rows(cases, forwards, [noise, floor])
                title = f"{b.name} {'x'.join(map(str, b.shape))}, batch {batch}, {threads} thread(s)"
                print(f"== {title} (fastest forward {table[0]['ms']:.1f} ms; {n_fast} rounds fast, {n_slow} slow; "
                      f"load {load()})")
                print(text_table(table))
                for line in skipped:
                    print(f"  skipped {line}")
                for line in notes:
                    print(line)
                for line in target_lines(b.name, batch, table):
                    print(line)
                print()
                results.append((title, table, skipped, notes))
                legend.update({(c.library, c.method): c.label for c in cases + forwards + [noise, floor]})
                sys.stdout.flush()

    occlusion_rows = []
    rounds = 1 if args.quick else args.occlusion_rounds
    if rounds and captum is not None:
        import occlusion_speed
        print("occlusion, several window sizes (see bench/occlusion_speed.py):")
        occlusion_rows = occlusion_speed.run(args.threads, rounds, args.occlusion_batch)
        print()

    print("what runs (every call returns B x H x W maps, min-max normalised per image, at input resolution):")
    for (lib, method), label in sorted(legend.items()):
        print(f"  {lib:<16} {method:<20} {label}")
    print(f"\nload average at end: {load()}; total {time.perf_counter() - started:.0f} s\n")
    print("## Markdown\n")
    print(f"Ratios to the fastest forward pass (`torch.no_grad()`, NCHW and channels_last both timed next to each "
          f"call, the faster one the unit), median over interleaved rounds; pilotlens and the references on the "
          f"channels_last batch where the model takes it (pilotlens's '(NCHW batch)' rows: on the NCHW batch); {machine()}; {GRADCAM_LIB}. "
          "Speedup = reference's ratio / pilotlens's. Δmap = max |reference map − pilotlens map| (both min-max "
          "normalised at input resolution; smoothgrad draws different noise).\n")
    for title, table, skipped, notes in results:
        print(f"**{title}**\n")
        print(markdown_table(table))
        if skipped:
            print("\nskipped: " + "; ".join(skipped))
        for line in notes:
            print("\n" + line.strip())
        print()
    if occlusion_rows:
        print("**Occlusion** (windows of several sizes, stride half the window; Δmap relative to captum's largest "
              "value)\n")
        print(occlusion_speed.markdown(occlusion_rows))
    return 0


def _forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x)


def convs_with_io(model: nn.Module, x: torch.Tensor) -> list[tuple[str, nn.Conv2d, torch.Tensor, torch.Tensor]]:
    """(name, conv, its input, its output) for every Conv2d that runs, from one no_grad forward of x."""
    names = {m: n for n, m in model.named_modules()}
    seen = []
    grab = [m.register_forward_hook(lambda m, i, o: seen.append((names[m], m, i[0].detach(), o.detach())))
            for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        _forward(model, x)
    finally:
        for h in grab:
            h.remove()
    return seen


#: the row of gradient_floor's case
GRADIENT_FLOOR = "gradient floor"


def gradient_floor(model: nn.Module, x: torch.Tensor) -> Case:
    """What any input gradient of this model costs at least with these kernels: the no_grad forward, then each
    Conv2d's input gradient alone, from a made-up gradient of its output: oneDNN's backward-data, or for a
    strided conv with few input channels pilotlens's forward-convolution form (the faster of the two). No
    autograd, no activation or linear layer's backward, no map: a lower bound, not a method."""
    from pilotlens.methods._fast_input_grad import input_grad

    # each conv's input gradient as pilotlens computes one outside autograd (the fast form where it serves)
    steps = [lambda c=conv, g=torch.randn_like(out), w=conv.weight.detach(), shape=inp.shape: input_grad(c, g, w, shape)
             for _, conv, inp, out in convs_with_io(model, x)]

    def run() -> torch.Tensor:
        out = _forward(model, x)
        with torch.no_grad():
            for step in steps:
                step()
        return out

    return Case(GRADIENT_FLOOR, "forward", run, label="the no_grad forward, then each conv's input gradient alone "
                "(oneDNN's backward-data, or pilotlens's form where it is faster): the least any gradient costs")


if __name__ == "__main__":
    sys.exit(main())
