import json
import logging
import shutil
from pathlib import Path

import pandas as pd
import pytest

from w2s.core.errors import W2SError
from w2s.media.scan import (
    MANIFEST_COLUMNS,
    PoolEntry,
    build_manifest,
    derive_id,
    scan_pool,
)


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_folder_recursive_sorted_ids(tmp_path):
    for name in [
        "a.mp4",
        "A.MP4",
        "sub/b#1.webm",
        "sub/deep/c d@x.png",
        "notes.txt",
        ".hidden.mp4",
        ".git/x.mp4",
        "sub/.y.mp4.part",
    ]:
        touch(tmp_path / name)
    entries = scan_pool(tmp_path)
    assert [e.id for e in entries] == ["A", "a", "sub__b_1", "sub__deep__c_d_x"]
    assert entries[2].path == str(tmp_path / "sub" / "b#1.webm")
    assert all(Path(e.path).is_absolute() for e in entries)


def test_duplicate_ids_get_suffixes(tmp_path):
    for name in ["clip.mkv", "clip.mp4", "clip.png"]:
        touch(tmp_path / name)
    assert [e.id for e in scan_pool(tmp_path)] == ["clip", "clip~2", "clip~3"]


def test_derive_id():
    assert derive_id("a/b c/d#e@f.mp4") == "a__b_c__d_e_f"
    assert derive_id("x.y.mp4") == "x.y"


def test_csv_relative_paths(tmp_path):
    lists = tmp_path / "lists"
    touch(tmp_path / "videos" / "x.mp4")
    touch(lists / "clips" / "z.mp4")
    (lists / "pool.csv").write_text("id,path,mos\n,../videos/x.mp4,3.1\nmine,clips/z.mp4,4\n,clips/z.mp4,2\n")
    entries = scan_pool(lists / "pool.csv")
    assert entries == [
        PoolEntry("x", str(tmp_path / "videos" / "x.mp4")),  # outside the list's folder: file name only
        PoolEntry("mine", str(lists / "clips" / "z.mp4")),
        PoolEntry("clips__z", str(lists / "clips" / "z.mp4")),
    ]


def test_csv_without_path_column(tmp_path):
    (tmp_path / "p.csv").write_text("id,file\na,a.mp4\n")
    with pytest.raises(W2SError, match=r"p\.csv.*'path' column"):
        scan_pool(tmp_path / "p.csv")


def test_csv_empty_path_names_line(tmp_path):
    (tmp_path / "p.csv").write_text('path\na.mp4\n""\n')
    with pytest.raises(W2SError, match="line 3"):
        scan_pool(tmp_path / "p.csv")


def test_jsonl_relative_paths_and_ids(tmp_path):
    lines = [{"path": "v/a.mp4"}, {"path": str(tmp_path / "v" / "a.mp4"), "id": 7}, {"path": "v/a.mp4"}]
    (tmp_path / "p.jsonl").write_text(
        "\n".join(map(json.dumps, lines[:2])) + "\n\n" + json.dumps(lines[2]) + "\n"
    )
    entries = scan_pool(tmp_path / "p.jsonl")
    assert [e.id for e in entries] == ["v__a", "7", "v__a~2"]
    assert {e.path for e in entries} == {str(tmp_path / "v" / "a.mp4")}


@pytest.mark.parametrize(
    "bad, pattern",
    [
        ('{"path": "a.mp4"}\n{"path": "b.mp4"\n', r"p\.jsonl, line 2.*not valid JSON"),
        ('{"path": "a.mp4"}\n\n{"file": "b.mp4"}\n', r"line 3.*missing key 'path'"),
        ('["a.mp4"]\n', r"line 1.*JSON object"),
        ('{"path": "a.mp4", "id": "a#b"}\n', r"line 1.*'#'"),
    ],
)
def test_jsonl_errors_name_line_and_key(tmp_path, bad, pattern):
    (tmp_path / "p.jsonl").write_text(bad)
    with pytest.raises(W2SError, match=pattern):
        scan_pool(tmp_path / "p.jsonl")


def test_source_errors(tmp_path):
    with pytest.raises(W2SError, match="does not exist"):
        scan_pool(tmp_path / "missing")
    touch(tmp_path / "readme.txt")
    with pytest.raises(W2SError, match="empty"):
        scan_pool(tmp_path)
    with pytest.raises(W2SError, match="folder, a .csv or a .jsonl"):
        scan_pool(tmp_path / "readme.txt")
    (tmp_path / "e.jsonl").write_text("\n")
    with pytest.raises(W2SError, match="empty"):
        scan_pool(tmp_path / "e.jsonl")


def test_build_manifest_records_failures(tmp_path, carphone, skimage_dir, corrupt_mp4, caplog):
    shutil.copy(carphone, tmp_path / "carphone.mp4")
    shutil.copy(skimage_dir / "coffee.png", tmp_path / "coffee.png")
    shutil.copy(corrupt_mp4, tmp_path / "broken.mp4")
    with caplog.at_level(logging.DEBUG, logger="w2s.media.scan"):
        manifest = build_manifest(scan_pool(tmp_path), progress=False)
    assert list(manifest.columns) == MANIFEST_COLUMNS
    rows = manifest.set_index("id")
    assert list(rows.index) == ["broken", "carphone", "coffee"]
    assert rows.loc["broken", "status"] == "failed"
    assert "broken.mp4" in rows.loc["broken", "error"]
    # logged once, at debug: the run prints each failure once, in its table (-v shows this line)
    assert [r.levelno for r in caplog.records if "broken" in r.getMessage()] == [logging.DEBUG]
    ok = rows.loc[["carphone", "coffee"]]
    assert (ok.status == "ok").all() and (ok.error == "").all()
    assert rows.loc["carphone", ["kind", "frames", "width", "height"]].tolist() == ["video", 120, 176, 144]
    assert rows.loc["coffee", ["kind", "frames", "width", "height"]].tolist() == ["image", 1, 600, 400]
    assert manifest.frames.dtype.kind == "i" and manifest.fps.dtype.kind == "f"
    # the run stores the manifest as parquet: values and dtypes must come back unchanged
    manifest.to_parquet(tmp_path / "manifest.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "manifest.parquet"), manifest)


def test_build_manifest_missing_listed_file(tmp_path):
    (tmp_path / "p.csv").write_text("path\ngone.mp4\n")
    manifest = build_manifest(scan_pool(tmp_path / "p.csv"), progress=False)
    assert manifest.status.tolist() == ["failed"]
    assert "not found" in manifest.error[0]
