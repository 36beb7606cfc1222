"""Reading human-rated sets: every preset's official layout, the generic adapters, bad rows, errors.

Each preset test writes a small label file in that set's official layout (the
columns and separators the public copies use) next to tiny real videos, and
checks the ids, paths and scores exactly.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import scipy.io

from w2s.core.errors import W2SError
from w2s.labelled import (
    PRESETS,
    LabelFileError,
    LabelledSet,
    load_labelled_set,
    preset_names,
)
from w2s.labelled.presets import find_preset


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, Path]:
    """One tiny real clip per container (4 frames, 32x32), copied wherever a test needs a video."""
    folder = tmp_path_factory.mktemp("clips")
    made = {}
    for suffix, codec in ((".mp4", "libx264"), (".mkv", "libx264"), (".avi", "mpeg4")):
        path = folder / f"clip{suffix}"
        with av.open(str(path), mode="w") as container:
            stream = container.add_stream(codec, rate=25)
            stream.width = stream.height = 32
            stream.pix_fmt = "yuv420p"
            stream.time_base = Fraction(1, 25)
            for i in range(4):
                frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 40 * i, np.uint8), format="rgb24")
                frame.pts = i
                container.mux(stream.encode(frame))
            container.mux(stream.encode())
        made[suffix] = path
    raw = folder / "clip.yuv"  # raw 4:2:0, as LIVE-Qualcomm ships: 4 frames of 32x32
    raw.write_bytes(np.arange(4 * 32 * 32 * 3 // 2, dtype=np.uint8).tobytes())
    made[".yuv"] = raw
    return made


@pytest.fixture
def place(clips):
    """Put a real clip at ``root/relative`` (container by extension; mp4 for any other) and return its path."""

    def put(root: Path, relative: str) -> Path:
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(clips.get(target.suffix.lower(), clips[".mp4"]), target)
        return target

    return put


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding=encoding)
    return path


def check(labelled: LabelledSet, expected: list[tuple[str, Path, float]]) -> None:
    """The set holds exactly these (id, path, mos) rows, in file order, and no failures."""
    assert labelled.failures.empty, labelled.failures.to_dict("records")
    assert list(labelled.videos.columns) == ["id", "path", "mos"]
    assert labelled.videos["id"].tolist() == [e[0] for e in expected]
    assert labelled.videos["path"].tolist() == [str(e[1]) for e in expected]
    assert labelled.videos["mos"].tolist() == [e[2] for e in expected]
    for path in labelled.videos["path"]:
        with av.open(path) if not path.endswith(".yuv") else open(path, "rb"):
            pass  # a real file that opens


# --- every preset, in its official layout ------------------------------------------------------


def test_every_preset_has_a_test_below():
    tested = {
        "konvid1k", "live-vqc", "youtube-ugc", "lsvq-test", "lsvq-test-1080p", "cvd2014", "live-qualcomm",
        "kvq", "live-yt-gaming", "waterloo-ivc-4k", "cgvds", "live-yt-hfr", "live-yt-hfr-dmos",
    }  # fmt: skip
    assert set(preset_names()) == tested
    assert all(p.note for p in PRESETS)


def test_konvid1k(tmp_path, place):
    write(
        tmp_path / "KoNViD_1k_metadata" / "KoNViD_1k_attributes.csv",
        "flickr_id,MOS\n3339962845,4.64\n10053703034,1.22\n5891610366,3.1\n",
    )
    paths = [place(tmp_path, f"KoNViD_1k_videos/{i}.mp4") for i in ("3339962845", "10053703034", "5891610366")]
    labelled = load_labelled_set("KoNViD-1k", tmp_path)
    check(labelled, [("3339962845", paths[0], 4.64), ("10053703034", paths[1], 1.22), ("5891610366", paths[2], 3.1)])
    assert (labelled.name, labelled.mos_range, labelled.lower_better) == ("konvid1k", (1.0, 5.0), False)
    assert labelled.target.tolist() == [4.64, 1.22, 3.1]
    # the videos folder itself as the root: the label file is found in its parent's metadata folder
    again = load_labelled_set("konvid1k", tmp_path / "KoNViD_1k_videos")
    assert again.videos["path"].tolist() == [str(p) for p in paths]


def test_live_vqc(tmp_path, place):
    names = np.array([["A001.mp4"], ["A002.mp4"], ["B107.mp4"]], dtype=object)  # a cell array, as data.mat holds
    scipy.io.savemat(tmp_path / "data.mat", {"video_list": names, "mos": np.array([[80.23], [52.1], [6.2237]])})
    paths = [place(tmp_path, f"Video/{n}") for n in ("A001.mp4", "A002.mp4", "B107.mp4")]
    labelled = load_labelled_set("live-vqc", tmp_path)
    check(labelled, [("A001.mp4", paths[0], 80.23), ("A002.mp4", paths[1], 52.1), ("B107.mp4", paths[2], 6.2237)])
    assert labelled.mos_range == (0.0, 100.0)


def test_youtube_ugc_from_the_csv_export_of_the_mos_sheet(tmp_path, place):
    write(
        tmp_path / "original_videos_MOS_for_YouTube_UGC_dataset.csv",
        "vid,MOS full,MOS chunk00,MOS chunk05,MOS chunk10\n"
        "Animation_1080P-01b3,4.106,4.0,4.1,4.2\n"
        "Vlog_720P-2929,3.918,3.9,,\n",
    )
    original = place(tmp_path, "original_videos/Animation/1080P/Animation_1080P-01b3.mkv")
    h264 = place(tmp_path, "original_videos_h264/Vlog_720P-2929_crf_10_ss_00_t_20.0.mp4")  # DOVER's copies
    labelled = load_labelled_set("youtube-ugc", tmp_path)
    check(labelled, [("Animation_1080P-01b3", original, 4.106), ("Vlog_720P-2929", h264, 3.918)])


def test_youtube_ugc_xlsx_without_openpyxl_says_to_export_the_sheet(tmp_path):
    if importlib.util.find_spec("openpyxl") is not None:
        pytest.skip("openpyxl is installed: the XLSX is read as is")
    write(tmp_path / "original_videos_MOS_for_YouTube_UGC_dataset.xlsx", "not really a workbook")
    with pytest.raises(LabelFileError) as err:
        load_labelled_set("youtube-ugc", tmp_path)
    message = str(err.value)
    assert "original_videos_MOS_for_YouTube_UGC_dataset.xlsx" in message
    assert "openpyxl" in message and "'MOS'" in message and "CSV" in message and "label_file=" in message


LSVQ_COLUMNS = (
    "name,p1,p2,p3,height,width,mos_p1,mos_p2,mos_p3,mos,frame_number,fn_last_frame,left_p1,right_p1,top_p1,"
    "bottom_p1,start_p1,end_p1,left_p2,right_p2,top_p2,bottom_p2,start_p2,end_p2,left_p3,right_p3,top_p3,"
    "bottom_p3,start_p3,end_p3,top_vid,left_vid,bottom_vid,right_vid,start_vid,end_vid"
)


def _lsvq_row(name: str, mos: str, n_rest: int) -> str:
    fields = [name, "p1", "p2", "p3", "540", "960", "60", "61", "62", mos] + ["1"] * n_rest
    return ",".join(fields)


@pytest.mark.parametrize(
    "preset, file, extra_columns",
    [
        ("lsvq-test", "LSVQ_whole_test.csv", ",is_test,is_valid"),
        ("lsvq-test-1080p", "LSVQ_whole_test_1080p.csv", ",is_valid"),
    ],
)
def test_lsvq(tmp_path, place, preset, file, extra_columns):
    header = LSVQ_COLUMNS + extra_columns
    n_rest = header.count(",") + 1 - 10
    text = "\n".join(
        [header, _lsvq_row("yfcc-batch3/1750", "58.4242424242424", n_rest), _lsvq_row("ia-batch1/0007", "71.5", n_rest)]
    )
    write(tmp_path / file, text + "\n", encoding="utf-8-sig")  # the release's CSVs carry a byte-order mark
    paths = [place(tmp_path, "yfcc-batch3/1750.mp4"), place(tmp_path, "ia-batch1/0007.mp4")]
    labelled = load_labelled_set(preset, tmp_path)
    check(labelled, [("yfcc-batch3/1750", paths[0], 58.4242424242424), ("ia-batch1/0007", paths[1], 71.5)])
    assert labelled.mos_range == (0.0, 100.0)


def test_cvd2014_semicolons_and_decimal_commas(tmp_path, place):
    write(
        tmp_path / "CVD2014_ratings" / "Realignment_MOS.csv",
        "File_name;Content;Realignment MOS\n"
        "Test01_City_D01;City;67,29\n"
        "Test03_Talking_Head_D10;Talking_head;53,33\n"
        "Test04_City_D06;City;-6,5\n"
        ";;\n",  # the file ends with empty rows: skipped, not failures
    )
    paths = [
        place(tmp_path, "Test1/City/Test01_City_D01.avi"),
        place(tmp_path, "Test3/Talking_head/Test03_Talking_Head_D10.avi"),
        place(tmp_path, "Test4/City/Test04_City_D06.avi"),
    ]
    labelled = load_labelled_set("cvd2014", tmp_path)
    check(
        labelled,
        [
            ("Test01_City_D01", paths[0], 67.29),
            ("Test03_Talking_Head_D10", paths[1], 53.33),
            ("Test04_City_D06", paths[2], -6.5),
        ],
    )


def test_live_qualcomm_mat_structs_and_distortion_folders(tmp_path, place):
    names = np.array(["0911_DogBall_LGG2_CAM00791.yuv", "1006_ParkBus_GS6_20151006_170532.yuv"], dtype=object)
    video_data = {
        "vidNames": names.reshape(-1, 1),
        "distortionNames": np.array(
            ["Artifacts", "Color", "Exposure", "Focus", "Sharpness", "Stabilization"], dtype=object
        ),
        "distortionType": np.array([[3], [5]]),
    }
    subjective = {"unBiasedMOS": np.array([[46.17375037863661], [61.532520666710234]])}
    scipy.io.savemat(
        tmp_path / "qualcommSubjectiveData.mat", {"qualcommVideoData": video_data, "qualcommSubjectiveData": subjective}
    )
    paths = [place(tmp_path, "Exposure/" + names[0]), place(tmp_path, "Sharpness/" + names[1])]
    labelled = load_labelled_set("live-qualcomm", tmp_path)
    check(labelled, [(names[0], paths[0], 46.17375037863661), (names[1], paths[1], 61.532520666710234)])


def test_kvq(tmp_path, place):
    write(tmp_path / "train_data.csv", "filename,score\ntrain/0000.mp4,3.2\ntrain/0001.mp4,4.55\n")
    paths = [place(tmp_path, "train/0000.mp4"), place(tmp_path, "train/0001.mp4")]
    check(load_labelled_set("kvq", tmp_path), [("train/0000.mp4", paths[0], 3.2), ("train/0001.mp4", paths[1], 4.55)])


def test_live_yt_gaming(tmp_path, place):
    write(
        tmp_path / "LIVE-YT-Gaming_metadata.csv",
        "File,MOS,width,height,pixfmt,framerate,nb_frames,bitdepth,bitrate\n"
        "AgeEmpires-001.mp4,55.3529347178452,1920,1080,yuv420p,29.97002997003,270,8,4834347\n"
        "Fallout-003.mp4,4.52965333671591,640,360,yuv420p,30,265,8,808325\n",
    )
    paths = [place(tmp_path, "AgeEmpires-001.mp4"), place(tmp_path, "Fallout-003.mp4")]
    check(
        load_labelled_set("live-yt-gaming", tmp_path),
        [("AgeEmpires-001.mp4", paths[0], 55.3529347178452), ("Fallout-003.mp4", paths[1], 4.52965333671591)],
    )


def test_waterloo_ivc_4k_headerless_scores_and_any_extension(tmp_path, place):
    write(tmp_path / "scores.txt", "HEVC, 1, 540p, 1, 18.21\nHEVC, 1, 540p, 2, 39.46\nAV1, 20, 2160p, 4, 77.26\n")
    paths = [
        place(tmp_path, "HEVC/HEVC_1_540p_1.mp4"),
        place(tmp_path, "HEVC/HEVC_1_540p_2.mkv"),
        place(tmp_path, "AV1_20_2160p_4.mp4"),
    ]
    labelled = load_labelled_set("waterloo-ivc-4k", tmp_path)
    check(
        labelled,
        [("HEVC_1_540p_1", paths[0], 18.21), ("HEVC_1_540p_2", paths[1], 39.46), ("AV1_20_2160p_4", paths[2], 77.26)],
    )
    # another naming of the files: the template is an option
    other = place(tmp_path / "mine", "hevc/1/540p_1.mp4")
    write(tmp_path / "mine" / "scores.txt", "HEVC, 1, 540p, 1, 18.21\n")
    mine = load_labelled_set(
        "waterloo-ivc-4k", tmp_path / "mine", video_template="hevc/{video_number}/{resolution}_{distortion_level}.mp4"
    )
    check(mine, [("HEVC_1_540p_1", other, 18.21)])


def test_cgvds(tmp_path, place):
    header = "File,MOS,width,height,framerate,Bitrate,VQ_EC,VF_EC,VU_EC,VD_EC,AC_EC,VQ_ACR,VF_ACR,VU_ACR,VD_ACR,AC_ACR,Content"
    write(
        tmp_path / "CGVDS_metadata.csv",
        header + "\n"
        "Bejeweled3_30s_1280x720_60_1000_h264_nvenc.mp4,3.24,1280,720,60,1000,4.29,4.09,4.3,5.37,4.25,3.24,3.05,3.25,4.1,3.21,Bejeweled3\n"
        "GTA5_30_1280x720_20_300_h264_nvenc.mp4,1.35,1280,720,20,300,1.86,1.85,2.31,4.07,1.85,1.35,1.36,1.68,3.06,1.36,GTA5\n",
    )
    paths = [
        place(tmp_path, "Bejeweled3_30s_1280x720_60_1000_h264_nvenc.mp4"),
        place(tmp_path, "GTA5_30_1280x720_20_300_h264_nvenc.mp4"),
    ]
    labelled = load_labelled_set("cgvds", tmp_path)
    check(labelled, [(paths[0].name, paths[0], 3.24), (paths[1].name, paths[1], 1.35)])
    assert labelled.mos_range == (1.0, 5.0)


def test_live_yt_hfr_transposed_mos(tmp_path, place):
    write(
        tmp_path / "subject_MOS.csv",
        "File Names,1Runner_crf_0_24fps,bobblehead_crf_63_120fps\n"
        "MOS,41.91279704473017,32.37572002673749\n"
        "std,11.540370627496614,10.854230446874022\n",
    )
    paths = [
        place(tmp_path, "1Runner/1Runner_crf_0_24fps.webm"),
        place(tmp_path, "bobblehead/bobblehead_crf_63_120fps.webm"),
    ]
    labelled = load_labelled_set("live-yt-hfr", tmp_path)
    check(
        labelled,
        [
            ("1Runner_crf_0_24fps", paths[0], 41.91279704473017),
            ("bobblehead_crf_63_120fps", paths[1], 32.37572002673749),
        ],
    )
    assert not labelled.lower_better
    # a bad score in the transposed file names the file's column
    write(tmp_path / "subject_MOS.csv", "File Names,1Runner_crf_0_24fps,bobblehead_crf_63_120fps\nMOS,41.9,n/a\n")
    assert load_labelled_set("live-yt-hfr", tmp_path).failures["reason"].tolist() == [
        "column 3 (id 'bobblehead_crf_63_120fps'): MOS 'n/a' is not a number"
    ]


def test_live_yt_hfr_dmos_is_lower_better(tmp_path, place):
    write(
        tmp_path / "subject_DMOS.csv",
        ",File Names,DMOS\n0,1Runner_crf_0_24fps,25.637843478934748\n1,Hurdles_crf_0_98fps,-1.5393493283605153\n",
    )
    paths = [place(tmp_path, "1Runner_crf_0_24fps.mp4"), place(tmp_path, "Hurdles_crf_0_98fps.mp4")]
    labelled = load_labelled_set("live-yt-hfr-dmos", tmp_path)
    check(
        labelled,
        [("1Runner_crf_0_24fps", paths[0], 25.637843478934748), ("Hurdles_crf_0_98fps", paths[1], -1.5393493283605153)],
    )
    assert labelled.lower_better and labelled.mos_range is None
    assert labelled.target.tolist() == [-25.637843478934748, 1.5393493283605153]  # higher is better, as metrics read it


# --- generic files -------------------------------------------------------------------------------


def test_generic_csv_keeps_ids_as_text_and_appends_the_extension(tmp_path, place):
    labels = write(tmp_path / "mine.csv", "clip,score,notes\n007,3.5,a\n012,2,b\n")
    paths = [place(tmp_path, "videos/007.mp4"), place(tmp_path, "videos/012.mp4")]
    labelled = load_labelled_set(
        str(labels), tmp_path / "videos", path_column="clip", mos_column="score", extension="mp4"
    )
    check(labelled, [("007", paths[0], 3.5), ("012", paths[1], 2.0)])
    assert (labelled.name, labelled.mos_range, labelled.lower_better) == ("mine", None, False)


def test_generic_tsv_dmos_with_a_name(tmp_path, place):
    labels = write(tmp_path / "scores.tsv", "video\tdmos\nclips/a.mp4\t10.5\nclips/b.mp4\t40\n")
    paths = [place(tmp_path, "clips/a.mp4"), place(tmp_path, "clips/b.mp4")]
    labelled = load_labelled_set(
        labels, tmp_path, path_column="video", mos_column="dmos", lower_better=True, name="my-dmos"
    )
    check(labelled, [("clips/a.mp4", paths[0], 10.5), ("clips/b.mp4", paths[1], 40.0)])
    assert labelled.name == "my-dmos" and labelled.target.tolist() == [-10.5, -40.0]


def test_generic_csv_with_another_separator(tmp_path, place):
    labels = write(tmp_path / "labels.csv", "name|mos\na.mkv|1.5\n")
    path = place(tmp_path, "a.mkv")
    check(load_labelled_set(labels, tmp_path, path_column="name", mos_column="mos", sep="|"), [("a.mkv", path, 1.5)])


def test_generic_json_list_of_records(tmp_path, place):
    records = [{"file": "x/1.mp4", "mos": 4.25, "rater_count": 30}, {"file": "x/2.mp4", "mos": "2.5"}]
    labels = write(tmp_path / "labels.json", json.dumps(records))
    paths = [place(tmp_path, "x/1.mp4"), place(tmp_path, "x/2.mp4")]
    check(
        load_labelled_set(labels, tmp_path, path_column="file", mos_column="mos"),
        [("x/1.mp4", paths[0], 4.25), ("x/2.mp4", paths[1], 2.5)],
    )


def test_generic_jsonl(tmp_path, place):
    lines = [{"id": "a", "MOS": 61.0}, {"id": "b", "MOS": 12.75}]
    labels = write(tmp_path / "labels.jsonl", "".join(json.dumps(r) + "\n" for r in lines))
    paths = [place(tmp_path, "a.mp4"), place(tmp_path, "b.mp4")]
    check(
        load_labelled_set(labels, tmp_path, id_column="id", mos_column="MOS", extension=".mp4"),
        [("a", paths[0], 61.0), ("b", paths[1], 12.75)],
    )


# --- columns found by their names ----------------------------------------------------------------


def test_columns_are_found_by_their_usual_names_without_options(tmp_path, place):
    labels = write(tmp_path / "mine.csv", "File Name,MOS,MOS_std\nclips/a.mp4,3.5,0.4\nclips/b.mp4,2,0.9\n")
    paths = [place(tmp_path, "clips/a.mp4"), place(tmp_path, "clips/b.mp4")]
    labelled = load_labelled_set(labels, tmp_path)
    check(labelled, [("clips/a.mp4", paths[0], 3.5), ("clips/b.mp4", paths[1], 2.0)])
    assert not labelled.lower_better
    # 'path' and 'mos' win outright over the other usual names ('name' a title here, 'score' another number)
    labels = write(tmp_path / "both.csv", "name,path,score,mos\nfirst,clips/a.mp4,9,1.25\n")
    check(load_labelled_set(labels, tmp_path), [("clips/a.mp4", paths[0], 1.25)])


def test_a_dmos_column_found_by_name_is_lower_better_unless_told(tmp_path, place):
    labels = write(tmp_path / "scores.tsv", "video\tDMOS\na.mp4\t10.5\nb.mp4\t40\n")
    for name in ("a.mp4", "b.mp4"):
        place(tmp_path, name)
    labelled = load_labelled_set(labels, tmp_path)
    assert labelled.lower_better and labelled.score_name == "DMOS" and labelled.target.tolist() == [-10.5, -40.0]
    assert not load_labelled_set(labels, tmp_path, lower_better=False).lower_better


@pytest.mark.parametrize("header, parts", [
    ("file,name,mos", ["columns 'file', 'name' could each hold the video paths", "its columns are: 'file', 'name', 'mos'",
                       "pass path_column=NAME (on the command line: --option path_column=NAME) to pick one"]),
    ("path,Score,rating", ["columns 'Score', 'rating' could each hold the scores",
                           "pass mos_column=NAME (on the command line: --option mos_column=NAME) to pick one"]),
    ("path,value", ["no column is named like one holding the scores (mos, dmos, score, mos_score, mean_opinion_score, ...)",
                    "its columns are: 'path', 'value'; pass mos_column=NAME (on the command line: --option mos_column=NAME) "
                    "naming one of them"]),
])
def test_ambiguous_or_missing_columns_list_the_columns_and_the_option(tmp_path, header, parts):
    labels = write(tmp_path / "labels.csv", header + "\n" + ",".join(["1"] * len(header.split(","))) + "\n")
    with pytest.raises(LabelFileError) as err:
        load_labelled_set(labels, tmp_path)
    message = str(err.value)
    assert message.startswith(f"{labels}: ")
    for part in parts:
        assert part in message
    # an option names the column, and the guess is not made
    assert load_labelled_set(labels, tmp_path, path_column=header.split(",")[0],
                             mos_column=header.split(",")[-1]).failures.shape[0] == 1  # the row's video is missing


def test_dover_fastvqa_labels_txt(tmp_path, place):
    # examplar_data_labels/*/labels.txt: 'path, duration, fps, MOS', no header; duration and fps may be -1
    labels = write(
        tmp_path / "labels.txt",
        "Test3/City/Test03_City_D12.avi, 14.948471, 29.099967117037156, 20.65\n"
        "yfcc-batch3/1750.mp4, -1, -1, 58.4242424242424\n"
        "\n"
        "broken line without fields\n",
    )
    paths = [place(tmp_path, "Test3/City/Test03_City_D12.avi"), place(tmp_path, "yfcc-batch3/1750.mp4")]
    labelled = load_labelled_set(labels, tmp_path)
    assert labelled.videos["id"].tolist() == ["Test3/City/Test03_City_D12.avi", "yfcc-batch3/1750.mp4"]
    assert labelled.videos["path"].tolist() == [str(p) for p in paths]
    assert labelled.videos["mos"].tolist() == [20.65, 58.4242424242424]
    assert labelled.failures.to_dict("records") == [
        {
            "id": "broken line without fields",
            "path": "",
            "reason": "line 4: expected 4 comma-separated fields 'path, duration, fps, MOS', found 1",
        }
    ]


# --- bad rows are failures, not crashes ---------------------------------------------------------


def test_bad_rows_go_to_failures_and_the_rest_load(tmp_path, place):
    labels = write(
        tmp_path / "labels.csv",
        "name,mos\n"
        "good.mp4,3.0\n"
        "missing.mp4,2.0\n"  # no such video
        "good.mp4,3.5\n"  # duplicate id
        "words.mp4,abc\n"  # not a number
        "empty.mp4,\n"  # empty score
        ",4.0\n"  # empty id
        "inf.mp4,inf\n"  # not finite
        "also_good.mp4,1.25\n",
    )
    for name in ("good.mp4", "words.mp4", "empty.mp4", "inf.mp4", "also_good.mp4"):
        place(tmp_path, name)
    labelled = load_labelled_set(labels, tmp_path, path_column="name", mos_column="mos")
    assert labelled.videos["id"].tolist() == ["good.mp4", "also_good.mp4"]
    assert labelled.videos["mos"].tolist() == [3.0, 1.25]
    assert labelled.failures.to_dict("records") == [
        {
            "id": "missing.mp4",
            "path": str(tmp_path / "missing.mp4"),
            "reason": f"row 2 (id 'missing.mp4'): video file not found: 'missing.mp4' under {tmp_path} "
            "(nor a file of that name below it)",
        },
        {"id": "good.mp4", "path": "", "reason": "row 3 (id 'good.mp4'): duplicate id, first given in row 1"},
        {"id": "words.mp4", "path": "", "reason": "row 4 (id 'words.mp4'): MOS 'abc' is not a number"},
        {"id": "empty.mp4", "path": "", "reason": "row 5 (id 'empty.mp4'): MOS is empty"},
        {"id": "", "path": "", "reason": "row 6: the id column 'name' is empty"},
        {"id": "inf.mp4", "path": "", "reason": "row 7 (id 'inf.mp4'): MOS 'inf' is not a finite number"},
    ]


def test_a_name_found_twice_below_the_root_is_a_failure_not_a_guess(tmp_path, place):
    write(tmp_path / "LIVE-YT-Gaming_metadata.csv", "File,MOS\nCSGO-002.mp4,46.1\n")
    place(tmp_path, "a/CSGO-002.mp4")
    place(tmp_path, "b/CSGO-002.mp4")
    labelled = load_labelled_set("live-yt-gaming", tmp_path)
    assert labelled.videos.empty
    [reason] = labelled.failures["reason"]
    assert reason.startswith("row 1 (id 'CSGO-002.mp4'): 2 files named 'CSGO-002.mp4' under")
    assert "a/CSGO-002.mp4" in reason and "b/CSGO-002.mp4" in reason and "video_template=" in reason


def test_preset_fields_can_be_overridden(tmp_path, place):
    write(tmp_path / "my_konvid.csv", "flickr_id,MOS,my_mos\n42,3.0,80\n")
    path = place(tmp_path, "42.mp4")
    labelled = load_labelled_set(
        "konvid1k", tmp_path, label_file="my_konvid.csv", mos_column="my_mos", mos_range=(0, 100)
    )
    check(labelled, [("42", path, 80.0)])
    assert labelled.mos_range == (0.0, 100.0) and labelled.name == "konvid1k"


# --- errors that stop a load name the file, the column and what to pass ------------------------


def test_missing_column_names_file_column_and_the_columns_there_are(tmp_path):
    labels = write(tmp_path / "labels.csv", "name,score\na.mp4,1\n")
    with pytest.raises(LabelFileError) as err:
        load_labelled_set(labels, tmp_path, path_column="name", mos_column="mos")
    message = str(err.value)
    assert str(labels) in message and "'mos'" in message and "'name', 'score'" in message and "mos_column=" in message


def test_preset_whose_file_lacks_the_mos_column(tmp_path):
    write(tmp_path / "train_data.csv", "filename,quality\ntrain/0000.mp4,3\n")
    with pytest.raises(
        LabelFileError, match=r"train_data\.csv has no column 'score'.*'filename', 'quality'.*mos_column="
    ):
        load_labelled_set("kvq", tmp_path)


def test_generic_file_without_columns_says_what_to_pass(tmp_path):
    labels = write(tmp_path / "labels.csv", "clip,mos\na.mp4,1\n")
    with pytest.raises(LabelFileError) as err:
        load_labelled_set(labels, tmp_path)
    assert str(labels) in str(err.value) and "path_column=" in str(err.value) and "'clip', 'mos'" in str(err.value)


def test_mat_without_the_named_array_lists_what_it_has(tmp_path):
    scipy.io.savemat(tmp_path / "data.mat", {"names": np.array([["A001.mp4"]], dtype=object), "mos": np.array([[1.0]])})
    with pytest.raises(LabelFileError) as err:
        load_labelled_set("live-vqc", tmp_path)
    assert "data.mat" in str(err.value) and "'video_list'" in str(err.value) and "'names'" in str(err.value)


def test_missing_and_unreadable_label_files(tmp_path):
    with pytest.raises(LabelFileError, match="label file not found: .*nope.csv"):
        load_labelled_set(str(tmp_path / "nope.csv"), tmp_path, path_column="a", mos_column="b")
    with pytest.raises(
        LabelFileError, match=r"label file of preset 'cvd2014' not found.*Realignment_MOS\.csv.*label_file="
    ):
        load_labelled_set("cvd2014", tmp_path)
    (tmp_path / "data.mat").write_bytes(b"\x00\x01 not a MATLAB file" * 10)
    with pytest.raises(LabelFileError, match=r"cannot read label file .*data\.mat"):
        load_labelled_set("live-vqc", tmp_path)
    broken = write(tmp_path / "broken.json", '[{"a": 1, "b": ')
    with pytest.raises(LabelFileError, match=r"cannot read label file .*broken\.json"):
        load_labelled_set(broken, tmp_path, path_column="a", mos_column="b")
    ragged = write(tmp_path / "ragged.csv", "a,b\n1,2\n3,4,5,6\n")
    with pytest.raises(LabelFileError, match=r"cannot read label file .*ragged\.csv"):
        load_labelled_set(ragged, tmp_path, path_column="a", mos_column="b")


def test_empty_label_file(tmp_path):
    with pytest.raises(LabelFileError, match=r"empty\.csv is empty"):
        load_labelled_set(write(tmp_path / "empty.csv", ""), tmp_path, path_column="a", mos_column="b")


def test_unknown_preset_lists_the_closest(tmp_path):
    with pytest.raises(W2SError) as err:
        load_labelled_set("konvd1k", tmp_path)
    message = str(err.value)
    assert "unknown preset 'konvd1k'" in message and "closest: konvid1k" in message
    assert all(name in message for name in preset_names())
    with pytest.raises(W2SError, match="closest: lsvq-test"):
        load_labelled_set("lsvq_tst", tmp_path)


def test_preset_names_are_forgiving():
    assert find_preset("KoNViD-1k").name == "konvid1k"
    assert find_preset("LIVE_VQC").name == "live-vqc"
    assert find_preset("LSVQ 1080p").name == "lsvq-test-1080p"


def test_bad_root_and_unknown_option(tmp_path):
    with pytest.raises(W2SError, match="video folder not found"):
        load_labelled_set("konvid1k", tmp_path / "absent")
    with pytest.raises(W2SError, match="unknown option.*mos_col\\b.*known:.*mos_column"):
        load_labelled_set("konvid1k", tmp_path, mos_col="MOS")
