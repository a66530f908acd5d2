"""unlink_all: many files removed by two threads, gone ones skipped, an error not swallowed."""

from __future__ import annotations

import pytest

from dpdispatcher_local.removing import MANY, unlink_all


@pytest.mark.parametrize("n", [3, MANY + 1])
def test_every_file_goes_and_names_already_gone_are_skipped(tmp_path, n):
    paths = [tmp_path / f"tag{i}" for i in range(n)]
    for path in paths[::2]:
        path.write_text("")
    (tmp_path / "kept").write_text("")
    unlink_all([str(p) for p in paths])
    assert [p.name for p in tmp_path.iterdir()] == ["kept"]


def test_an_error_other_than_absence_reaches_the_caller(tmp_path):
    (tmp_path / "file").write_text("")
    paths = [str(tmp_path / f"tag{i}") for i in range(MANY)] + [str(tmp_path / "file" / "below a file")]
    with pytest.raises(NotADirectoryError):
        unlink_all(paths)
