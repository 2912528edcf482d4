"""``ngramlm plot``: every figure written and readable, its size and format, the
embedding projection, and each refusal as one line with a non-zero exit."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from ngramlm import __version__, plots
from ngramlm.api import open_store
from ngramlm.cli import main
from ngramlm.models import family_of, preset_config
from ngramlm.store import Store
from ngramlm.store.records import NewRun

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WIDE_PX = (800, 500)
SQUARE_PX = (800, 800)


@dataclass(frozen=True)
class Trained:
    """One store shared by the module's tests (they only read it)."""

    url: str
    run: int  # n_embd 10 (the preset's), n_hidden 16
    run_e2: int  # n_embd 2
    run_e4: int  # n_embd 4
    lr_find: int
    sweep: int
    pending: int  # created, never trained: no metrics, no checkpoint
    bigram: int  # a count model: final losses, no curve
    one_point: int  # a network evaluated once (5 steps, --eval-every 5)
    kneser_ney: int  # a second count model on the same data set
    search: int  # a search on tiny, beside its count models
    lone_search: int  # a search on a data set with no count model


def _invoke(*args: str) -> dict:
    """Run the CLI in-process for the fixture's set-up; its --json output, parsed."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            assert exc.code in (0, None), f"ngramlm {' '.join(args)} exited {exc.code}"
    text = buf.getvalue()
    return json.loads(text) if text.strip().startswith("{") else {}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    import random

    root = tmp_path_factory.mktemp("plot")
    rng = random.Random(0)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 7))) for _ in range(200)]
    words_file = root / "tiny.txt"
    words_file.write_text("\n".join(words) + "\n", encoding="utf-8")
    url = f"sqlite:///{root / 'store.db'}"

    _invoke("--db", url, "prepare", words_file)
    with Store(url) as store:  # first, so that `last` names a trained run
        cfg = preset_config("default")
        pending = store.create_run(
            NewRun(
                dataset_id=store.dataset("tiny").id,
                kind="train",
                name="never-trained",
                preset=None,
                config=cfg.to_dict(),
                config_hash=cfg.config_hash(),
                columns=family_of(cfg).columns(cfg),
                device="cpu",
                host=socket.gethostname(),
                pid=os.getpid(),
                version=__version__,
            )
        ).id
    bigram = _invoke("--db", url, "train", "--dataset", "tiny", "--model", "bigram", "--json")
    one_point = _invoke("--db", url, "train", "--dataset", "tiny", "--steps", "5",
                        "--eval-every", "5", "--n-hidden", "8", "--json", "-q")  # fmt: skip
    common = ("--db", url, "train", "--dataset", "tiny", "--steps", "300", "--n-hidden", "16")
    run = _invoke(*common, "--json", "-q")["run"]
    run_e2 = _invoke(*common, "--n-embd", "2", "--json", "-q")["run"]
    run_e4 = _invoke(*common, "--n-embd", "4", "--json", "-q")["run"]
    lr = _invoke(
        "--db", url, "lr-find", "--dataset", "tiny", "--steps", "100", "--n-hidden", "16", "--json"
    )["run"]
    sweep = _invoke(
        "--db", url, "sweep", "--dataset", "tiny", "--lr-grid", "0.05,0.2",
        "--grid", "n_hidden=8,16", "--steps", "50", "--json", "-q",
    )["sweep"]  # fmt: skip
    kn = _invoke("--db", url, "train", "--dataset", "tiny", "--model", "kneser-ney",
                 "--order", "3", "--json")["run"]  # fmt: skip
    search = ("sweep", "--search", "random", "--space", "lr=0.005:0.5:log", "--space",
              "n_hidden=8:24", "--trials", "3", "--steps", "30", "--no-mix", "--json",
              "-q")  # fmt: skip
    found = _invoke("--db", url, *search, "--dataset", "tiny")["sweep"]
    (root / "other.txt").write_text("\n".join(words[::-1]) + "\n", encoding="utf-8")
    _invoke("--db", url, "prepare", root / "other.txt")
    lone = _invoke("--db", url, *search, "--dataset", "other")["sweep"]
    return Trained(url, run, run_e2, run_e4, lr, sweep, pending, bigram["run"],
                   one_point["run"], kn, found, lone)  # fmt: skip


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which must follow the signature."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert head[12:16] == b"IHDR"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def plot_ok(cli, t: Trained, *args: str) -> Path:
    r = cli("--db", t.url, "plot", *args)
    assert r.code == 0, r.err
    path = Path(r.out.strip().removeprefix("wrote "))
    assert path.is_file(), r.out
    return path


def refused(cli, t: Trained, *args: str) -> str:
    """The command fails with exactly one line on stderr, which is returned."""
    r = cli("--db", t.url, "plot", *args)
    assert r.code != 0
    lines = r.err.strip().splitlines()
    assert len(lines) == 1, r.err
    assert not list(Path.cwd().glob("*.png")), "a refused plot must write nothing"
    return lines[0]


# --- each figure -----------------------------------------------------------------------


def test_curves_of_one_run(cli, trained: Trained) -> None:
    path = plot_ok(cli, trained, "curves", str(trained.run))
    assert path == Path(f"run-{trained.run}-curves.png")
    assert png_size(path) == WIDE_PX


def test_curves_overlay_several_runs(cli, trained: Trained) -> None:
    a, b = trained.run, trained.run_e2
    path = plot_ok(cli, trained, "curves", str(a), str(b), str(a))
    assert path == Path(f"runs-{a}-{b}-curves.png")  # each run once, in the order given
    assert png_size(path) == WIDE_PX


def test_curve_labels_name_the_hyperparameters_that_differ(trained: Trained) -> None:
    with Store(trained.url) as store:
        a, b = store.run(trained.run), store.run(trained.run_e2)
    keys = plots.common._differing_keys([a, b])
    assert keys == ("n_embd",)
    assert plots.run_label(b, keys) == f"run {b.id} (n_embd=2)"
    # runs that differ in many ways: the label stays short enough to fit beside the plot
    many = plots.run_label(b, plots.KEYS)
    head = 1 if b.preset else 0  # the preset names the run first when it has one
    assert many.endswith("…)") and many.count("=") == plots.MAX_LABEL_KEYS - head
    import dataclasses

    named = plots.run_label(dataclasses.replace(b, preset="best"), plots.KEYS)
    assert named.startswith(f"run {b.id} (preset best ") and named.count("=") == 3


def test_lr_find(cli, trained: Trained) -> None:
    path = plot_ok(cli, trained, "lr-find", str(trained.lr_find))
    assert path == Path(f"run-{trained.lr_find}-lr-find.png")
    assert png_size(path) == WIDE_PX


def test_embeddings_in_two_dimensions_are_plotted_as_they_are(
    cli, trained: Trained, tmp_path: Path
) -> None:
    path = plot_ok(cli, trained, "embeddings", str(trained.run_e2))
    assert path == Path(f"run-{trained.run_e2}-embeddings.png")
    assert png_size(path) == SQUARE_PX
    with open_store(trained.url) as exp:  # the API's table, as the CLI draws it
        run = exp.run(trained.run_e2)
        chars, C = exp.embeddings(run)
        plot = plots.embeddings(run, chars, C, tmp_path / "e.png")
    assert plot.title == f"run {trained.run_e2}: embeddings (the first two dimensions)"


def test_embeddings_of_more_dimensions_are_projected_by_pca(
    cli, trained: Trained, tmp_path: Path
) -> None:
    path = plot_ok(cli, trained, "embeddings", str(trained.run_e4))
    assert png_size(path) == SQUARE_PX
    with open_store(trained.url) as exp:  # the API's table, as the CLI draws it
        run = exp.run(trained.run_e4)
        chars, C = exp.embeddings(run)
        plot = plots.embeddings(run, chars, C, tmp_path / "e.png")
    m = re.fullmatch(
        rf"run {trained.run_e4}: embeddings \(PCA of 4 dims, 2 components explain (\d+)%\)",
        plot.title,
    )
    assert m, plot.title
    assert 50 <= int(m.group(1)) <= 100  # the top 2 of 4 components hold at least half
    assert chars[0] == "." and len(chars) == C.shape[0] == 27 and C.shape[1] == 4


def test_pca_finds_the_plane_the_points_lie_in() -> None:
    rng = np.random.default_rng(0)
    plane = rng.normal(size=(27, 2)) * [3.0, 1.0]  # (V, 2)
    basis = np.linalg.qr(rng.normal(size=(5, 2)))[0].T  # (2, 5), orthonormal rows
    C = plane @ basis + 7.0  # embedded in 5 dims, off centre
    xy, how = plots.project_2d(C)
    assert how == "PCA of 5 dims, 2 components explain 100%"
    # A projection onto the same plane keeps every pairwise distance.
    d = np.linalg.norm(plane[:, None] - plane[None], axis=-1)
    d_xy = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    np.testing.assert_allclose(d_xy, d, atol=1e-9)


def test_embeddings_of_the_last_run(cli, trained: Trained) -> None:
    with Store(trained.url) as store:
        last = store.runs(kind="train", limit=1)[0].id
    assert last != trained.pending
    path = plot_ok(cli, trained, "embeddings", "last")
    assert path == Path(f"run-{last}-embeddings.png")


def test_sweep(cli, trained: Trained) -> None:
    path = plot_ok(cli, trained, "sweep", str(trained.sweep))
    assert path == Path(f"sweep-{trained.sweep}.png")
    assert png_size(path) == WIDE_PX


def test_sweep_axes_put_lr_on_x_and_split_lines_by_the_grid(trained: Trained) -> None:
    with Store(trained.url) as store:
        sweep, runs = store.sweep(trained.sweep), store.sweep_runs(trained.sweep)
    assert len(runs) == 4
    assert plots.sweep_axes(sweep, runs) == ("lr", ("n_hidden",))


# --- formats ---------------------------------------------------------------------------


def test_svg_output(cli, trained: Trained) -> None:
    path = plot_ok(cli, trained, "curves", str(trained.run), "--out", "curves.svg")
    head = path.read_bytes()[:200].lstrip()
    assert head.startswith((b"<?xml", b"<svg"))
    assert b"<svg" in path.read_bytes()[:2000]


def test_pdf_output_in_a_subdirectory(cli, trained: Trained) -> None:
    Path("figs").mkdir()
    path = plot_ok(cli, trained, "sweep", str(trained.sweep), "-o", "figs/sweep.pdf")
    assert path == Path("figs/sweep.pdf")
    assert path.read_bytes().startswith(b"%PDF")


# --- refusals --------------------------------------------------------------------------


def test_lr_find_plot_of_a_training_run_is_refused(cli, trained: Trained) -> None:
    line = refused(cli, trained, "lr-find", str(trained.run))
    assert f"run {trained.run} is a train run, not an lr-find run" in line


def test_curves_of_an_lr_find_run_point_to_the_right_plot(cli, trained: Trained) -> None:
    line = refused(cli, trained, "curves", str(trained.lr_find))
    assert f"ngramlm plot lr-find {trained.lr_find}" in line


def test_unknown_extension_is_refused(cli, trained: Trained) -> None:
    line = refused(cli, trained, "curves", str(trained.run), "--out", "loss.jpgx")
    assert ".jpgx" in line and ".png" in line
    assert not Path("loss.jpgx").exists()


def test_missing_output_directory_is_refused(cli, trained: Trained) -> None:
    line = refused(cli, trained, "curves", str(trained.run), "--out", "nowhere/loss.png")
    assert "nowhere" in line and "does not exist" in line


def test_unknown_run_is_refused(cli, trained: Trained) -> None:
    line = refused(cli, trained, "curves", "9999")
    assert "no run 9999" in line


def test_unknown_sweep_is_refused(cli, trained: Trained) -> None:
    assert "no sweep 77" in refused(cli, trained, "sweep", "77")


@pytest.mark.parametrize(("what", "bad"), [("curves", "abc"), ("sweep", "0")])
def test_bad_ids_are_refused(cli, trained: Trained, what: str, bad: str) -> None:
    assert "is not valid" in refused(cli, trained, what, bad)


def test_run_without_metrics_is_refused(cli, trained: Trained) -> None:
    line = refused(cli, trained, "curves", str(trained.pending))
    assert f"run {trained.pending} has no evaluated losses yet" in line


def test_run_without_checkpoint_is_refused(cli, trained: Trained) -> None:
    line = refused(cli, trained, "embeddings", str(trained.pending))
    assert f"run {trained.pending} has no checkpoint" in line
    line = refused(cli, trained, "embeddings", str(trained.lr_find))
    assert "no checkpoint" in line


# --- issue 19: ticks, axes, count models, one-point curves, embedding labels ------------


def _lines(fig) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {line.get_label(): line for line in fig.axes[0].get_lines()}


def test_sweep_ticks_are_compact(trained: Trained) -> None:
    import dataclasses

    with Store(trained.url) as store:
        sweep, runs = store.sweep(trained.sweep), store.sweep_runs(trained.sweep)
    moved = []
    for r, lr in zip(runs, (0.0316228, 0.316228, 0.0316228, 0.316228), strict=True):
        cfg = json.loads(r.config_json)
        cfg["train"]["lr"] = lr
        moved.append(dataclasses.replace(r, config_json=json.dumps(cfg)))
    fig = plots.sweep_figure(sweep, moved)
    ticks = _tick_labels(fig.axes[0], "x")
    assert {"0.0316", "0.316"} <= set(ticks)  # the grid's two rates, and round ones between
    assert len(ticks) >= plots.MIN_TICKS
    assert plots.common._fmt(0.0316228) == "0.0316" and plots.common._fmt(3e-5) == "3e-05"


def test_curves_on_a_log_step_axis_or_by_fraction_of_training(cli, trained: Trained) -> None:
    exp = open_store(trained.url)
    fig = exp.plot_curves(trained.run, trained.one_point, log_x=True)
    assert fig.axes[0].get_xscale() == "log" and "log scale" in fig.axes[0].get_xlabel()
    fig = exp.plot_curves(trained.run, trained.one_point, x="fraction")
    lines = _lines(fig)
    ends = {label: line.get_xdata()[-1] for label, line in lines.items()}  # type: ignore[attr-defined]
    assert set(ends.values()) == {1.0}  # 300 steps and 5 steps both end at 1
    assert fig.axes[0].get_xlabel() == "fraction of the run's steps"
    path = plot_ok(cli, trained, "curves", str(trained.run), "--log-x", "--x", "fraction")
    assert png_size(path) == WIDE_PX
    path.unlink()
    line = refused(cli, trained, "curves", str(trained.run), "--x", "time")
    assert "--x must be one of step, fraction" in line


def test_a_count_model_alone_is_refused_with_the_fix(cli, trained: Trained) -> None:
    r = cli("--db", trained.url, "plot", "curves", str(trained.bigram))
    assert r.code == 2
    line = refused(cli, trained, "curves", str(trained.bigram))
    assert f"run {trained.bigram}: a count model has no training curve" in line
    assert "add a network run" in line and "ngramlm report --compare" in line


def test_a_count_model_beside_a_network_is_a_labelled_line(trained: Trained) -> None:
    fig = open_store(trained.url).plot_curves(trained.run, trained.bigram)
    ax = fig.axes[0]
    flat = [
        line for label, line in _lines(fig).items() if label.startswith(f"run {trained.bigram}")
    ]
    assert len(flat) == 2  # dev and train
    for line in flat:
        ys = line.get_ydata()  # type: ignore[attr-defined]
        assert ys[0] == ys[-1]  # horizontal
    names = [t.get_text() for t in ax.texts]
    assert f"run {trained.bigram} bigram add-1 dev" in names
    assert f"run {trained.bigram} bigram add-1 train" in names
    # the network sets the step axis: the baseline does not squash it to 0..1
    assert ax.get_xlim()[1] >= 300


def test_a_one_point_curve_is_drawn_as_a_marker(trained: Trained, tmp_path: Path) -> None:
    # Runs record their step-0 losses now; a run recorded before that (or an evaluation
    # at the last step only) has one point: a copy of the store without its step 0.
    import shutil

    import sqlalchemy as sa

    db = tmp_path / "one-point.db"
    shutil.copy(trained.url.removeprefix("sqlite:///"), db)
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(
            sa.text("DELETE FROM metrics WHERE run_id = :r AND step = 0"), {"r": trained.one_point}
        )
    engine.dispose()
    fig = open_store(f"sqlite:///{db}").plot_curves(trained.one_point)
    lines = list(_lines(fig).values())
    assert len(lines) == 2
    for line in lines:
        assert len(line.get_xdata()) == 1 and line.get_marker() == "o"  # type: ignore[attr-defined]
    low, high = fig.axes[0].get_xlim()
    assert low <= 0 and high > 5  # the point sits inside a readable step axis
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels() if t.get_text()]
    assert len(labels) == len(set(labels))  # a narrow range still gets distinct ticks


def test_embedding_labels_sit_beside_their_points_in_dark_text(trained: Trained) -> None:
    from matplotlib.colors import to_rgb

    with Store(trained.url) as store:
        run = store.run(trained.run)
    chars = [".", *"abcdefghijklmnopqrstuvwxyz"]
    C = np.random.default_rng(0).normal(size=(27, 5))
    fig = plots.embeddings_figure(run, chars, C)
    texts = fig.axes[0].texts
    assert sorted(t.get_text() for t in texts) == sorted(chars)  # every character named
    for t in texts:
        assert max(to_rgb(t.get_color())) < 0.3  # dark, on a white background
        assert t.get_position() != t.xy  # type: ignore[attr-defined]  # offset from the point
    words = ["</s>", *(f"w{i}" for i in range(99))]  # commonest first, as the API gives
    fig = plots.embeddings_figure(run, words, np.random.default_rng(1).normal(size=(100, 8)))
    named = [t.get_text() for t in fig.axes[0].texts]
    assert named == words[: plots.LABELLED]
    assert f"the {plots.LABELLED} commonest of the 100 tokens" in fig.axes[0].get_title()


# --- issue 29: readable log axes, labels apart, the count model in a search --------------


def _drawn(fig):  # type: ignore[no-untyped-def]
    """The figure drawn (as ``save`` would) and the renderer that drew it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def _tick_labels(ax, which: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The labelled major ticks inside the axes' view, as drawn."""
    _drawn(ax.figure)
    axis = ax.xaxis if which == "x" else ax.yaxis
    low, high = sorted(axis.get_view_interval())
    shown = [t for t in axis.get_major_ticks() if low <= t.get_loc() <= high]
    return [t.label1.get_text() for t in shown if t.label1.get_visible() and t.label1.get_text()]


def _plain_number(label: str) -> float:
    """A tick label read back: ``0.05``, ``2.35``, ``1k``, ``2.5k``, ``1M``; no TeX."""
    scale = {"k": 1e3, "M": 1e6}.get(label[-1:], 1.0)
    return float(label[:-1] if scale != 1.0 else label) * scale


def _assert_readable_log_axis(ax, which: str) -> list[str]:  # type: ignore[no-untyped-def]
    scale = ax.get_xscale() if which == "x" else ax.get_yscale()
    assert scale == "log"
    labels = _tick_labels(ax, which)
    assert len(labels) >= plots.MIN_TICKS, labels
    assert len(set(labels)) == len(labels), labels  # neighbours tell apart
    values = [_plain_number(t) for t in labels]  # raises on "$10^{-2}$"
    assert values == sorted(values)
    return labels


def _assert_apart(boxes) -> None:  # type: ignore[no-untyped-def]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b), (a, b)


@pytest.mark.parametrize(
    ("low", "high"),
    [(1, 10), (100, 2000), (1, 60_000), (1e-4, 1.0), (1e-3, 0.3), (2.2, 3.3), (2.35, 2.36),
     (1.9, 30), (0.02, 0.5), (2.3541, 2.3542), (1, 1e8)],
)  # fmt: skip
def test_any_log_range_gets_three_plain_ticks_apart(low: float, high: float) -> None:
    from matplotlib.figure import Figure

    for size in (plots.common.WIDE, (4.0, 3.4)):  # a figure, and a search's small panel
        fig = Figure(figsize=size, dpi=plots.common.DPI)
        ax = fig.add_subplot()
        ax.plot([low, high], [low, high])
        ax.set_xlim(low, high)
        ax.set_ylim(low, high)
        plots.log_axis(ax, "x")
        plots.log_axis(ax, "y")
        fig.tight_layout()
        for which in "xy":
            labels = _assert_readable_log_axis(ax, which)
            if high / low > 100:  # over decades: 1, 2 or 5 times a power of ten
                mantissas = {round(v / 10 ** math.floor(math.log10(v)), 6)
                             for v in map(_plain_number, labels)}  # fmt: skip
                assert mantissas <= {1.0, 2.0, 5.0}, labels
        renderer = _drawn(fig)
        for axis in (ax.xaxis, ax.yaxis):
            _assert_apart(
                [t.get_window_extent(renderer) for t in axis.get_ticklabels() if t.get_text()]
            )


def test_every_figure_with_a_log_axis_reads_as_plain_numbers(trained: Trained) -> None:
    exp = open_store(trained.url)
    fig = exp.plot_curves(trained.run, trained.one_point, log_x=True)
    _assert_readable_log_axis(fig.axes[0], "x")
    _assert_readable_log_axis(fig.axes[0], "y")  # the loss
    fig = exp.plot_lr_find(trained.lr_find)
    _assert_readable_log_axis(fig.axes[0], "x")
    fig = exp.plot_sweep(trained.sweep)  # two rates on the grid: 0.05 and 0.2
    labels = _assert_readable_log_axis(fig.axes[0], "x")
    assert {"0.05", "0.2"} <= set(labels)
    fig = exp.plot_search(trained.search)
    lr_panel = fig.axes[1]
    assert lr_panel.get_xlabel() == "lr"
    if lr_panel.get_xscale() == "log":  # the trials' rates spread over a decade
        _assert_readable_log_axis(lr_panel, "x")


def test_count_model_labels_never_overlap(trained: Trained) -> None:
    import dataclasses

    exp = open_store(trained.url)
    fig = exp.plot_curves(trained.run, trained.bigram, trained.kneser_ney)
    assert len(fig.axes[0].texts) == 4  # two count models, dev and train each
    renderer = _drawn(fig)
    texts = [t.get_window_extent(renderer) for t in fig.axes[0].texts]
    _assert_apart([*texts, fig.axes[0].get_legend().get_window_extent(renderer)])
    # The worst case: train and dev equal, two count models at the same losses.
    with Store(trained.url) as store:
        net = (store.run(trained.run), store.metrics(trained.run))
        bigram = store.run(trained.bigram)
        last = store.metrics(trained.bigram)[-1]
    same = [dataclasses.replace(last, train_loss=2.5, dev_loss=2.5)]
    twin = dataclasses.replace(bigram, id=bigram.id + 100)
    fig = plots.curves_figure([net, (bigram, same), (twin, same)])
    renderer = _drawn(fig)
    boxes = [t.get_window_extent(renderer) for t in fig.axes[0].texts]
    assert len(boxes) == 4
    _assert_apart(boxes)
    frame = fig.axes[0].get_window_extent(renderer)
    assert all(frame.y0 <= b.y0 and b.y1 <= frame.y1 for b in boxes)  # inside the axes


def _count_lines(ax) -> list:  # type: ignore[no-untyped-def]
    return [line for line in ax.get_lines() if line.get_linestyle() == "-."]


def test_search_and_sweep_plots_draw_the_data_sets_best_count_model(trained: Trained) -> None:
    exp = open_store(trained.url)
    with Store(trained.url) as store:
        counted = [store.run(trained.bigram), store.run(trained.kneser_ney)]
    best = min(counted, key=lambda r: r.dev_loss or 0.0)
    fig = exp.plot_search(trained.search)
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        (line,) = _count_lines(ax)  # on every panel: did a trial beat it?
        assert list(line.get_ydata()) == [best.dev_loss, best.dev_loss]  # type: ignore[attr-defined]
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert f"run {best.id} " in legend[-1] and f"dev {best.dev_loss:.4f}" in legend[-1]
    fig = exp.plot_sweep(trained.sweep)
    (line,) = _count_lines(fig.axes[0])
    assert line.get_label().startswith(f"run {best.id} ")
    assert line.get_label() in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    # A data set with no count model: no line, and nothing in the legend names one.
    fig = exp.plot_search(trained.lone_search)
    assert not any(_count_lines(ax) for ax in fig.axes)
    assert fig.axes[0].get_legend() is None


def test_the_best_count_model_is_a_finished_n_gram_with_a_real_loss(trained: Trained) -> None:
    import dataclasses

    from ngramlm.stages.report import best_count_model

    with Store(trained.url) as store:
        bigram, kn, net = (store.run(i) for i in (trained.bigram, trained.kneser_ney, trained.run))
    low, high = sorted([bigram, kn], key=lambda r: r.dev_loss or 0.0)
    assert best_count_model([net, low, high]) == low
    better_net = dataclasses.replace(net, dev_loss=0.01)  # networks are not the baseline
    assert best_count_model([better_net, high]) == high
    nan = dataclasses.replace(low, dev_loss=float("nan"))
    assert best_count_model([nan, high]) == high
    assert best_count_model([dataclasses.replace(low, stored_status="running")]) is None
    assert best_count_model([net]) is None
