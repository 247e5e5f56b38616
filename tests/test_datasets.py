"""keras_rnnkit.datasets: the machinery every loader uses (no network)."""

import hashlib

import pytest

from keras_rnnkit import datasets


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
