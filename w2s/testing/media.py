"""Small real videos for tests: frames in, an H.264 mp4 out (PyAV)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np


def write_video(path, frames: list[np.ndarray], fps: int = 25, crf: int = 10) -> None:
    """uint8 ``(H, W, 3)`` frames as an H.264 mp4 at ``path`` (near-lossless at the default CRF)."""
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": str(crf)}
        stream.time_base = Fraction(1, fps)
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
