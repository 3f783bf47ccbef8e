"""Starting weights of a training run (``fundus.init_weights``)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from _helpers.train import SIZE, train_run

from captum_iterative.fundus.checkpoint import load_classifier
from captum_iterative.fundus.init_weights import InitWeights


def test_init_checkpoint_sets_the_starting_weights(
    tmp_path: Path, trained: tuple[Path, object]
) -> None:
    out, _ = trained
    init = InitWeights("checkpoint", out)
    source = torch.load(out, weights_only=True)["state_dict"]
    built = init.build("vgg_tiny", {"num_outputs": 1}).state_dict()
    assert built.keys() == source.keys()
    assert all(torch.equal(built[k], v) for k, v in source.items())
    # With lr = 1e-9 Adam moves each weight by about 1e-9 per step (at most a few times that),
    # and an epoch here is 3 steps: a run started from the checkpoint ends within 1e-7 of it,
    # one started from random weights does not (vgg_tiny has no batch-norm statistics).
    tuned = train_run(tmp_path / "a" / "m.pt", epochs=1, lr=1e-9, init=init)
    scratch = train_run(tmp_path / "b" / "m.pt", epochs=1, lr=1e-9)
    tuned_state = torch.load(tuned.checkpoint, weights_only=True)["state_dict"]
    scratch_state = torch.load(scratch.checkpoint, weights_only=True)["state_dict"]
    for key, value in source.items():
        torch.testing.assert_close(tuned_state[key], value, rtol=0, atol=1e-7)
    assert not all(torch.allclose(scratch_state[k], v, atol=1e-3) for k, v in source.items())
    record = tuned.init
    assert record is not None
    assert record == {
        "source": "checkpoint",
        "path": str(out),
        "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
        "by_order": False,
        "arch": "vgg_tiny",
        "input_size": SIZE,
        "epoch": load_classifier(out)[1].epoch,
    }
    assert load_classifier(tuned.checkpoint)[1].init == record
    assert torch.load(tuned.last_checkpoint, weights_only=True)["init"] == record
    assert scratch.init is None and load_classifier(scratch.checkpoint)[1].init is None


def test_init_errors(tmp_path: Path, trained: tuple[Path, object]) -> None:
    out, _ = trained
    with pytest.raises(FileNotFoundError, match=r"checkpoint `path` not found: .*none\.pt"):
        InitWeights("checkpoint", tmp_path / "none.pt")
    with pytest.raises(ValueError, match="`source`"):
        InitWeights("hub", out)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`by_order`"):
        InitWeights("checkpoint", out, by_order=True)
    init = InitWeights("checkpoint", out)
    with pytest.raises(ValueError, match=r"'vgg_tiny' model, `arch` is 'vgg_small'"):
        init.build("vgg_small", {"num_outputs": 1})
    with pytest.raises(ValueError, match="`create_kwargs`"):
        train_run(tmp_path / "m.pt", epochs=1, init=init, create_kwargs={"dropout": 0.2})
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")
    with pytest.raises(ValueError, match=r"notes\.pt: it is not a torch\.save file"):
        InitWeights("checkpoint", text).describe()
