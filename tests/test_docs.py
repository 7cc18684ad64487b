"""The documentation works: the README's bring-your-own-model example and docs/api.md's examples run,
every experiment= named in README.md and docs/ composes (and every experiment is named somewhere), and
every relative link points to a file (and heading) that exists."""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
DOCS = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
EXPERIMENT = re.compile(r"experiment=([A-Za-z0-9_]+)")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _section(markdown: str, heading: str) -> str:
    """The body of the first heading whose title starts with ``heading``, up to the next heading of
    the same or a higher level."""
    match = re.search(rf"^(#+) {re.escape(heading)}.*$", markdown, re.M)
    assert match, f"no heading {heading!r}"
    level = len(match.group(1))
    rest = markdown[match.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.M)
    return rest[: end.start()] if end else rest


def _python_blocks(markdown: str) -> list[str]:
    return [body for lang, body in FENCE.findall(markdown) if lang == "python"]


def _prose(markdown: str) -> str:
    """The markdown without its fenced code blocks (links inside code are not links)."""
    return FENCE.sub("", markdown)


def _run_example(blocks: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run the blocks, in order, as one script in a fresh interpreter (cwd: a temporary dir)."""
    script = cwd / "example.py"
    script.write_text("\n\n".join(textwrap.dedent(b) for b in blocks))
    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true", PYTHONPATH=str(REPO / "src"))
    return subprocess.run([sys.executable, str(script)], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_readme_bring_your_own_model_example_runs(tmp_path):
    blocks = _python_blocks(_section(_text(REPO / "README.md"), "Bring your own model"))
    assert blocks, "the README's 'Bring your own model' section has no ```python block"
    proc = _run_example(blocks, tmp_path)
    assert proc.returncode == 0, f"the README example failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert "test reward" in proc.stdout  # run() printed its tests
    final = re.search(r"test return: ([\d.]+)", proc.stdout)  # the example's last line: it solved CartPole
    assert final and float(final.group(1)) >= 475, proc.stdout[-2000:]
    if any("save_path=" in b for b in blocks):
        assert any(tmp_path.glob("*.pt")), "save_path wrote nothing"


def test_api_page_examples_run(tmp_path):
    """docs/api.md's examples (one per scorer), in order as a reader would paste them."""
    blocks = _python_blocks(_text(REPO / "docs" / "api.md"))
    assert len(blocks) >= 3
    proc = _run_example(blocks, tmp_path)
    assert proc.returncode == 0, f"docs/api.md's examples failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert proc.stdout.count("test reward") >= 3  # each example's run() printed its tests


def _mentioned_experiments() -> dict[str, list[str]]:
    """experiment name → the docs (relative paths) that mention ``experiment=NAME``."""
    found: dict[str, list[str]] = {}
    for path in DOCS:
        for name in EXPERIMENT.findall(_text(path)):
            found.setdefault(name, []).append(str(path.relative_to(REPO)))
    return found


def test_every_experiment_in_the_docs_composes():
    mentioned = _mentioned_experiments()
    assert mentioned, "no experiment= found in README.md or docs/"
    failures = []
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        for name, where in sorted(mentioned.items()):
            try:
                cfg = compose("fit", overrides=[f"experiment={name}"])
            except Exception as err:  # report every broken name at once
                failures.append(f"experiment={name} ({', '.join(sorted(set(where)))}): {type(err).__name__}: {err}")
                continue
            if cfg.name != name:  # every experiment file sets its own name
                failures.append(f"experiment={name} composed, but its name is {cfg.name!r}")
    assert not failures, "\n".join(failures)


def test_every_experiment_is_documented():
    experiments = {p.stem for p in (CONFIGS / "experiment").glob("*.yaml")}
    missing = sorted(experiments - set(_mentioned_experiments()))
    assert not missing, f"configs/experiment/ files no doc names as experiment=NAME: {missing}"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation removed, spaces → '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links → their text
    text = text.replace("`", "").replace("*", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    anchors, seen = set(), {}
    for line in _prose(_text(path)).splitlines():
        match = re.match(r"^#+ (.+?)\s*#*\s*$", line)
        if match:
            slug = _slug(match.group(1))
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(doc):
    broken = []
    for target in LINK.findall(_prose(_text(doc))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:, …
            continue
        path_part, _, fragment = target.partition("#")
        dest = (doc.parent / path_part).resolve() if path_part else doc
        if not dest.exists():
            broken.append(f"{target} (no file {dest})")
        elif fragment and dest.suffix == ".md" and fragment not in _anchors(dest):
            broken.append(f"{target} (no heading #{fragment} in {dest.relative_to(REPO)})")
    assert not broken, f"{doc.relative_to(REPO)}: broken links:\n" + "\n".join(broken)


def test_docs_are_indexed():
    """Every page under docs/ is reachable: linked from the README or from another page."""
    linked = set()
    for doc in DOCS:
        for target in LINK.findall(_prose(_text(doc))):
            path_part = target.partition("#")[0]
            if path_part and not re.match(r"^[a-z][a-z0-9+.-]*:", path_part):
                linked.add((doc.parent / path_part).resolve())
    orphans = [str(p.relative_to(REPO)) for p in DOCS[1:] if p.resolve() not in linked]
    assert not orphans, f"pages no other page links to: {orphans}"
