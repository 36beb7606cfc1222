"""The run config: typed, validated once, unknown keys fail.

Each key is documented once, by its field's help in :mod:`w2s.config.sections`
(``w2s config`` prints every key, its type, default and help); ``configs/*.yaml``
override the defaults. Paths in a config file resolve against the folder it is
run from. Reading, type checks and :func:`explain` are in :mod:`w2s.config.loading`.
"""

from w2s.config.loading import Key, explain, load_config, load_run_config
from w2s.config.sections import (
    ComparativeConfig,
    EvalConfig,
    HardCasesConfig,
    HeadKind,
    LossName,
    PairsConfig,
    PoolConfig,
    RunConfig,
    StudentConfig,
    TrainConfig,
)

__all__ = [
    "ComparativeConfig",
    "EvalConfig",
    "HardCasesConfig",
    "HeadKind",
    "Key",
    "LossName",
    "PairsConfig",
    "PoolConfig",
    "RunConfig",
    "StudentConfig",
    "TrainConfig",
    "explain",
    "load_config",
    "load_run_config",
]
