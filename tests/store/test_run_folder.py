"""Which folders medmap writes into, and what it leaves in them."""

import os
from pathlib import Path

import pytest

from medmap.errors import RunFolderError
from medmap.store.runfolder import check_out_folder, clear_outputs, is_medmap_folder
from medmap.store.schema import RUN_OUTPUTS


@pytest.mark.parametrize("path", ["/", str(Path.home()), "/usr", "/etc", "/tmp"])
def test_root_home_and_system_folders_are_refused(path):
    with pytest.raises(RunFolderError, match="refusing"):
        check_out_folder(path, force=True)


def test_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(RunFolderError, match="not a folder"):
        check_out_folder(tmp_path / "f")
    with pytest.raises(RunFolderError, match="is not a folder"):
        check_out_folder(tmp_path / "f" / "run")


def test_non_empty_foreign_folder_needs_force(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RunFolderError, match="not empty and not a medmap run folder.*--force"):
        check_out_folder(tmp_path)
    assert check_out_folder(tmp_path, force=True) == tmp_path
    # a Hugging Face folder has a config.json too, but not medmap's
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    assert not is_medmap_folder(tmp_path)


def test_new_empty_and_medmap_folders_are_accepted(tmp_path):
    assert check_out_folder(tmp_path / "new" / "run") == tmp_path / "new" / "run"
    assert not (tmp_path / "new").exists()  # nothing written by the check
    (tmp_path / "empty").mkdir()
    check_out_folder(tmp_path / "empty")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text('{"techniques": ["lesion"], "analyze": {}}')
    (run / "scores.csv").write_text("x")
    assert is_medmap_folder(run)
    check_out_folder(run)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_is_refused(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(RunFolderError, match="cannot write"):
            check_out_folder(ro / "run")
    finally:
        ro.chmod(0o755)


def test_clear_outputs_keeps_cache_config_and_lock(tmp_path):
    for name in RUN_OUTPUTS:
        if name in ("embeddings", "figures"):
            (tmp_path / name).mkdir()
            (tmp_path / name / "x.json").write_text("{}")
        else:
            (tmp_path / name).write_text("x")
    for keep in ("config.json", ".medmap.lock", "notes.txt"):
        (tmp_path / keep).write_text("x")
    (tmp_path / "cache").mkdir()
    removed = clear_outputs(tmp_path)
    assert sorted(removed) == sorted(RUN_OUTPUTS)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".medmap.lock", "cache", "config.json", "notes.txt"]
