"""FLUX.2 [klein] in the model manager (issue 29): the manifest's optional component, its
download into an installed bundle (a local file server stands in for the Hub), `models
import-klein` from a folder, and the download dialog's tick and licence."""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
from pathlib import Path

import pytest
from http_fault_server import FAST, FaultServer, manifest_dict, write_manifest
from PySide6.QtWidgets import QLabel

from mgie_desktop.core.exit_codes import ExitCode

KLEIN_REPO = "black-forest-labs/FLUX.2-klein-4B"
KLEIN_URL = "https://huggingface.co/black-forest-labs/FLUX.2-klein-4B"
PREFIX = "sources/FLUX.2-klein-4B/"
TIMEOUT = 60_000


@pytest.fixture(scope="module")
def tiny_klein(tmp_path_factory) -> Path:
    """A tiny random FLUX.2 [klein] in the diffusers layout, as a folder to import."""
    from mgie_desktop.engine.tiny_klein import write_tiny_klein

    return write_tiny_klein(tmp_path_factory.mktemp("klein-src") / "FLUX.2-klein-4B")


@pytest.fixture
def models(tmp_path, tiny_models) -> Path:
    """A models directory holding an installed MGIE bundle without FLUX.2 [klein] (sources freed)."""
    dest = tmp_path / "models"
    shutil.copytree(tiny_models / "bundle", dest / "bundle")
    return dest


@pytest.fixture
def klein_server(tiny_klein):
    files = {
        p.relative_to(tiny_klein).as_posix(): p.read_bytes() for p in tiny_klein.rglob("*") if p.is_file()
    }
    with FaultServer(files) as server:
        yield server


def klein_manifest(path: Path, server: FaultServer) -> Path:
    """A manifest whose only model is the optional ``klein``, served by ``server``."""
    data = manifest_dict(server, sorted(server.files), hashes=False, prefix=PREFIX)
    data["models"][0].update(
        id="klein",
        name="FLUX.2 [klein] 4B (test copy)",
        optional=True,
        license={"name": "Apache-2.0 (test)", "url": KLEIN_URL},
    )
    return write_manifest(path, data)


def bundle_files(models: Path) -> dict:
    from mgie_desktop.engine.inventory import read_inventory

    return read_inventory(models)["files"]


def klein_leftovers(models: Path) -> list[str]:
    return sorted(p.name for p in (models / "bundle").iterdir() if p.name.startswith("klein"))


# -- the manifest -------------------------------------------------------------------------------


def test_the_shipped_manifest_offers_klein_as_an_optional_pinned_component():
    from mgie_desktop.engine.klein_files import COMPONENTS
    from mgie_desktop.store.manifest import load_manifest

    manifest = load_manifest(None)
    assert "klein" in manifest.optional_ids
    assert "klein" not in [m.id for m in manifest.choose().models]  # only when asked for
    assert "klein" in [m.id for m in manifest.choose(["klein"]).models]
    klein = manifest.model("klein")
    assert klein.name == "FLUX.2 [klein] 4B (Black Forest Labs)"
    assert "Apache-2.0" in klein.license.name and klein.license.url == KLEIN_URL
    assert 15.9e9 < klein.expected_size < 16.1e9
    rels = [f.path.removeprefix(PREFIX) for f in klein.files]
    assert all(f.path.startswith(PREFIX) for f in klein.files)
    for f, rel in zip(klein.files, rels, strict=True):
        assert f.source.hf_repo == KLEIN_REPO and f.source.hf_path == rel and f.source.pinned
    assert len({f.source.revision for f in klein.files}) == 1  # one commit for the whole model
    for needed in (
        "model_index.json",
        "scheduler/scheduler_config.json",
        "transformer/config.json",
        "transformer/diffusion_pytorch_model.safetensors",
        "vae/config.json",
        "vae/diffusion_pytorch_model.safetensors",
        "text_encoder/config.json",
        "text_encoder/model.safetensors.index.json",
        "text_encoder/model-00001-of-00002.safetensors",
        "text_encoder/model-00002-of-00002.safetensors",
        "tokenizer/tokenizer.json",
        "tokenizer/tokenizer_config.json",
    ):
        assert needed in rels
    assert {rel.split("/")[0] for rel in rels if "/" in rel} == set(COMPONENTS)  # what is_klein_folder asks
    # The weights are checked against a hash and a size; the big ones are most of the download.
    weights = [f for f in klein.files if f.path.endswith(".safetensors")]
    assert all(f.sha256 and f.size for f in weights) and sum(f.size or 0 for f in weights) > 15.9e9


# -- download and import ------------------------------------------------------------------------


def test_download_with_klein_adds_it_to_the_installed_bundle_then_has_nothing_to_do(
    tmp_path, models, klein_server, tiny_klein
):
    from mgie_desktop.engine.inventory import has_klein, problems
    from mgie_desktop.store.commands import download_command, lacks_optional, list_command
    from mgie_desktop.store.manifest import load_manifest

    manifest = klein_manifest(tmp_path / "manifest.json", klein_server)
    before = bundle_files(models)
    assert not has_klein(models) and lacks_optional(load_manifest(manifest).choose(["klein"]), models)
    out, err = io.StringIO(), io.StringIO()
    code = download_command(
        manifest,
        models,
        accept_licenses=True,
        out=out,
        err=err,
        free_sources=True,
        policy=FAST,
        reserve_bytes=0,
        with_optional=("klein",),
    )
    assert code == ExitCode.OK, err.getvalue()
    assert "Apache-2.0 (test)" in out.getvalue()  # its licence was shown (and accepted)
    assert has_klein(models) and not problems(models, full_hash=True)
    assert not lacks_optional(load_manifest(manifest).choose(["klein"]), models)
    after = bundle_files(models)
    assert {k: v for k, v in after.items() if not k.startswith("klein/")} == before  # MGIE untouched
    for rel in klein_server.files:
        assert (models / "bundle" / "klein" / rel).read_bytes() == (tiny_klein / rel).read_bytes()
        assert klein_server.hits(rel)
    assert klein_leftovers(models) == ["klein"]  # no half copy left beside it
    assert not (models / "sources").exists()  # freed, as asked

    listing = io.StringIO()
    assert list_command(manifest, models, out=listing) == ExitCode.OK
    assert "FLUX.2 [klein] (optional second engine): in the bundle" in listing.getvalue()

    hits = len(klein_server.log)
    again = io.StringIO()
    assert (
        download_command(
            manifest,
            models,
            accept_licenses=True,
            out=again,
            err=err,
            policy=FAST,
            reserve_bytes=0,
            with_optional=("klein",),
        )
        == ExitCode.OK
    )
    assert "nothing to do" in again.getvalue() and len(klein_server.log) == hits


def test_download_with_klein_through_the_hugging_face_hub(tmp_path, models, tiny_klein, monkeypatch):
    """The shipped manifest's way: Hub sources, checked against the Hub's own hashes (a stand-in
    for hf_hub_download serves a cache in the real layout, as in test_store_hf)."""
    import uuid

    import huggingface_hub
    from http_fault_server import sha256
    from test_store_hf import REV, FakeHub

    from mgie_desktop.engine.inventory import has_klein, problems
    from mgie_desktop.store import hf, reach
    from mgie_desktop.store.commands import download_command
    from mgie_desktop.store.state import StoreState

    files = {
        p.relative_to(tiny_klein).as_posix(): p.read_bytes() for p in tiny_klein.rglob("*") if p.is_file()
    }
    repo = f"{KLEIN_REPO}-{uuid.uuid4().hex[:8]}"
    lfs = {rel: sha256(data) for rel, data in files.items() if rel.endswith(".safetensors")}
    hub = FakeHub(hf.cache_dir() / f"models--{repo.replace('/', '--')}", files, blob_names=lfs)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hub)
    monkeypatch.setattr(hf, "offline", lambda: False)  # conftest turns offline mode on
    monkeypatch.setattr(reach, "connect", lambda host, port, timeout: None)
    source = {"hf_repo": repo, "revision": REV}
    data = {
        "schema": 1,
        "models": [
            {
                "id": "klein",
                "name": "FLUX.2 [klein] 4B (test copy)",
                "optional": True,
                "license": {"name": "Apache-2.0 (test)", "url": KLEIN_URL},
                "files": [
                    {"path": PREFIX + rel, "size": None, "sha256": None, "source": {**source, "hf_path": rel}}
                    for rel in sorted(files)
                ],
            }
        ],
    }
    out, err = io.StringIO(), io.StringIO()
    code = download_command(
        write_manifest(tmp_path / "manifest.json", data),
        models,
        accept_licenses=True,
        out=out,
        err=err,
        policy=FAST,
        reserve_bytes=0,
        with_optional=("klein",),
    )
    assert code == ExitCode.OK, err.getvalue()
    assert has_klein(models) and not problems(models, full_hash=True)
    assert sorted(call[1] for call in hub.calls) == sorted(files)
    state = StoreState(models)
    for rel in files:
        expected = "hub-lfs" if rel in lfs else "hub-git"
        assert state.get(PREFIX + rel)["hash_source"] == expected
        assert (models / "bundle" / "klein" / rel).read_bytes() == files[rel]


def test_models_list_says_klein_is_not_installed_and_how_to_get_it(tmp_path, models, capsys):
    from mgie_desktop.cli import main

    assert main(["models", "list", "--models", str(models)]) == 0
    out = capsys.readouterr().out
    assert "FLUX.2 [klein] 4B (Black Forest Labs) [klein]: missing" in out
    assert "FLUX.2 [klein] (optional second engine): not installed" in out and "import-klein" in out


def test_import_klein_copies_a_folder_into_the_installed_bundle(models, tiny_klein, capsys):
    from mgie_desktop.cli import main
    from mgie_desktop.engine.inventory import has_klein, problems
    from mgie_desktop.engine.klein_files import folder, is_klein_folder

    before = bundle_files(models)
    assert main(["models", "import-klein", str(tiny_klein), "--models", str(models)]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "FLUX.2 [klein] installed in" in out and "--mode klein" in out
    assert has_klein(models) and is_klein_folder(folder(models)) and not problems(models, full_hash=True)
    after = bundle_files(models)
    assert {k: v for k, v in after.items() if not k.startswith("klein/")} == before
    assert sum(k.startswith("klein/") for k in after) == sum(1 for p in tiny_klein.rglob("*") if p.is_file())
    index = json.loads((folder(models) / "model_index.json").read_text())
    assert index["_class_name"] == "Flux2KleinPipeline"


def test_import_klein_takes_a_hugging_face_cache_folder_with_one_snapshot(
    tmp_path, models, tiny_klein, capsys
):
    from mgie_desktop.cli import main
    from mgie_desktop.engine.inventory import has_klein, problems

    repo = tmp_path / "hub" / "models--black-forest-labs--FLUX.2-klein-4B"
    shutil.copytree(tiny_klein, repo / "snapshots" / ("a" * 40))
    assert main(["models", "import-klein", str(repo), "--models", str(models)]) == ExitCode.OK
    assert "using the Hugging Face cache snapshot" in capsys.readouterr().out
    assert has_klein(models) and not problems(models, full_hash=True)
    shutil.copytree(tiny_klein, repo / "snapshots" / ("b" * 40))  # two: which one is for the person to say
    assert main(["models", "import-klein", str(repo), "--models", str(models)]) == ExitCode.USAGE
    assert "holds 2 snapshots of FLUX.2 [klein]: name one of them" in _one_line_error(capsys)


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err and "\n" not in err and "Traceback" not in err, err
    return err


def test_import_klein_refuses_what_is_not_klein_in_one_line(tmp_path, models, tiny_klein, capsys):
    from mgie_desktop.cli import main
    from mgie_desktop.engine.inventory import has_klein

    before = bundle_files(models)
    # An MGIE bundle is a models folder, not FLUX.2 [klein].
    assert main(["models", "import-klein", str(models / "bundle"), "--models", str(models)]) == ExitCode.USAGE
    assert "is not FLUX.2 [klein] in the diffusers layout" in _one_line_error(capsys)
    # A klein folder with a part missing.
    broken = tmp_path / "broken"
    shutil.copytree(tiny_klein, broken)
    shutil.rmtree(broken / "vae")
    assert main(["models", "import-klein", str(broken), "--models", str(models)]) == ExitCode.USAGE
    assert "is not FLUX.2 [klein]" in _one_line_error(capsys)
    # Nothing there at all.
    assert main(["models", "import-klein", str(tmp_path / "nope"), "--models", str(models)]) == ExitCode.USAGE
    assert "is not a folder" in _one_line_error(capsys)
    assert not has_klein(models) and bundle_files(models) == before and klein_leftovers(models) == []


def test_import_klein_needs_an_installed_bundle(tmp_path, tiny_klein, capsys):
    from mgie_desktop.cli import main

    empty = tmp_path / "empty-models"
    assert main(["models", "import-klein", str(tiny_klein), "--models", str(empty)]) == ExitCode.USAGE
    err = _one_line_error(capsys)
    assert err.startswith("error: cannot add FLUX.2 [klein]: no MGIE models in") and "models download" in err
    assert not (empty / "bundle").exists()


def test_import_klein_on_a_full_disk_says_so_and_leaves_the_bundle_as_it_was(
    models, tiny_klein, capsys, monkeypatch
):
    from mgie_desktop.cli import main
    from mgie_desktop.engine.inventory import has_klein, problems

    before = bundle_files(models)
    copied = []
    real_copyfile = shutil.copyfile

    def no_link(src, dst, *args, **kwargs):
        raise OSError(errno.EXDEV, "Invalid cross-device link")  # as from another disk

    def copyfile_until_full(src, dst, *args, **kwargs):
        if copied:  # the first file fits, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        copied.append(dst)
        return real_copyfile(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "link", no_link)
    monkeypatch.setattr(shutil, "copyfile", copyfile_until_full)
    assert main(["models", "import-klein", str(tiny_klein), "--models", str(models)]) == ExitCode.USAGE
    err = _one_line_error(capsys)
    assert "filled up while FLUX.2 [klein] was copied" in err and "nothing was installed" in err
    assert copied  # the copy did start
    assert not has_klein(models) and klein_leftovers(models) == [] and bundle_files(models) == before
    assert not problems(models, full_hash=True)


def test_import_klein_checks_the_room_a_copy_from_another_disk_needs_first(
    models, tiny_klein, capsys, monkeypatch
):
    from mgie_desktop.cli import main
    from mgie_desktop.engine.inventory import has_klein
    from mgie_desktop.store import install

    usage = shutil.disk_usage(models)
    monkeypatch.setattr(install.shutil, "disk_usage", lambda path: usage._replace(free=1024))
    # On the same disk the files are hard-linked: no room needed.
    assert main(["models", "import-klein", str(tiny_klein), "--models", str(models)]) == ExitCode.OK
    assert "hard-linking" in capsys.readouterr().out and has_klein(models)
    # From another disk they are copied: refused before anything is written.
    real_device = install._device
    monkeypatch.setattr(
        install, "_device", lambda path: real_device(path) + (1 if tiny_klein in Path(path).parents else 0)
    )
    assert main(["models", "import-klein", str(tiny_klein), "--models", str(models)]) == ExitCode.USAGE
    assert "adding FLUX.2 [klein] needs about" in _one_line_error(capsys)
    assert klein_leftovers(models) == ["klein"]  # the one installed above, untouched


# -- the download dialog ------------------------------------------------------------------------


def _open(qtbot, models: Path, manifest=None):
    from mgie_desktop.ui.model_manager import ModelManagerDialog

    dialog = ModelManagerDialog(models, manifest, policy=FAST, reserve_bytes=0)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.snapshot is not None and not dialog.busy, timeout=TIMEOUT)
    return dialog


def test_the_dialog_offers_klein_as_a_tick_with_its_licence(qtbot, tmp_path):
    dialog = _open(qtbot, tmp_path / "models")  # the shipped manifest
    required = dialog.tree.topLevelItemCount()
    assert dialog.klein_box.isVisible() and not dialog.klein_box.isChecked()
    assert "FLUX.2 [klein] 4B" in dialog.klein_box.text() and "Apache-2.0" in dialog.klein_box.text()
    assert not any("Apache-2.0" in box.text() for box in dialog.license_boxes)
    for box in dialog.license_boxes:
        box.setChecked(True)
    assert dialog.download_button.isEnabled()

    dialog.include_klein()
    qtbot.waitUntil(lambda: not dialog.busy, timeout=TIMEOUT)
    assert dialog.tree.topLevelItemCount() == required + 1
    assert any(path.startswith(PREFIX) for path in dialog.file_states())
    apache = [box for box in dialog.license_boxes if "Apache-2.0" in box.text()]
    assert len(apache) == 1 and not apache[0].isChecked()
    assert all(box.isChecked() for box in dialog.license_boxes if box is not apache[0])  # kept
    assert KLEIN_URL in " ".join(label.text() for label in dialog.licence_panel.findChildren(QLabel))
    assert not dialog.download_button.isEnabled()  # its licence is not accepted yet
    apache[0].setChecked(True)
    assert dialog.download_button.isEnabled()

    dialog.include_klein(False)
    qtbot.waitUntil(lambda: not dialog.busy, timeout=TIMEOUT)
    assert dialog.tree.topLevelItemCount() == required
    assert not any("Apache-2.0" in box.text() for box in dialog.license_boxes)


def test_the_dialog_downloads_klein_when_ticked_into_the_installed_bundle(
    qtbot, tmp_path, models, klein_server
):
    from mgie_desktop.engine.inventory import has_klein, problems

    dialog = _open(qtbot, models, klein_manifest(tmp_path / "manifest.json", klein_server))
    assert dialog.snapshot.bundle_installed and not dialog.download_button.isEnabled()  # nothing chosen
    dialog.include_klein()
    qtbot.waitUntil(lambda: not dialog.busy and dialog.snapshot.lacks_optional, timeout=TIMEOUT)
    for box in dialog.license_boxes:
        box.setChecked(True)
    assert dialog.download_button.isEnabled()
    with qtbot.waitSignal(dialog.installed, timeout=TIMEOUT):
        dialog.download_button.click()
    qtbot.waitUntil(lambda: not dialog.busy, timeout=TIMEOUT)
    assert has_klein(models) and not dialog.snapshot.lacks_optional and dialog.last_error == ""
    assert not problems(models, full_hash=True) and all(klein_server.hits(rel) for rel in klein_server.files)


def test_the_dialog_s_import_from_folder_takes_a_klein_folder(qtbot, tmp_path, models, tiny_klein):
    from mgie_desktop.engine.inventory import has_klein, problems

    dialog = _open(qtbot, models)
    before = bundle_files(models)
    cache = tmp_path / "hub" / "models--black-forest-labs--FLUX.2-klein-4B"
    shutil.copytree(tiny_klein, cache / "snapshots" / ("c" * 40))
    with qtbot.waitSignal(dialog.installed, timeout=TIMEOUT):
        assert dialog.import_from(cache)  # a Hugging Face cache's folder for the model
    qtbot.waitUntil(lambda: not dialog.busy, timeout=TIMEOUT)
    assert has_klein(models) and not problems(models, full_hash=True) and dialog.last_error == ""
    assert {k: v for k, v in bundle_files(models).items() if not k.startswith("klein/")} == before
    assert "Done" in dialog.overall_label.text()


def test_a_new_conversion_of_mgie_keeps_the_installed_klein(tmp_path, models, tiny_klein, capsys):
    """`models import` and a download's conversion write a new bundle: FLUX.2 [klein], whose
    sources may be long gone, is carried into it (hard-linked aside, added back)."""
    from mgie_desktop.cli import main
    from mgie_desktop.engine.inventory import has_klein, problems
    from mgie_desktop.engine.tiny import write_tiny_reference
    from mgie_desktop.store.install import install_sources
    from mgie_desktop.store.state import STATE_DIR

    assert main(["models", "import-klein", str(tiny_klein), "--models", str(models)]) == ExitCode.OK
    klein = {k: v for k, v in bundle_files(models).items() if k.startswith("klein/")}
    mgie = {k: v for k, v in bundle_files(models).items() if not k.startswith("klein/")}
    kept = models / STATE_DIR / "klein-kept"

    # A conversion that fails leaves the old bundle as it was, klein and all.
    (tmp_path / "empty").mkdir()
    assert main(["models", "import", str(tmp_path / "empty"), "--dest", str(models)]) != ExitCode.OK
    assert has_klein(models) and bundle_files(models) == {**mgie, **klein} and not kept.exists()

    src = write_tiny_reference(tmp_path / "reference", emit_image_tokens=True)  # other weights than before
    assert main(["models", "import", str(src), "--dest", str(models)]) == ExitCode.OK
    files = bundle_files(models)
    assert has_klein(models) and {k: v for k, v in files.items() if k.startswith("klein/")} == klein
    assert {k: v for k, v in files.items() if not k.startswith("klein/")} != mgie  # a new MGIE bundle
    assert not problems(models, full_hash=True) and not kept.exists()

    write_tiny_reference(models / "sources")  # the download's way: convert what was downloaded
    inventory = install_sources(models)
    assert (
        inventory["model"]["klein"] and {k: v for k, v in inventory["files"].items() if k in klein} == klein
    )
    assert has_klein(models) and not problems(models, full_hash=True) and not kept.exists()


def test_a_download_without_klein_does_not_install_a_klein_an_earlier_one_left_unfinished(
    tmp_path, models, tiny_klein
):
    """An interrupted `--with klein` can leave a folder of the right shape with files missing; a
    later download of MGIE alone never verified it, so it must not be installed from it."""
    from mgie_desktop.engine.inventory import has_klein
    from mgie_desktop.engine.tiny import write_tiny_reference
    from mgie_desktop.store.install import install_sources, klein_sources

    write_tiny_reference(models / "sources")
    shutil.copytree(tiny_klein, klein_sources(models))
    next(klein_sources(models).glob("transformer/*.safetensors")).unlink()  # never finished
    install_sources(models, with_klein=False)
    assert not has_klein(models)
