"""Students: a frozen perception backbone plus a small calibration branch."""

from w2s.registry import Registry

BACKBONES = Registry(
    "backbone",
    {
        "efficientnet_lite0": "students.efficientnet_lite:EfficientNetLite0",
    },
)
