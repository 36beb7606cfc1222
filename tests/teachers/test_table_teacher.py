import logging
import math

import pandas as pd
import pytest
import torch

from teachers.table_teacher import TableTeacher
from w2s.core.clip import Clip, variant_id
from w2s.core.errors import W2SError


def _clip(clip_id: str, source: str | None = None) -> Clip:
    meta = {"source": source} if source else {}
    return Clip(clip_id, torch.zeros(1, 3, 4, 4), 1.0, meta)


def _write(tmp_path, rows, name="scores.csv"):
    path = tmp_path / name
    df = pd.DataFrame(rows)
    if name.endswith(".csv"):
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False)
    return path


def test_match_by_id_and_variants_abstain(tmp_path):
    path = _write(tmp_path, {"id": ["a", "b"], "score": [1.5, 2.5]})
    t = TableTeacher(str(path))
    assert t.name == f"table:{path}"
    assert t.score(_clip("b")) == 2.5
    assert math.isnan(t.score(_clip(variant_id("a", "blur", 2))))
    assert t.missing_report() == []  # a variant is not "missing"


def test_match_by_relative_path_tail(tmp_path):
    path = _write(tmp_path, {"path": ["videos/x/a.mp4", "videos/y/a.mp4"], "dover": [0.1, 0.9]}, "s.parquet")
    t = TableTeacher(str(path), column="dover")
    assert t.score(_clip("a", "/data/pool/videos/y/a.mp4")) == 0.9
    assert t.score(_clip("a", "/data/pool/videos/x/a.mp4")) == 0.1
    # an absolute path in the table matches exactly
    src = tmp_path / "clips" / "c.mp4"
    t2 = TableTeacher(str(_write(tmp_path, {"path": [str(src)], "score": [3.0]}, "abs.csv")))
    assert t2.score(_clip("whatever", str(src))) == 3.0


def test_match_by_file_stem_and_forced_mode(tmp_path):
    path = _write(tmp_path, {"file": ["bikes.mp4", "chelsea.png"], "score": [4.0, 5.0]})
    t = TableTeacher(str(path))
    assert t.score(_clip("renamed", "/somewhere/chelsea.png")) == 5.0
    assert t.score(_clip("bikes")) == 4.0  # no source: the id stands for the stem
    with pytest.raises(W2SError, match="needs a id column"):
        TableTeacher(str(path), match="id")


def test_missing_items_abstain_and_are_reported(tmp_path, caplog):
    path = _write(tmp_path, {"id": ["a"], "score": [1.0]})
    t = TableTeacher(str(path))
    with caplog.at_level(logging.WARNING, logger="teachers.table_teacher"):
        assert math.isnan(t.score(_clip("zz")))
        assert math.isnan(t.score(_clip("yy")))
        assert math.isnan(t.score(_clip("zz")))
        t.close()
        t.close()
    assert t.missing_report() == ["zz", "yy"]
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2 and "'zz'" in warnings[0] and "2 item(s)" in warnings[1]


def test_lower_better_negates(tmp_path):
    path = _write(tmp_path, {"id": ["a"], "niqe": [4.25]})
    assert TableTeacher(str(path), column="niqe", lower_better=True).score(_clip("a")) == -4.25


def test_errors_name_the_file(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(W2SError, match="nope.csv: no such file"):
        TableTeacher.check(str(missing))
    with pytest.raises(W2SError, match=r"\.csv or \.parquet"):
        TableTeacher.check(str(tmp_path / "x.json"))
    nokey = _write(tmp_path, {"video": ["a"], "score": [1.0]}, "nokey.csv")
    with pytest.raises(W2SError, match=r"nokey\.csv: no key column.*columns: video, score"):
        TableTeacher.check(str(nokey))
    noscore = _write(tmp_path, {"id": ["a"], "mos": [1.0]}, "noscore.csv")
    TableTeacher.check(str(noscore))  # check only sees the path
    with pytest.raises(W2SError, match=r"noscore\.csv: no score column 'score' \(columns: id, mos\)"):
        TableTeacher(str(noscore))
    amb = _write(tmp_path, {"path": ["x/a.mp4", "y/a.mkv"], "score": [1.0, 2.0]}, "amb.csv")
    t = TableTeacher(str(amb))
    with pytest.raises(W2SError, match=r"amb\.csv: file stem 'a' matches 2 rows"):
        t.score(_clip("a"))
