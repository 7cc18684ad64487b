"""Named seed streams: distinct numbers, and no two streams a run uses ever coincide."""

import pytest
import torch

from genpolicy.population.noise import member_seed
from genpolicy.seeding import INDEXED, STREAMS, eval_seeds, generation_seed, indexed, seeds, stream

P, E = 64, 3


def used_by_generation(run_seed: int, g: int) -> dict[str, set[int]]:
    """Every seed a population generation g (with its test) draws from, by stream."""
    gen = generation_seed(run_seed, g)
    idx = torch.arange(P * E)
    used = {"generation": {gen}}
    for name in STREAMS:  # the stream bases themselves (torch.Generator seeds for some)
        used[f"{name}@gen"] = {stream(gen, name)}
    used["member env"] = set(seeds(gen, "env", idx).tolist())
    used["centre env"] = set(seeds(gen, "centre_env", torch.arange(E)).tolist())
    used["elite env"] = set(seeds(gen, "elite_env", torch.arange(30)).tolist())
    used["noise rows"] = {member_seed(stream(gen, "noise"), j) for j in range(P)}
    used["ga parents"] = set(seeds(gen, "ga_parent", torch.arange(P)).tolist())
    used["ga mutations"] = {member_seed(stream(gen, "ga_mutation"), i) for i in range(P)}
    used["test episodes"] = set(eval_seeds(run_seed, g, 10).tolist())
    return used


@pytest.mark.parametrize("run_seed", [0, 1, 12345])
def test_streams_of_generations_never_coincide(run_seed):
    seen = {stream(run_seed, name): f"{name}@run" for name in STREAMS}  # the run's own streams
    assert len(seen) == len(STREAMS)
    for g in range(40):  # generation numbers overlap every stream number
        for name, values in used_by_generation(run_seed, g).items():
            for v in values:
                other = seen.setdefault(v, f"{name} (generation {g})")
                assert other == f"{name} (generation {g})", f"{name} of generation {g} reuses {other}"
    for name in INDEXED:
        for i in range(8):
            assert indexed(run_seed, name, i) not in seen


def test_stream_numbers_are_distinct_and_names_checked():
    numbers = list(STREAMS.values())
    assert len(set(numbers)) == len(numbers)
    bases = sorted(INDEXED.values())
    assert all(n < bases[0] for n in numbers) and bases[1] - bases[0] > 1000  # indexed ranges stay apart
    with pytest.raises(KeyError, match="unknown seed stream"):
        stream(0, "bogus")


def test_generation_seeds_are_a_pure_function_of_run_seed_and_index():
    assert generation_seed(3, 5) == generation_seed(3, 5)
    assert generation_seed(3, 5) != generation_seed(3, 6) != generation_seed(4, 5)
