"""GPV: the action cVAE, post-training GPV from a DDPG checkpoint, ST-GPV, variations, bad input."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from genpolicy._configs import config_dir
from genpolicy.fit import InputError, load_checkpoint
from genpolicy.nets.cvae import ActionVAE
from genpolicy.variations import variations

TINY_ACTOR = (
    "generations=2",
    "method.round_steps=200",
    "data.warmup_steps=200",
    "data.batch_size=32",
    "data.train_every=10",
    "policy.hidden=[32,32]",
    "method.critic_hidden=[32,32]",
    "data.capacity=1000",
)
TINY_GPV = (
    "generations=3",
    "method.round_steps=40",
    "data.episodes=4",
    "data.batch_size=64",
    "policy.hidden=[32,32]",
    "method.hidden=[32,32]",
    "method.latent_dim=2",
)


@pytest.fixture(scope="module")
def actor_ckpt(tmp_path_factory):
    from conftest import TINY, compose_fit
    from genpolicy.fit import run

    run_dir = tmp_path_factory.mktemp("ddpg")
    return run(compose_fit(*TINY, "experiment=ddpg_pendulum", *TINY_ACTOR), run_dir)["checkpoint"]


def test_cvae_kl_is_the_gaussian_kl_and_samples_stay_in_the_box():
    torch.manual_seed(0)
    vae = ActionVAE(3, 2, [-2.0, 0.0], [2.0, 1.0], latent_dim=4, hidden=(16,), max_latent=0.5)
    obs, act = torch.randn(64, 3), torch.rand(64, 2) * torch.tensor([4.0, 1.0]) - torch.tensor([2.0, 0.0])
    mu, log_std = vae.encode(obs, act)
    q = torch.distributions.Normal(mu, log_std.exp())
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    _, kl = vae.losses(obs, act)
    assert torch.allclose(kl, torch.distributions.kl_divergence(q, p).sum(-1).mean(), atol=1e-5)
    z = vae.sample_latents(1000)
    assert z.abs().max() <= 0.5  # clipped at sampling (BCQ)
    a = vae.decode(torch.randn(1000, 3), z)
    assert (a[:, 0].abs() <= 2).all() and (a[:, 1] >= 0).all() and (a[:, 1] <= 1).all()


def test_cvae_encoder_sees_the_action_and_noise_is_per_sample():
    vae = ActionVAE(3, 1, [-1.0], [1.0], latent_dim=2, hidden=(16,))
    obs = torch.zeros(2, 3)
    mu, _ = vae.encode(obs, torch.tensor([[-0.9], [0.9]]))
    assert not torch.allclose(mu[0], mu[1])  # same state, different action → different posterior
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # with σ ≫ 0 two identical samples get different z, hence different recon terms
        vae.encoder.layers[-1].bias[2:] = 3.0
        one = vae.decode_unit(obs, vae.encode(obs, torch.zeros(2, 1))[0] + 20 * torch.randn(2, 2, generator=gen))
    assert not torch.allclose(one[0], one[1])


def test_gpv_trains_from_a_ddpg_checkpoint_and_variations_are_measured(fit_run, actor_ckpt, tmp_path, monkeypatch):
    summary, run_dir = fit_run(
        "experiment=gpv_pendulum", f"method.actor_ckpt={actor_ckpt}", *TINY_GPV, run_dir=tmp_path / "gpv"
    )
    assert summary["generations"] == 3 and summary["env_steps"] == 4 * 200  # the teacher's recorded episodes
    rows = (run_dir / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    recon = [
        float(r.split(",")[header.index("cvae/recon")]) for r in rows[1:] if r.split(",")[header.index("cvae/recon")]
    ]
    assert len(recon) == 3 and recon[-1] < recon[0]  # it learns the actor's map
    teacher = load_checkpoint(actor_ckpt)["state_dict"]["actor.layers.0.weight"]
    gpv = load_checkpoint(summary["checkpoint"])["state_dict"]
    assert torch.equal(gpv["policy.net.layers.0.weight"], teacher)  # the teacher is inside, untouched

    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", "/nonexistent")
    out = tmp_path / "var"
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose(
            "variations",
            overrides=[
                f"ckpt_path={summary['checkpoint']}",
                "n=4",
                "gif=2",
                "probe_states=32",
                "wandb.enabled=true",
            ],
        )
    result = variations(cfg, out)
    saved = json.loads((out / "variations.json").read_text())
    assert len(saved["returns"]) == 4 and saved["actor_return"] < 0  # Pendulum returns are negative
    assert saved["mean_pairwise_action_distance"] > 0 and saved["descriptor_std"]["episode_length"] == 0.0
    assert (out / "variations.gif").stat().st_size > 5000
    assert result["wandb_dir"].startswith(str(out / "wandb"))

    from genpolicy.evaluate import evaluate  # the GPV checkpoint stands alone: its teacher is inside it

    for ckpt in (summary["checkpoint"], actor_ckpt):
        ev = evaluate(ckpt, episodes=2, video=str(tmp_path / "video"), video_format="gif")
        assert ev["episodes"] == 2 and ev["eval_return_mean"] < 0 and Path(ev["video"]).stat().st_size > 5000


def test_stgpv_trains_actor_and_cvae_together(fit_run):
    summary, run_dir = fit_run("experiment=stgpv_pendulum", *TINY_ACTOR, "method.cvae_hidden=[32,32]")
    sd = load_checkpoint(summary["checkpoint"])["state_dict"]
    assert any(k.startswith("cvae.") for k in sd) and int(sd["updates"]) == 400 - 200 + 10
    header = (run_dir / "metrics.csv").read_text().splitlines()[0]
    assert "cvae/kl" in header and "gpv/variation_return" in header


@pytest.mark.parametrize(
    "overrides, message",
    [
        ((), "needs a trained actor"),
        (("method.beta=-0.1", "method.actor_ckpt=ACTOR"), "beta .* must be ≥ 0"),
        (("method.latent_dim=0", "method.actor_ckpt=ACTOR"), "latent_dim must be an integer ≥ 1"),
        (("method.actor_ckpt=/nonexistent.ckpt",), "checkpoint not found"),
        (("env=cartpole", "method.actor_ckpt=ACTOR"), "needs box actions"),
    ],
)
def test_bad_input(fit_run, actor_ckpt, overrides, message):
    with pytest.raises(InputError, match=message):
        fit_run("experiment=gpv_pendulum", *TINY_GPV, *(o.replace("ACTOR", actor_ckpt) for o in overrides))


def test_gpv_refuses_a_checkpoint_of_another_method(fit_run, tmp_path):
    es, _ = fit_run("experiment=es_cartpole", run_dir=tmp_path / "es")
    with pytest.raises(InputError, match="not a DDPG/TD3"):
        fit_run("experiment=gpv_pendulum", *TINY_GPV, f"method.actor_ckpt={es['checkpoint']}")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "genpolicy.variations",
            f"ckpt_path={es['checkpoint']}",
            f"hydra.run.dir={tmp_path / 'v'}",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "not a GPV checkpoint" in proc.stderr and not (tmp_path / "v").exists()
