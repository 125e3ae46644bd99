"""Video and frame-folder writers, chosen by the output's extension.

Every sink writes to a hidden temporary name in the output's directory and renames it to the
final name only when close() succeeds: a crash, an exception or a kill never leaves a truncated
file under the name you asked for (see pilotlens.outputs: SIGTERM cleans up too, and a later run
writing the same output removes what a SIGKILLed one left).
"""
from __future__ import annotations

import math
import os
from fractions import Fraction

import av
import cv2
import numpy as np
from PIL import Image

from ._arrays import check_image
from ..outputs import discard, partial_path, publish, publish_folder

# extension -> (codec, pixel format, codec options, container options).
# H.264 + yuv420p + faststart is what every browser plays; OpenCV's mp4v is not.
FORMATS: dict[str, tuple[str, str, dict[str, str], dict[str, str]]] = {
    ".mp4": ("libx264", "yuv420p", {"preset": "fast", "crf": "20"}, {"movflags": "+faststart"}),
    ".webm": ("libvpx-vp9", "yuv420p",
              {"deadline": "good", "cpu-used": "5", "row-mt": "1", "crf": "32", "b": "0"}, {}),
    ".avi": ("mjpeg", "yuvj420p", {}, {}),
    ".gif": ("gif", "pal8", {}, {"loop": "0"}),  # loop 0: forever
}
FOLDER = "PNG folder (a path ending with '/' or without an extension)"
SUPPORTED = tuple(FORMATS) + (FOLDER,)
MJPEG_QUALITY = 3  # ffmpeg's -q:v scale, 2 (best) .. 31


def _rate(fps: float | Fraction) -> Fraction:
    """fps as an exact fraction: 29.97 -> 2997/100, 30000/1001 stays 30000/1001."""
    if isinstance(fps, Fraction):
        rate = fps
    else:
        f = float(fps)
        if not math.isfinite(f):
            raise ValueError(f"fps must be a finite number, got {fps!r}")
        rate = Fraction(f).limit_denominator(10000)
    if rate <= 0:
        raise ValueError(f"fps must be > 0, got {fps!r}")
    return rate


def _quantize(im: Image.Image) -> Image.Image:
    """256 colours: median cut on a small copy (fast), then every pixel mapped to the nearest colour."""
    small = im.copy()
    small.thumbnail((160, 160))
    palette = small.quantize(256, method=Image.Quantize.MEDIANCUT)
    return im.quantize(palette=palette, dither=Image.Dither.NONE)


class Sink:
    """Frames in, one output. Use as a context manager, or call close() (publish) or abort() (discard).

    Attributes: path (the final name), fps (a Fraction), frames_written, size ((height, width) of
    the frames, fixed by the first one).
    """

    def __init__(self, path: str, fps: float | Fraction) -> None:
        self.path = path
        self.fps = _rate(fps)
        self.frames_written = 0
        self.size: tuple[int, int] | None = None
        self.closed = False

    # subclasses fill these in
    def _write(self, image: np.ndarray) -> None: ...
    def _finish(self) -> None: ...
    def _publish(self) -> None: ...
    def _discard(self) -> None: ...

    def write(self, image: np.ndarray) -> None:
        """Append one uint8 RGB H x W x 3 frame; every frame must have the size of the first."""
        if self.closed:
            raise ValueError(f"cannot write to {self.path}: the sink is closed")
        img = check_image(image, "a video frame")
        if self.size is None:
            self.size = img.shape[:2]
        elif img.shape[:2] != self.size:
            raise ValueError(f"all frames written to {self.path} must have the same size: the first was "
                             f"{self.size[1]}x{self.size[0]} (WxH), frame {self.frames_written} is "
                             f"{img.shape[1]}x{img.shape[0]}")
        self._write(img)
        self.frames_written += 1

    def close(self) -> None:
        """Finish the output and move it to its final name. With no frames written nothing is saved (ValueError)."""
        if self.closed:
            return
        self.closed = True
        try:
            if self.frames_written == 0:
                raise ValueError(f"no frames were written to {self.path}; nothing was saved")
            self._finish()
            self._publish()
        except BaseException:
            self._discard()
            raise

    def abort(self) -> None:
        """Drop everything written so far; the final name is left untouched."""
        if not self.closed:
            self.closed = True
            self._discard()

    def __enter__(self) -> "Sink":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __del__(self) -> None:
        # never closed: the output is not known to be complete, so it must not appear
        try:
            self.abort()
        except Exception:
            pass

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<{type(self).__name__} {self.path!r} fps={self.fps} frames={self.frames_written} {state}>"


class AVSink(Sink):
    """A video file encoded with PyAV (FFmpeg): mp4 (H.264), webm (VP9), avi (MJPEG), gif."""

    def __init__(self, path: str, fps: float | Fraction = 20.0, options: dict[str, str] | None = None) -> None:
        super().__init__(path, fps)
        self.ext = os.path.splitext(path)[1].lower()
        self.codec, self.pix_fmt, opts, self._container_opts = FORMATS[self.ext]
        self.options = {**opts, **{k: str(v) for k, v in (options or {}).items()}}
        self.tmp = partial_path(path, self.ext)
        self._container = av.open(self.tmp, "w", format=self.ext.lstrip("."), options=self._container_opts)
        self._stream = None

    def _even(self, img: np.ndarray) -> np.ndarray:
        # 4:2:0 chroma needs even sizes: repeat the last row/column rather than lose it
        if self.pix_fmt.startswith(("yuv420", "yuvj420")):
            h, w = img.shape[:2]
            if h % 2 or w % 2:
                img = cv2.copyMakeBorder(img, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)
        return img

    def _open_stream(self, img: np.ndarray) -> None:
        s = self._container.add_stream(self.codec, rate=self.fps, options=self.options)
        s.height, s.width = img.shape[:2]
        s.pix_fmt = self.pix_fmt
        s.time_base = 1 / self.fps
        if self.codec == "mjpeg":
            s.codec_context.qscale = True  # constant quality, not the low default bit rate
            s.codec_context.global_quality = MJPEG_QUALITY * 118  # FF_QP2LAMBDA
        self._stream = s

    def _frame(self, img: np.ndarray) -> av.VideoFrame:
        if self.pix_fmt == "pal8":
            # GIF: an adaptive 256-colour palette per frame (FFmpeg's fixed rgb8 palette bands badly)
            q = _quantize(Image.fromarray(img))
            pal = np.zeros((256, 4), np.uint8)
            pal[:, 0] = 255  # ARGB, opaque
            rgb = np.asarray(q.getpalette()[: 256 * 3], np.uint8).reshape(-1, 3)
            pal[: len(rgb), 1:] = rgb
            return av.VideoFrame.from_ndarray((np.asarray(q), pal), format="pal8")
        return av.VideoFrame.from_ndarray(img, format="rgb24")

    def _write(self, image: np.ndarray) -> None:
        img = self._even(image)
        if self._stream is None:
            self._open_stream(img)
        frame = self._frame(img)
        frame.pts = self.frames_written
        frame.time_base = 1 / self.fps
        self._container.mux(self._stream.encode(frame))

    def _finish(self) -> None:
        self._container.mux(self._stream.encode(None))  # flush the encoder's delayed frames
        self._container.close()

    def _publish(self) -> None:
        publish(self.tmp, self.path)

    def _discard(self) -> None:
        try:
            self._container.close()
        except Exception:
            pass  # half-written or never started: it is deleted below anyway
        discard(self.tmp)


class FolderSink(Sink):
    """A folder of frame_000000.png, frame_000001.png, ... written to a temporary folder, then renamed."""

    PATTERN = "frame_{:06d}.png"

    def __init__(self, path: str, fps: float | Fraction = 20.0) -> None:
        super().__init__(os.path.normpath(path), fps)
        self._check_replaceable()
        self.tmp = partial_path(self.path)
        os.mkdir(self.tmp)

    def _check_replaceable(self) -> None:
        # replace a previous frame folder, but never delete someone's other files
        if os.path.isdir(self.path):
            other = [n for n in os.listdir(self.path) if not (n.startswith("frame_") and n.endswith(".png"))]
            if other:
                raise FileExistsError(f"{self.path} exists and holds files other than frame_*.png "
                                      f"(e.g. {other[0]!r}); choose an empty or new folder")
        elif os.path.exists(self.path):
            raise FileExistsError(f"{self.path} exists and is not a folder")

    def _write(self, image: np.ndarray) -> None:
        ok, buf = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        if not ok:
            raise OSError(f"could not encode frame {self.frames_written} as PNG")
        with open(os.path.join(self.tmp, self.PATTERN.format(self.frames_written)), "wb") as f:
            f.write(buf.tobytes())

    def _publish(self) -> None:
        self._check_replaceable()
        publish_folder(self.tmp, self.path)

    def _discard(self) -> None:
        discard(self.tmp)


def is_folder(path: str) -> bool:
    """Whether `path` names a folder of PNG frames (ends with '/', is a folder, or has no extension)."""
    return path.endswith(("/", os.sep)) or os.path.isdir(path) or not os.path.splitext(path)[1]


def open_sink(path: str | os.PathLike, fps: float | Fraction = 20.0, options: dict[str, str] | None = None) -> Sink:
    """Open a writer for `path`, chosen by its extension: .mp4 (H.264), .webm (VP9), .avi (MJPEG),
    .gif (looping), or a folder of PNGs (a path ending with '/' or without an extension).

    fps may be fractional (29.97, or Fraction(30000, 1001)); GIF stores delays in 1/100 s so its
    rate is rounded. options: encoder options passed to FFmpeg, e.g. {"crf": "18"} for mp4.
    Odd widths or heights are padded by one repeated row/column for mp4, webm and avi.
    """
    p = os.fspath(path)
    if is_folder(p):
        if options:
            raise ValueError("options apply to video files, not to a PNG folder")
        return FolderSink(p, fps)
    ext = os.path.splitext(p)[1].lower()
    if ext not in FORMATS:
        raise ValueError(f"cannot write {p!r}: unknown extension {ext!r}; supported: {', '.join(SUPPORTED)}")
    return AVSink(p, fps, options)
