"""AV1 compression (libaom) through the ffmpeg binary."""

from __future__ import annotations

from distortions.codec import _Codec
from w2s.core.errors import W2SError


class AV1(_Codec):
    """Real libaom-av1 encode/decode in constant-quality mode, cpu-used 8; the ladder lists the CRF (0..63).

    One thread, no row multithreading and a single tile keep it deterministic
    (byte-identical across runs, checked). About 0.1-0.2 s for 8 frames of
    320x180.
    """

    name = "av1"
    ENCODER = "libaom-av1"
    PRESET = "good"  # libaom usage
    CPU_USED = 8
    DEFAULT_LADDER = (32, 40, 48, 55, 63)
    CRF_RANGE = (0, 63)

    def extra_params(self, level):
        return {**super().extra_params(level), "cpu_used": self.CPU_USED}

    def encoder_args(self, crf, preset, params):
        cpu_used = self._get(params, "cpu_used")
        if isinstance(cpu_used, bool) or not isinstance(cpu_used, int) or not 0 <= cpu_used <= 9:
            raise W2SError(f"{self.name}: params cpu_used {cpu_used!r} must be an integer in 0..9")
        return [
            "-c:v", "libaom-av1", "-usage", preset, "-b:v", "0", "-crf", str(crf),
            "-cpu-used", str(cpu_used), "-row-mt", "0", "-tiles", "1x1", "-threads", "1",
        ]  # fmt: skip
