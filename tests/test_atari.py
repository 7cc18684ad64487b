"""Atari: pytorch-es's preprocessing and ConvLSTM, the ALE batch, the entry points on Pong."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("ale_py", reason="the atari extra (scripts/setup.sh installs it)")

from torch.nn import functional as F  # noqa: E402

from genpolicy.envs.atari import atari_spec  # noqa: E402
from genpolicy.policies import ConvLSTM, ConvLSTMPolicy  # noqa: E402
from genpolicy.policies.convlstm import lstm_update  # noqa: E402
from genpolicy.rollout.atari import NORM_ALPHA, AtariBatch, EpisodeNorm, preprocess, preprocess_reference  # noqa: E402

ENV = {"WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "0"}


@pytest.fixture(scope="module")
def pong():
    return atari_spec("ALE/Pong-v5", max_episode_frames=600, group=2)


@pytest.mark.parametrize("grey", ["luminance", "mean"])
@pytest.mark.parametrize("size", [42, 64, 80])
def test_fast_preprocess_equals_the_reference(grey, size):
    gen = torch.Generator().manual_seed(0)
    shape = (5, 210, 160) if grey == "luminance" else (5, 210, 160, 3)
    frames = torch.randint(0, 256, shape, generator=gen, dtype=torch.uint8)
    fast, ref = preprocess(frames, (34, 194), size, grey), preprocess_reference(frames, (34, 194), size, grey)
    assert fast.shape == (5, size * size)
    torch.testing.assert_close(fast, ref, atol=2e-6, rtol=0)
    assert 0 <= float(fast.min()) and float(fast.max()) <= 1


def test_episode_norm_is_pytorch_es_running_scalar_statistics():
    gen = torch.Generator().manual_seed(1)
    frames = torch.rand(6, 3, 50, generator=gen)  # 6 steps of 3 copies
    norm, mean, std = EpisodeNorm(3), np.zeros(3), np.zeros(3)
    for t, x in enumerate(frames):
        out = norm(x)
        for c in range(3):  # one copy at a time, as pytorch-es's NormalizedEnv did
            mean[c] = mean[c] * NORM_ALPHA + x[c].double().mean().item() * (1 - NORM_ALPHA)
            std[c] = std[c] * NORM_ALPHA + x[c].double().std(unbiased=False).item() * (1 - NORM_ALPHA)
            unbiased_mean, unbiased_std = mean[c] / (1 - NORM_ALPHA ** (t + 1)), std[c] / (1 - NORM_ALPHA ** (t + 1))
            expected = (x[c].double() - unbiased_mean) / (unbiased_std + 1e-8)
            torch.testing.assert_close(out[c].double(), expected, atol=1e-5, rtol=1e-5)
    norm.select(torch.tensor([2]))
    assert norm.mean.shape == (1,) and norm.steps.tolist() == [6.0]
    assert torch.equal(EpisodeNorm(2, enabled=False)(frames[0, :2]), frames[0, :2])


def test_convlstm_is_pytorch_es_network():
    net = ConvLSTM(6)
    assert sum(p.numel() for p in net.parameters()) == 588_710
    assert net.features == 288
    h, c = net.initial_state(2)
    logits, (h2, c2) = net(torch.rand(2, 42 * 42), (h, c))
    assert logits.shape == (2, 6) and h2.shape == (2, 256) and not torch.equal(h2, h)
    ref = torch.nn.LSTMCell(288, 256)  # the written-out cell is PyTorch's
    ref.load_state_dict(net.lstm.state_dict())
    x = torch.rand(2, 288)
    gates = F.linear(x, ref.weight_ih, ref.bias_ih) + F.linear(h2, ref.weight_hh, ref.bias_hh)
    torch.testing.assert_close(lstm_update(gates, c2), ref(x, (h2, c2)))


def test_fast_convlstm_equals_the_generic_vmap_path():
    torch.manual_seed(0)  # the template's weights: the same policy whatever ran before in this process
    fast = ConvLSTMPolicy(42 * 42, "discrete", 6, obs_shape=(1, 42, 42), hidden=32, action_mode="sample")
    generic = ConvLSTMPolicy(42 * 42, "discrete", 6, obs_shape=(1, 42, 42), hidden=32, fast=False, action_mode="sample")
    generic.load_state_dict(fast.state_dict())
    gen = torch.Generator().manual_seed(2)
    params = fast.initial_parameters() + 0.3 * torch.randn(3, fast.num_params, generator=gen)
    a, b = fast.bind(params), generic.bind(params)
    for t in range(4):  # 3 members × 2 copies, then 3 surviving copies of one each
        if t == 2:
            keep = torch.tensor([0, 3, 5])
            a, b = a.select(keep), b.select(keep)
        obs = torch.rand(3, 2 if t < 2 else 1, 42 * 42, generator=gen)
        a.generator, b.generator = torch.Generator().manual_seed(t), torch.Generator().manual_seed(t)
        assert torch.equal(a(obs), b(obs))
        for x, y in zip(a.state, b.state, strict=True):
            torch.testing.assert_close(x, y, atol=5e-4, rtol=1e-3)  # float32: grouped conv vs vmap


def _play(spec, policy, params, batch):
    obs, n = batch.reset(torch.arange(len(params))), len(params)
    act, alive = policy.bind(params), torch.ones(n, dtype=torch.bool)
    ret, steps = torch.zeros(n, dtype=torch.float64), torch.zeros(n, dtype=torch.int64)
    while alive.any():
        obs, r, te, tr = batch.step(act(obs.view(n, 1, -1)).view(-1), alive)
        ret += r * alive
        steps += alive
        alive &= ~(te | tr)
    return ret, steps


def test_batch_episode_is_the_single_env_episode_and_only_live_groups_step(pong):
    policy = ConvLSTMPolicy(pong.obs_dim, "discrete", pong.action_dim, obs_shape=pong.obs_shape, hidden=16)
    params = policy.initial_parameters() + 0.5 * torch.randn(
        4, policy.num_params, generator=torch.Generator().manual_seed(3)
    )
    batch = AtariBatch(pong, 4, torch.device("cpu"))
    try:
        ret, steps = _play(pong, policy, params, batch)
        assert (steps == 150).all()  # 600 frames at 4 per action
        env = pong.make_single(render_mode="rgb_array")
        try:  # the one-emulator env (videos) plays the same episode, frame for frame
            for m in (0, 3):
                obs, _ = env.reset(seed=0)
                act, total, done = policy.bind(params[m : m + 1]), 0.0, False
                while not done:
                    obs, r, te, tr, _ = env.step(int(act(torch.as_tensor(obs).view(1, 1, -1))))
                    total, done = total + r, te or tr
                assert total == ret[m]
            assert env.render().shape == (210, 160, 3)
        finally:
            env.close()
        batch.reset(torch.arange(4))
        before = batch.emulated
        batch.step(torch.zeros(4, dtype=torch.int64), torch.tensor([True, False, False, False]))
        assert batch.emulated - before == 2  # group 2: only the live copy's group of two emulates
        batch.select(torch.tensor([1, 2]))
        before = batch.emulated
        batch.step(torch.zeros(2, dtype=torch.int64), torch.tensor([False, True]))
        assert batch.emulated - before == 2
    finally:
        batch.close()


def _fit(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "genpolicy.fit", "logger=none", "trainer.enable_progress_bar=false", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **ENV},
    )


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["env=atari", "policy=mlp"], "PopulationPolicy reads vector observations, but ALE/Pong-v5 gives image frames"),
        (["policy=convlstm"], "policy=convlstm reads image frames (C, H, W)"),
        (
            ["env=atari", "policy=convlstm", "env.id=ALE/Pongg-v5"],
            "unknown Atari id 'ALE/Pongg-v5'. Did you mean: ALE/Pong-v5",
        ),
        (["env=gym", "env.id=ALE/Pong-v5"], "ALE/Pong-v5 is an Atari game: play it with env=atari"),
        (["env=atari", "policy=convlstm", "env.grey=blue"], "env.grey must be one of mean, luminance"),
        (["env=atari", "policy=convlstm", "env.frameskip=0"], "env.frameskip"),
    ],
)
def test_bad_atari_input_exits_2_with_one_line(tmp_path, overrides, message):
    proc = _fit(*overrides, f"hydra.run.dir={tmp_path / 'bad'}")
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("genpolicy.fit: error:")]
    assert len(errors) == 1 and message in errors[0], proc.stderr[-2000:]
    assert not (tmp_path / "bad").exists()


def test_missing_atari_extra_says_how_to_install(monkeypatch):
    from genpolicy.envs import atari

    monkeypatch.setitem(sys.modules, "ale_py", None)  # import ale_py now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'genpolicy\[atari\]'"):
        atari.atari_spec("ALE/Pong-v5")


def test_pong_fit_evaluate_and_video(tmp_path):
    run_dir = tmp_path / "pong"
    proc = _fit(
        "experiment=es_pong",
        "generations=2",
        "strategy.popsize=4",
        "env.max_episode_frames=400",
        "method.eval_every=1",
        f"hydra.run.dir={run_dir}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["generations"] == 2 and summary["env"] == "ALE/Pong-v5"
    assert summary["env_steps"] > 2 * 5 * 50 and summary["eval_episodes"] == 1
    ckpt = summary["checkpoint"]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "genpolicy.evaluate",
            f"ckpt_path={ckpt}",
            "episodes=2",
            "video=true",
            f"hydra.run.dir={tmp_path / 'vid'}",
            "video_format=gif",
            "video_scale=2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["episodes"] == 2 and -21 <= result["eval_return_mean"] <= 21
    assert result["video_return"] == result["eval_return_mean"]  # deterministic: the filmed episode is the test's
    assert result["video_steps"] == 100 and Path(result["video"]).stat().st_size > 1000


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="thread priorities are read from /proc (Linux)")
def test_emulator_threads_yield_to_the_policy_thread(pong):
    """env.emulator_nice: every emulator thread the batch starts runs at that nice value; the caller's
    threads keep theirs."""
    from genpolicy.rollout.atari import _threads

    mine = os.getpriority(os.PRIO_PROCESS, 0)
    before = _threads()
    batch = AtariBatch(pong, 4, torch.device("cpu"))  # group 2: two vector envs, one thread each
    try:
        new = _threads() - before
        assert len(new) == 2 and pong.kwargs["emulator_nice"] == 19
        assert all(os.getpriority(os.PRIO_PROCESS, t) == max(19, mine) for t in new)
        assert os.getpriority(os.PRIO_PROCESS, 0) == mine
    finally:
        batch.close()


def test_two_lanes_play_exactly_what_one_lane_plays(pong):
    from genpolicy.envs.registry import EnvSpec
    from genpolicy.rollout import PopulationEvaluator

    policy = ConvLSTMPolicy(pong.obs_dim, "discrete", pong.action_dim, obs_shape=pong.obs_shape, hidden=16)
    params = policy.initial_parameters() + 0.5 * torch.randn(
        5, policy.num_params, generator=torch.Generator().manual_seed(4)
    )
    results = []
    for pipeline in (False, True):
        evaluator = PopulationEvaluator(pong, chunk_size=5, pipeline=pipeline)
        try:
            results.append(evaluator.evaluate(policy.bind, params, 2, torch.arange(10), max_steps=120))
        finally:
            evaluator.close()
        assert len(evaluator._batches) == 0
    assert torch.equal(results[0].returns, results[1].returns)
    assert torch.equal(results[0].lengths, results[1].lengths) and results[0].env_steps == 10 * 120
    with pytest.raises(ValueError, match="pipeline=True needs a batch that steps asynchronously"):
        PopulationEvaluator(EnvSpec.make("CartPole-v1"), pipeline=True)
