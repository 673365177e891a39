"""FLUX.2 [klein] over the remote engine (issue 29): a real ``mgie-desktop serve`` process with the
tiny MGIE and the tiny random klein, and its clients. The server says whether it has klein; a
job for klein comes back with klein's pixels and the settings klein rendered with; an A/B pair of
any two engines crosses the wire; a server without klein refuses a job for it in one line.
Nothing leaves 127.0.0.1."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from PIL import Image
from test_cli import run_cli

from mgie_desktop.core.errors import InputError
from mgie_desktop.core.jobs import EditJob
from mgie_desktop.core.params import EditParams, params_for
from mgie_desktop.core.sizing import klein_working_size
from mgie_desktop.remote import protocol
from mgie_desktop.remote.client import RemoteClient

SMALL = EditParams(seed=3, steps=2, pixel_budget=64 * 64, scheduler="euler")  # klein: 4x the budget
WORDS = "make the sky orange"


class _Served:
    def __init__(self, models, token_file):
        from mgie_desktop.remote.serve import spawn_server

        self.token_file = token_file
        self.process, self.url, self.token = spawn_server(models, token_file)

    def stop(self) -> None:
        self.process.terminate()
        self.process.communicate(timeout=30)


@pytest.fixture(scope="module")
def klein_server(klein_models, tmp_path_factory):
    """A server whose bundle holds klein (MGIE loads at start; klein on its first job)."""
    running = _Served(klein_models, tmp_path_factory.mktemp("klein-server") / "token")
    yield running
    running.stop()


def job(image, text=WORDS, params=SMALL, **kw) -> EditJob:
    return EditJob(0, 0, 0, image, text, params, **kw)


def run(server, edit: EditJob):
    async def go():
        async with RemoteClient(server.url, server.token) as client:
            return await client.run(edit)

    return asyncio.run(go())


def info(server) -> dict:
    async def go():
        async with RemoteClient(server.url, server.token) as client:
            return await client.info()

    return asyncio.run(go())


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def test_the_server_says_whether_it_has_klein(klein_server, klein_models, server):
    from mgie_desktop.engine.inventory import bundle_identity

    models = info(klein_server)["models"]
    assert models["klein"] is True and models["identity"] == bundle_identity(klein_models)
    assert info(server)["models"]["klein"] is False  # the tiny bundle without klein


def test_a_klein_job_returns_klein_s_image_and_the_settings_it_rendered_with(
    klein_server, klein_engine, photo
):
    result = run(klein_server, job(photo, model="klein"))
    alone, used = klein_engine.render_klein(photo, WORDS, SMALL, [SMALL.seed])
    assert result.models == ["klein"] and result.seeds == [SMALL.seed]
    assert result.expressive_instruction == ""
    # Rendered at klein's working size on the server, finished here at the photo's size: the same pixels.
    assert result.images[0].size == photo.size
    assert np.array_equal(pixels(result.images[0]), pixels(alone[0]))
    assert result.params == [used] and (used.steps, used.text_guidance) == (4, 1.0)


def test_klein_variations_come_back_each_with_its_seed(klein_server, klein_engine, photo):
    result = run(klein_server, job(photo, model="klein", variations=2))
    alone, used = klein_engine.render_klein(photo, WORDS, SMALL, [3, 4])
    assert result.seeds == [3, 4] and [p.seed for p in result.params] == [3, 4]
    assert all(p.steps == used.steps == 4 for p in result.params)
    for remote, local in zip(result.images, alone, strict=True):
        assert np.array_equal(pixels(remote), pixels(local))


@pytest.mark.parametrize(("model", "versus"), [("klein", "mgie"), ("mgie", "klein"), ("ip2p", "klein")])
def test_an_ab_pair_of_any_two_engines_crosses_the_wire(klein_server, klein_engine, photo, model, versus):
    from mgie_desktop.engine.jobs import GuideCache, run_job

    edit = job(photo, model=model, compare=True, versus=versus)
    result = run(klein_server, edit)
    local = run_job(klein_engine, edit, GuideCache(), "k")
    assert result.models == local.models == [model, versus]
    assert result.params == local.params and result.seeds == local.seeds
    assert result.expressive_instruction == local.expressive_instruction
    assert [p.steps for p in result.params] == [4 if m == "klein" else SMALL.steps for m in (model, versus)]
    for remote, here in zip(result.images, local.images, strict=True):
        assert remote.size == photo.size and np.array_equal(pixels(remote), pixels(here))


def test_a_klein_job_on_a_server_without_klein_is_refused_in_one_line(server, photo):
    for edit in (job(photo, model="klein"), job(photo, compare=True, versus="klein")):
        with pytest.raises(InputError) as caught:
            run(server, edit)
        message = str(caught.value)
        assert message.startswith("the server has no FLUX.2 [klein]: ") and "\n" not in message
        assert "models download --with klein" in message
    assert info(server)["queue"] == 0  # nothing was queued


def test_versus_crosses_the_wire_and_bad_ones_are_refused(photo):
    image = protocol.png_bytes(photo)
    spec, _image, _mask = protocol.job_to_wire(job(photo, model="klein", compare=True, versus="mgie"))
    sent = protocol.job_from_wire(json.loads(json.dumps(spec)), image, None, 1, None)
    assert (sent.model, sent.compare, sent.versus) == ("klein", True, "mgie")
    spec, _image, _mask = protocol.job_to_wire(job(photo, model="klein"))
    assert "versus" not in spec  # said only with compare
    base = {"instruction": "x", "compare": True}
    for change, words in (
        ({"versus": "dall-e"}, "versus must be one of mgie, ip2p, klein"),
        ({"versus": ["klein"]}, "versus must be one of"),
        ({"model": "flux"}, "model must be one of"),
        ({"model": "klein", "versus": "klein"}, "compare needs two engines"),
    ):
        with pytest.raises(InputError, match=words):
            protocol.upload_from_wire({**base, **change}, image, None, None)
    assert protocol.upload_from_wire(base, image, None, None).versus == "ip2p"  # an older client's pair


def test_edit_remote_mode_klein_writes_the_local_engines_pixels(
    klein_server, klein_engine, photo, photo_path, tmp_path
):
    from mgie_desktop.core.session import open_session
    from mgie_desktop.core.step_params import StepKind

    out, session = tmp_path / "remote.png", tmp_path / "remote.mgie"
    done = run_cli(
        "edit",
        photo_path,
        "-i",
        WORDS,
        "-o",
        out,
        "--mode",
        "klein",
        "--pixel-budget",
        str(SMALL.pixel_budget),
        "--seed",
        "3",
        "--session",
        session,
        "--json",
        "--remote",
        klein_server.url,
        "--token-file",
        klein_server.token_file,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["mode"] == "klein" and report["expressive_instruction"] == ""
    assert (report["edits"][0]["working_width"], report["edits"][0]["working_height"]) == klein_working_size(
        *photo.size, SMALL.pixel_budget
    )
    params = params_for(seed=3, pixel_budget=SMALL.pixel_budget)
    alone, used = klein_engine.render_klein(photo, WORDS, params, [3])
    assert np.array_equal(pixels(Image.open(out)), pixels(alone[0]))
    opened = open_session(session, tmp_path / "work")
    step = opened.history.current
    assert step.kind is StepKind.KLEIN and step.params.render == used  # as the server rendered it
    opened.history.close()


def test_edit_remote_mode_klein_on_a_server_without_it_says_so(server, photo_path, tmp_path):
    out = tmp_path / "remote.png"
    done = run_cli(
        "edit",
        photo_path,
        "-i",
        WORDS,
        "-o",
        out,
        "--mode",
        "klein",
        "--remote",
        server.url,
        "--token-file",
        server.token_file,
    )
    assert done.returncode == 2 and not out.exists()
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "the server has no FLUX.2 [klein]" in lines[0], done.stderr
