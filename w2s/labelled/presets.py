"""The official label files of public human-rated VQA sets, one small entry each.

Each :class:`Preset` says where a set's scores live and how a row names its
video, so ``load_labelled_set("konvid1k", root)`` needs nothing else. Every
field can be overridden by the options of :func:`w2s.labelled.load_labelled_set`
(for a renamed file, a re-encoded copy, a different folder layout).

The layouts were checked against public copies of the files and the code that
reads them (DOVER / FAST-VQA, VSFA, SimpleVQA, ModularBVQA, GAMIVAL, the sets'
own repositories); where a detail could not be confirmed, ``note`` says so.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

# How a label file is laid out. ``table``: one row per video with a header
# (CSV / TSV / JSON / JSONL / XLSX, told apart by the file's extension);
# ``noheader``: the same without a header row (``columns`` names them);
# ``wide``: transposed, one column per video and one row per field (first
# column holds the field names); ``labels.txt``: DOVER / FAST-VQA's
# ``path, duration, fps, MOS`` lines; ``mat``: a MATLAB file whose arrays (or
# struct fields, dotted) ``id_column`` and ``mos_column`` name.
FORMATS = ("table", "noheader", "wide", "labels.txt", "mat")


@dataclass(frozen=True)
class Preset:
    """Where one set's scores live and how a row names its video file.

    ``video`` holds templates over the row's columns (``str.format`` syntax,
    ``{id}`` is the row's id); the first that names an existing file under the
    root wins, and a file of that name (or, with no extension, that stem)
    anywhere under the root is the fallback, so both a flat copy and the
    official folder layout load.
    """

    name: str
    label_file: tuple[str, ...]  # candidate file names, relative to the root (first found wins)
    format: str
    id_column: str
    mos_column: str
    mos_range: tuple[float, float] | None
    video: tuple[str, ...] = ("{id}",)
    lower_better: bool = False
    id_template: str | None = None  # an id built from several columns (set with no single id column)
    columns: tuple[str, ...] | None = None  # names for a ``noheader`` file
    sep: str | None = None  # None: by extension (',' or tab)
    decimal: str = "."
    sheet: str | int | None = None  # XLSX sheet
    extension: str | None = None  # appended to a rendered name that has no video extension
    note: str = ""


PRESETS: tuple[Preset, ...] = (
    Preset(
        name="konvid1k",
        label_file=("KoNViD_1k_attributes.csv", "KoNViD_1k_metadata/KoNViD_1k_attributes.csv"),
        format="table",
        id_column="flickr_id",
        mos_column="MOS",
        mos_range=(1.0, 5.0),
        video=("{flickr_id}.mp4",),
        note="KoNViD_1k_metadata; videos KoNViD_1k_videos/{flickr_id}.mp4 (as VSFA and SIONR read it).",
    ),
    Preset(
        name="live-vqc",
        label_file=("data.mat",),
        format="mat",
        id_column="video_list",
        mos_column="mos",
        mos_range=(0.0, 100.0),
        video=("{video_list}", "Video/{video_list}"),
        note="data.mat of the LIVE-VQC release: cell array video_list (A001.mp4, ...) and mos; videos in Video/.",
    ),
    Preset(
        name="youtube-ugc",
        label_file=(
            "original_videos_MOS_for_YouTube_UGC_dataset.xlsx",
            "original_videos_MOS_for_YouTube_UGC_dataset.csv",
            "MOS_for_YouTube_UGC_dataset.xlsx",
            "MOS_for_YouTube_UGC_dataset.csv",
        ),
        format="table",
        id_column="vid",
        mos_column="MOS full",
        mos_range=(1.0, 5.0),
        video=("{vid}.mkv", "{vid}_crf_10_ss_00_t_20.0.mp4", "{vid}.mp4"),
        sheet="MOS",
        note=(
            "Sheet 'MOS' of the XLSX (reading XLSX needs openpyxl, which is not installed here: "
            "export that sheet to a CSV of the same name); originals original_videos/{Category}/{Res}/{vid}.mkv, "
            "or the H.264 copies {vid}_crf_10_ss_00_t_20.0.mp4 that DOVER uses."
        ),
    ),
    Preset(
        name="lsvq-test",
        label_file=("LSVQ_whole_test.csv",),
        format="table",
        id_column="name",
        mos_column="mos",
        mos_range=(0.0, 100.0),
        video=("{name}.mp4",),
        note="PatchVQ / LSVQ release; name is a relative path without extension (yfcc-batch3/1750).",
    ),
    Preset(
        name="lsvq-test-1080p",
        label_file=("LSVQ_whole_test_1080p.csv",),
        format="table",
        id_column="name",
        mos_column="mos",
        mos_range=(0.0, 100.0),
        video=("{name}.mp4",),
        note="PatchVQ / LSVQ release, the 1080p test split; same columns as lsvq-test.",
    ),
    Preset(
        name="cvd2014",
        label_file=("CVD2014_ratings/Realignment_MOS.csv", "Realignment_MOS.csv"),
        format="table",
        id_column="File_name",
        mos_column="Realignment MOS",
        mos_range=(-6.5, 93.38),
        video=("Test{File_name[5]}/{Content}/{File_name}.avi", "{File_name}.avi"),
        sep=";",
        decimal=",",
        note=(
            "';'-separated with decimal commas; realigned MOS across the six tests (range is the "
            "file's observed min/max); videos Test{n}/{Content}/{File_name}.avi."
        ),
    ),
    Preset(
        name="live-qualcomm",
        label_file=("qualcommSubjectiveData.mat", "LIVE-Qualcomm_qualcommSubjectiveData.mat"),
        format="mat",
        id_column="qualcommVideoData.vidNames",
        mos_column="qualcommSubjectiveData.unBiasedMOS",
        mos_range=(0.0, 100.0),
        video=("{id}",),
        note=(
            "Raw 1920x1080 YUV 4:2:0 files in one folder per distortion type (Artifacts/, Color/, ...), "
            "found by name; unBiasedMOS observed 16.6-73.6."
        ),
    ),
    Preset(
        name="kvq",
        label_file=("train_data.csv",),
        format="table",
        id_column="filename",
        mos_column="score",
        mos_range=(1.0, 5.0),
        video=("{filename}",),
        note=(
            "NTIRE 2024 KVQ: train_data.csv (filename like train/0000.mp4, score); the validation "
            "labels truth.csv have the same columns (pass label_file=). Range 1-5 per the paper, not checked "
            "against the file."
        ),
    ),
    Preset(
        name="live-yt-gaming",
        label_file=("LIVE-YT-Gaming_metadata.csv",),
        format="table",
        id_column="File",
        mos_column="MOS",
        mos_range=(0.0, 100.0),
        video=("{File}",),
        note=(
            "Layout of mos_files/LIVE-YT-Gaming_metadata.csv in the LIVE lab's GAMIVAL code (File like "
            "AgeEmpires-001.mp4); the label file inside the official download was not confirmed."
        ),
    ),
    Preset(
        name="waterloo-ivc-4k",
        label_file=("scores.txt",),
        format="noheader",
        id_column="id",
        mos_column="mos",
        mos_range=(0.0, 100.0),
        id_template="{encoder}_{video_number}_{resolution}_{distortion_level}",
        columns=("encoder", "video_number", "resolution", "distortion_level", "mos"),
        video=("{id}",),
        note=(
            "Headerless scores.txt 'encoder, video_number, resolution, distortion_level, mos'. The video file "
            "naming is a third-party convention ({encoder}_{n}_{res}_{level}, any extension), not confirmed "
            "against the official archive: pass video_template= to match your copy."
        ),
    ),
    Preset(
        name="cgvds",
        label_file=("CGVDS_metadata.csv",),
        format="table",
        id_column="File",
        mos_column="MOS",
        mos_range=(1.0, 5.0),
        video=("{File}",),
        note=(
            "Layout of mos_files/CGVDS_metadata.csv in GAMIVAL (File like Bejeweled3_30s_1280x720_60_1000_"
            "h264_nvenc.mp4, MOS = the ACR video quality); the label file of the original CGVDS release "
            "was not confirmed."
        ),
    ),
    Preset(
        name="live-yt-hfr",
        label_file=("subject_MOS.csv", "subjective_scores/subject_MOS.csv"),
        format="wide",
        id_column="File Names",
        mos_column="MOS",
        mos_range=(0.0, 100.0),
        video=("{id}",),
        note=(
            "subject_MOS.csv of github.com/pavancm/LIVE-HFR is transposed (rows File Names, MOS, std). "
            "Names carry no extension; the videos' extension was not confirmed, so any video file with "
            "that stem is taken."
        ),
    ),
    Preset(
        name="live-yt-hfr-dmos",
        label_file=("subject_DMOS.csv", "subjective_scores/subject_DMOS.csv"),
        format="table",
        id_column="File Names",
        mos_column="DMOS",
        mos_range=None,
        lower_better=True,
        video=("{id}",),
        note=(
            "subject_DMOS.csv of github.com/pavancm/LIVE-HFR: DMOS = reference MOS - MOS (lower is better, "
            "observed about -2 to 52; the references themselves are not listed)."
        ),
    ),
)

_ALIASES = {
    "konvid": "konvid1k",
    "livevqc": "live-vqc",
    "ytugc": "youtube-ugc",
    "youtubeugc": "youtube-ugc",
    "lsvq": "lsvq-test",
    "lsvq1080p": "lsvq-test-1080p",
    "livequalcomm": "live-qualcomm",
    "qualcomm": "live-qualcomm",
    "liveytgaming": "live-yt-gaming",
    "waterloo4k": "waterloo-ivc-4k",
    "liveythfr": "live-yt-hfr",
    "livehfr": "live-yt-hfr",
}


def _key(name: str) -> str:
    """Case, '-', '_' and spaces do not matter: 'KoNViD-1k' and 'konvid_1k' are one name."""
    return re.sub(r"[\s_\-]", "", name.lower())


_BY_KEY = {_key(p.name): p for p in PRESETS} | {_key(a): p for a, n in _ALIASES.items() for p in PRESETS if p.name == n}


def preset_names() -> list[str]:
    return [p.name for p in PRESETS]


def find_preset(name: str) -> Preset | None:
    return _BY_KEY.get(_key(name))


def closest_presets(name: str, n: int = 3) -> list[str]:
    """Preset names nearest to ``name`` (by their normalised spelling)."""
    keys = difflib.get_close_matches(_key(name), list(_BY_KEY), n=n * 2, cutoff=0.4)
    names = []
    for key in keys:
        if _BY_KEY[key].name not in names:
            names.append(_BY_KEY[key].name)
    return names[:n]
