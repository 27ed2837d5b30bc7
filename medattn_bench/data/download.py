"""``medattn-bench data download``: fetch a data set from its public source, verify it, and
install it atomically (a failure leaves nothing half-extracted in the target folder).

Downloads go through pooch (hash check, progress bar, atomic move). Checks: MedMNIST files
against the MD5s MedMNIST publishes. GitHub archives have no published
checksum; they are checked by their layout (the native loader must recognise it) and their
sha256 is recorded in ``SOURCE.json`` beside the data, and ``--sha256`` pins it. Kaggle sets
need the user's Kaggle API credentials.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError


@dataclass(frozen=True)
class Source:
    name: str
    url: str
    kind: str  # 'zip' or 'file'
    md5: str | None = None
    kaggle: str | None = None  # owner/dataset, when the source needs Kaggle credentials
    layout: str | None = None  # native layout to look for after extraction
    filename: str | None = None
    note: str = ""


SOURCES = {
    "skin": Source("skin", "https://www.kaggle.com/api/v1/datasets/download/fanconic/skin-cancer-malignant-vs-benign",
                   "zip", kaggle="fanconic/skin-cancer-malignant-vs-benign", layout="skin",
                   note="Kaggle 'Skin Cancer: Malignant vs. Benign' (ISIC images)"),
    "cxr": Source("cxr", "https://www.kaggle.com/api/v1/datasets/download/paultimothymooney/chest-xray-pneumonia",
                  "zip", kaggle="paultimothymooney/chest-xray-pneumonia", layout="cxr",
                  note="Kermany et al. 2018 (also at Mendeley Data, doi:10.17632/rscbjbr9sj.2)"),
    "mri": Source("mri", "https://github.com/SartajBhuvaji/Brain-Tumor-Classification-DataSet/archive/"
                  "3ea9f4eae54c67e5bddbf6f7a73582967a5f5f79.zip", "zip", layout="mri",
                  note="Bhuvaji et al. 2020, GitHub mirror of the Kaggle set"),
    "ct": Source("ct", "https://github.com/UCSD-AI4H/COVID-CT/archive/refs/heads/master.zip", "zip", layout="ct",
                 note="UCSD COVID-CT; the image folders are nested zips, extracted too"),
    "pneumoniamnist": Source("pneumoniamnist", "https://zenodo.org/records/10519652/files/pneumoniamnist.npz?download=1",
                             "file", md5="28209eda62fecd6e6a2d98b1501bb15f", filename="pneumoniamnist.npz",
                             note="MedMNIST v2, 28 px"),
    "dermamnist": Source("dermamnist", "https://zenodo.org/records/10519652/files/dermamnist.npz?download=1",
                         "file", md5="0744692d530f8e62ec473284d019b0c7", filename="dermamnist.npz",
                         note="MedMNIST v2, 28 px"),
}


def _kaggle_auth() -> str | None:
    user, key = os.environ.get("KAGGLE_USERNAME"), os.environ.get("KAGGLE_KEY")
    cfg = Path(os.environ.get("KAGGLE_CONFIG_DIR", Path.home() / ".kaggle")) / "kaggle.json"
    if not (user and key) and cfg.is_file():
        try:
            data = json.loads(cfg.read_text())
            user, key = data.get("username"), data.get("key")
        except (OSError, ValueError):
            pass
    return base64.b64encode(f"{user}:{key}".encode()).decode() if user and key else None


def fetch(url: str, dest: Path, md5: str | None = None, sha256: str | None = None,
          headers: dict[str, str] | None = None, timeout: float = 60, progress: bool = True) -> dict[str, str]:
    """Download ``url`` to ``dest`` with pooch (streamed to a temporary file, checked against the
    known hash, then moved into place); return the md5 and sha256 of what arrived."""
    import pooch
    import requests

    known = f"md5:{md5.lower()}" if md5 else f"sha256:{sha256.lower()}" if sha256 else None
    downloader = pooch.HTTPDownloader(headers={"User-Agent": "medattn-bench", **(headers or {})},
                                      progressbar=progress, timeout=timeout)
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")  # our own line says what is fetched; pooch's would repeat it
    try:
        pooch.retrieve(url, known_hash=known, fname=dest.name, path=dest.parent, downloader=downloader)
    except ValueError as exc:  # pooch: the hash of the download does not match the known one
        m = re.search(r"expected (?:\w+:)?(\w+) but got (\w+)", str(exc))
        detail = f"expected {m[1]}, got {m[2]}" if m else str(exc)
        algo = "md5" if md5 else "sha256"
        raise DataError(f"{url}: {algo} mismatch ({detail}); the file was discarded") from None
    except requests.HTTPError as exc:
        code = exc.response.status_code if exc.response is not None else None
        if code in (401, 403):
            raise DataError(f"{url}: HTTP {code}: the server refused the credentials") from None
        raise DataError(f"{url}: download failed (HTTP {code}); nothing was installed") from None
    except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
        raise DataError(f"{url}: download interrupted ({_reason(exc)}); nothing was installed, try again") from None
    except (requests.RequestException, OSError) as exc:
        raise DataError(f"{url}: download failed ({_reason(exc)}); nothing was installed") from None
    finally:
        logger.setLevel(level)
    return {"md5": pooch.file_hash(str(dest), alg="md5"), "sha256": pooch.file_hash(str(dest), alg="sha256")}


def _reason(exc: BaseException) -> str:
    """The innermost cause's message, e.g. 'IncompleteRead(1204 bytes read, 1204 more expected)'."""
    while exc.args and isinstance(exc.args[-1], BaseException):
        exc = exc.args[-1]
    return str(exc) or type(exc).__name__


def _safe_extract(archive: Path, into: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        for member in zf.infolist():
            target = (into / member.filename).resolve()
            if not target.is_relative_to(into.resolve()):
                raise DataError(f"{archive.name}: refusing to extract {member.filename!r} outside the target folder")
        zf.extractall(into)
    # Some sources (UCSD COVID-CT) ship their image folders as zips inside the archive.
    for nested in sorted(into.rglob("*.zip")):
        sub = nested.with_suffix("")
        sub.mkdir(exist_ok=True)
        _safe_extract(nested, sub)
        nested.unlink()
        inner = [p for p in sub.iterdir() if not p.name.startswith("__MACOSX")]
        if len(inner) == 1 and inner[0].is_dir() and inner[0].name == sub.name:  # zip held its own folder
            tmp = sub.with_name(sub.name + ".tmpdir")
            inner[0].rename(tmp)
            shutil.rmtree(sub)
            tmp.rename(sub)


def _find_layout(root: Path, layout: str) -> Path | None:
    from .real import NATIVE

    detect = NATIVE[layout][1]
    for cand in [root, *sorted(p for p in root.rglob("*") if p.is_dir() and len(p.relative_to(root).parts) <= 3)]:
        if detect(cand):
            return cand
    return None


def download(name: str, to: Path, url: str | None = None, sha256: str | None = None, md5: str | None = None,
             log=print) -> Path:
    """Download data set ``name`` into ``to/<name>`` (or ``to/<file>``); returns the installed path."""
    if name not in SOURCES:
        raise DataError(f"data download: unknown data set {name!r}; available: {', '.join(SOURCES)}")
    src = SOURCES[name]
    headers = {}
    if src.kaggle and url is None:
        auth = _kaggle_auth()
        if auth is None:
            raise DataError(f"{name}: the source is Kaggle ({src.kaggle}) and no Kaggle credentials were found "
                            f"(KAGGLE_USERNAME/KAGGLE_KEY or ~/.kaggle/kaggle.json). Create an API token at "
                            f"kaggle.com/settings, or download https://www.kaggle.com/datasets/{src.kaggle} by hand "
                            f"and unzip it so that {to / name} holds the {src.layout} layout")
        headers["Authorization"] = f"Basic {auth}"
    to = Path(to)
    to.mkdir(parents=True, exist_ok=True)
    final = to / (src.filename or name)
    if final.exists():
        raise DataError(f"{final} already exists; remove it or pick another --to")
    work = Path(tempfile.mkdtemp(prefix=f".{name}-download-", dir=to))
    try:
        archive = work / (src.filename or "archive.zip")
        log(f"fetching {url or src.url}")
        digests = fetch(url or src.url, archive, md5=md5 or (src.md5 if url is None else None), sha256=sha256,
                        headers=headers)
        want_md5 = md5 or (src.md5 if url is None else None)
        checked = "md5" if want_md5 else "sha256 (given)" if sha256 else "layout only (no published checksum)"
        provenance = {"name": name, "url": url or src.url, **digests, "note": src.note, "checked": checked}
        if src.kind == "file":
            os.replace(archive, final)
            final.with_name(final.name + ".source.json").write_text(json.dumps(provenance, indent=1))
            return final
        extracted = work / "extracted"
        extracted.mkdir()
        try:
            _safe_extract(archive, extracted)
        except zipfile.BadZipFile:
            raise DataError(f"{url or src.url}: the download is not a zip archive") from None
        found = _find_layout(extracted, src.layout or name)
        if found is None:
            raise DataError(f"{url or src.url}: the archive does not hold the {src.layout} layout; nothing was installed")
        (found / "SOURCE.json").write_text(json.dumps(provenance, indent=1))
        os.replace(found, final)  # same file system: atomic
        return final
    finally:
        shutil.rmtree(work, ignore_errors=True)
