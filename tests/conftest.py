import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from genpolicy._compile import can_compile
from genpolicy._configs import config_dir

# torch.compile on a CPU builds its kernels with the system's C++ compiler (inductor); like CUDA, a
# machine without one cannot run those tests
needs_cxx = pytest.mark.skipif(not can_compile("cpu"), reason="torch.compile on CPU needs a C++ compiler")

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted(p.stem for p in (Path(config_dir()) / "experiment").glob("*.yaml"))
GRADIENT_EXPERIMENTS = [e for e in EXPERIMENTS if e.split("_")[0] in ("ddpg", "td3", "gpv", "stgpv")]
POPULATION_EXPERIMENTS = [e for e in EXPERIMENTS if e not in GRADIENT_EXPERIMENTS]


def compose_fit(*overrides: str):
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        return compose("fit", overrides=list(overrides))


TINY = (
    "strategy.popsize=8",
    "generations=2",
    "method.eval_episodes=2",
    "method.eval_every=1",
    "final_eval_episodes=2",
    "logger=csv",
    "trainer.enable_progress_bar=false",
    "goal_stopping.reward_goal=null",
)


# strategy-specific sizes that fit a population of 8
TINY_STRATEGY = {
    "genpolicy.population.GeneticAlgorithm": (
        "strategy.truncation=3",
        "strategy.elite_candidates=2",
        "strategy.elite_episodes=2",
    ),
    "genpolicy.population.CEM": ("strategy.elite=2",),
}


# method-specific settings: a tiny DDPG/TD3 run takes the fused update (update=auto compiles it, which
# costs more than the run; the compiled update has its own tests)
TINY_METHOD = {
    "genpolicy.methods.TD3Module": ("method.update=fused",),
    "genpolicy.methods.STGPVModule": ("method.update=fused",),
}

# experiment-specific sizes that keep a tiny run short (Pong: 200-step episodes)
# (MetaRL: 100-step lifetimes)
METARL_TINY = ("env.max_episode_steps=100",)
TINY_EXPERIMENT = {
    "es_pong": ("env.max_episode_frames=800", "data.chunk_size=null"),
    "metarl_pendulum": METARL_TINY,
    "metarl_double_pendulum": METARL_TINY,
}


@pytest.fixture
def fit_run(tmp_path):
    """Run ``genpolicy.fit`` in-process: fit_run(*overrides, run_dir=None) → (summary, run_dir)."""
    from genpolicy.fit import run

    def _run(*overrides, run_dir=None):
        plain = compose_fit(*overrides)
        target, method = plain.strategy._target_, plain.method._target_
        experiment = next((o.split("=", 1)[1] for o in overrides if o.startswith("experiment=")), None)
        tiny = (*TINY_STRATEGY.get(target, ()), *TINY_METHOD.get(method, ()), *TINY_EXPERIMENT.get(experiment, ()))
        cfg = compose_fit(*TINY, *tiny, *overrides)
        rd = Path(run_dir or tmp_path / "run")
        rd.mkdir(parents=True, exist_ok=True)
        return run(cfg, rd), rd

    return _run
