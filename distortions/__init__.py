"""Distortion families, by public name.

Resolved lazily through the registry, so listing names imports no torch, kornia
or ffmpeg code (checking a config's ladders builds the families it names).
"""

from w2s.core.registry import Registry

DISTORTIONS = Registry(
    "distortion",
    {
        "blur": "distortions.blur:GaussianBlur",
        "noise": "distortions.noise:GaussianNoise",
        "jpeg": "distortions.jpeg:JPEG",
        "resize": "distortions.resize:DownUpResize",
        "darken": "distortions.darken:Darken",
        "brighten": "distortions.brighten:Brighten",
        "motion_blur": "distortions.motion_blur:MotionBlur",
        "contrast": "distortions.contrast:ContrastReduction",
        "h264": "distortions.codec:H264",
        "h265": "distortions.codec:H265",
        "vp9": "distortions.codec:VP9",
        "av1": "distortions.av1:AV1",
        "saturation": "distortions.saturation:Desaturation",
        "sharpen": "distortions.sharpen:Sharpen",
        "stutter": "distortions.stutter:Stutter",
        "jitter": "distortions.jitter:Jitter",
        "flicker": "distortions.flicker:Flicker",
        "framerate": "distortions.framerate:FrameRate",
        "resize_h264": "distortions.compound:ResizeH264",
        # camera capture: what a phone's lens, sensor and processing do to a shot
        "defocus": "distortions.optics:Defocus",
        "shake": "distortions.optics:Shake",
        "lowlight": "distortions.lowlight:LowLight",
        "exposure": "distortions.light:Exposure",
        "wb": "distortions.light:WhiteBalance",
        "jpeg2x": "distortions.jpeg2x:DoubleJPEG",
        "halo": "distortions.halo:Halo",
        "capture": "distortions.capture:Capture",
    },
)



def make_distortions(families: dict) -> dict:
    """{family: the family's distortion on its ladder}, from a config's {family: ladder or None}."""
    return {family: DISTORTIONS.resolve(family)(ladder=ladder) for family, ladder in families.items()}


__all__ = ["DISTORTIONS", "make_distortions"]
