// ngramlm dashboard: sweeps and searches.
"use strict";

Views.sweeps = async (main) => {
  const data = await getJSON("/api/sweeps");
  const rows = data.sweeps.map((s) => el("tr", { "data-sweep": s.sweep },
    el("td", {}, el("a", { href: `#/sweep/${s.sweep}` }, String(s.sweep))),
    el("td", {}, s.kind), el("td", {}, s.name || ""), el("td", {}, s.dataset),
    el("td", { class: "num" }, `${s.runs} / ${s.points}`),
    el("td", {}, Object.entries(s.statuses).map(([k, n]) => [badge(k), ` ${n} `])),
    el("td", { class: "num" }, fmt.loss(s.best_dev)), el("td", {}, fmt.when(s.created_at))));
  main.replaceChildren(el("h1", {}, "Sweeps and searches"), exports("/api/sweeps", "ngramlm-sweeps"),
    data.sweeps.length ? table(["sweep", "kind", "name", "dataset", "#runs / points", "statuses", "#best dev", "created"], rows, { id: "sweeps-table", class: "grid" })
      : el("p", { class: "muted" }, "No sweep yet: `ngramlm sweep --lr-grid ...` or `ngramlm sweep --search tpe ...`."));
};

Views.sweep = async (main, { arg, onStop }) => {
  let data = await getJSON(`/api/sweeps/${encodeURIComponent(arg)}`);
  const draw = () => (data.kind === "search" ? drawSearch(main, data) : drawGrid(main, data));
  draw();
  let stamp = (await getJSON("/api/stamp")).stamp;
  onStop(every(4000, async () => {
    const s = await getJSON("/api/stamp");
    if (s.stamp === stamp) return;
    stamp = s.stamp;
    data = await getJSON(`/api/sweeps/${data.sweep}`);
    draw();
  }));
};

function sweepTitle(data) {
  return [el("h1", {}, `${data.kind} ${data.sweep}`, data.name ? ` (${data.name})` : ""),
    el("p", { class: "sub" }, "on ", el("a", { href: `#/runs?dataset=${encodeURIComponent(data.dataset)}` }, data.dataset),
      " · ", el("a", { href: `#/runs?sweep.min=${data.sweep}&sweep.max=${data.sweep}` }, "its runs in the table")),
    exports(`/api/sweeps/${data.sweep}`, `ngramlm-sweep-${data.sweep}`)];
}

function drawSearch(main, data) {
  const trials = data.trials;
  const finished = trials.filter((t) => t.status === "finished" && t.dev_loss != null);
  const devs = trials.filter((t) => t.dev_loss != null).map((t) => t.dev_loss);
  const lo = Math.min(...devs), hi = Math.max(...devs);
  const shade = (d) => Charts.ramp(hi > lo ? (d - lo) / (hi - lo) : 0);
  // best dev against wall time: a step line of the best so far, each trial a point
  const timeline = trials.slice().sort((a, b) => a.minutes - b.minutes);
  const best = [];
  for (const t of timeline) if (t.best_so_far != null) {
    if (best.length) best.push([t.minutes, best[best.length - 1][1]]);
    best.push([t.minutes, t.best_so_far]);
  }
  const groups = [
    { label: "finished", key: "finished", color: "#1f4e79", points: finished.map((t) => [t.minutes, t.dev_loss]), r: 3.5 },
    { label: "pruned (dev where it stopped)", key: "pruned", color: "#e67e22", points: trials.filter((t) => t.status === "pruned" && t.dev_loss != null).map((t) => [t.minutes, t.dev_loss]), r: 3 },
  ];
  const progress = Charts.progress({ best, groups, xlabel: "minutes since the search began", ylabel: "dev loss" });
  progress.querySelectorAll('g[data-key="finished"] path, g[data-key="pruned"] path').forEach((p) => p.remove());
  // parallel coordinates over the parameters that vary, and the dev loss
  const dims = data.varying.map((k) => Object.assign({ key: k, label: k }, data.dims[k] || {}));
  dims.push({ key: "dev_loss", label: "dev loss" });
  const rows = trials.filter((t) => t.dev_loss != null).sort((a, b) => b.dev_loss - a.dev_loss).map((t) => ({
    values: t, color: t.status === "pruned" ? "#bbb" : shade(t.dev_loss), dash: t.status === "pruned" ? "4 3" : null,
    title: `run ${t.run} (${t.status}): dev ${fmt.loss(t.dev_loss)}`,
  }));
  // each trial's dev curve against the share of its steps, the rungs dashed
  const curveSeries = trials.filter((t) => data.curves[t.run] && t.steps).reverse().map((t) => ({
    label: `run ${t.run} (${t.status})`, key: `trial-${t.run}`,
    color: t.status === "pruned" ? "#e67e22" : t.dev_loss != null ? shade(t.dev_loss) : "#999",
    dash: t.status === "pruned" ? "4 3" : null, marks: false,
    end: t.status === "pruned" ? `run ${t.run} pruned at step ${fmt.int(t.at_step)}` : null,
    points: data.curves[t.run].filter(([s]) => s > 0).map(([s, d]) => [s / t.steps, d]),
  }));
  const rungLines = data.rungs.map((f, i) => ({ x: f, label: `rung ${i + 1}` }));
  const curves = curveSeries.length ? Charts.line({ series: curveSeries, vlines: rungLines,
    xlabel: "share of the trial's steps", ylabel: "dev loss", width: 860, height: 320 }) : null;
  const imp = Object.entries(data.importance).sort((a, b) => b[1] - a[1]).map(([label, value]) => ({ label, value }));
  const cols = ["#rank", "run", "status", "#dev", ...data.varying.map((k) => `#${k}`), "#at step", "#minutes"];
  let rank = 0;
  const body = trials.map((t) => el("tr", { class: `t-${t.status}`, "data-run": t.run },
    el("td", { class: "num" }, t.status === "finished" ? String(++rank) : ""),
    el("td", {}, el("a", { href: `#/run/${t.run}` }, String(t.run))), el("td", {}, badge(t.status)),
    el("td", { class: "num" }, fmt.loss(t.dev_loss)),
    data.varying.map((k) => el("td", { class: "num" }, fmt.num(t[k]))),
    el("td", { class: "num" }, `${fmt.int(t.at_step)} / ${fmt.int(t.steps)}`),
    el("td", { class: "num" }, t.minutes.toFixed(1))));
  const s = data.search;
  main.replaceChildren(...sweepTitle(data),
    el("p", { class: "muted" }, `sampler ${s.sampler}, pruning ${s.prune || "none"}, ${s.trials ? s.trials + " trials" : "no trial limit"}`,
      s.budget_s ? `, budget ${fmt.secs(s.budget_s)}` : "", ` · ${finished.length} finished, ${trials.filter((t) => t.status === "pruned").length} pruned, ${trials.length} in all`),
    el("div", { class: "two" },
      el("section", {}, el("h2", {}, "best dev against wall time"),
        el("ul", { class: "legend" }, el("li", {}, Charts.swatch("#2ca02c"), "best finished so far"),
          el("li", {}, Charts.swatch("#1f4e79"), "a finished trial"), el("li", {}, Charts.swatch("#e67e22"), "a pruned trial, where it stopped")),
        el("div", { class: "chart-box", id: "progress" }, progress)),
      el("section", {}, el("h2", {}, "importance for the dev loss"), imp.length
        ? el("div", { class: "chart-box", id: "importance" }, Charts.bars({ items: imp }))
        : el("p", { class: "muted" }, "needs two finished trials"))),
    el("section", {}, el("h2", {}, data.rungs.length ? "dev curves of the trials (pruned dashed, stopped at a rung)" : "dev curves of the trials"),
      curves ? el("div", { class: "chart-box", id: "trial-curves" }, curves) : el("p", { class: "muted" }, "no evaluation yet")),
    el("section", {}, el("h2", {}, "parameters that vary (a line a trial; the darker, the better; pruned dashed)"),
      dims.length > 1 && rows.length ? el("div", { class: "chart-box", id: "parallel" }, Charts.parallel({ dims, rows }))
        : el("p", { class: "muted" }, "no trial with a dev loss yet")),
    el("section", {}, el("h2", {}, "trials, best first"), el("div", { class: "scroll" }, table(cols, body, { id: "trials", class: "grid" }))));
}

function drawGrid(main, data) {
  const g = data.cells;
  const cell = (r, c) => g.cells.find((x) => String(x.row) === String(r) && String(x.col) === String(c));
  const devs = g.cells.map((x) => x.dev).filter((d) => d != null);
  const lo = Math.min(...devs), hi = Math.max(...devs);
  const grid = table([el("th", {}, `${g.row_key} \\ ${g.col_key || ""}`), ...g.cols.map((c) => el("th", {}, fmt.num(c)))],
    g.rows.map((r) => el("tr", {}, el("th", {}, fmt.num(r)), g.cols.map((c) => {
      const x = cell(r, c);
      const t = x && x.dev != null && hi > lo ? (x.dev - lo) / (hi - lo) : 0;
      return el("td", { class: `num heat h${Math.round(t * 4)}`, title: x ? `${x.runs} finished run(s)` : "" }, x ? fmt.loss(x.dev) : "—");
    }))), { id: "grid", class: "grid" });
  const ranked = data.runs.slice().sort((a, b) => (a.dev_loss == null) - (b.dev_loss == null) || a.dev_loss - b.dev_loss);
  const rows = ranked.map((r) => el("tr", { "data-run": r.run }, el("td", {}, el("a", { href: `#/run/${r.run}` }, String(r.run))),
    el("td", {}, badge(r.status)), el("td", { class: "num" }, fmt.num(r.lr)), el("td", { class: "num" }, fmt.int(r.steps_done)),
    el("td", { class: "num" }, fmt.loss(r.train_loss)), el("td", { class: "num" }, fmt.loss(r.dev_loss)),
    el("td", {}, r.best_in_sweep ? "★" : "")));
  main.replaceChildren(...sweepTitle(data),
    el("section", {}, el("h2", {}, "mean dev loss over the grid (seeds averaged)"), grid),
    el("section", {}, el("h2", {}, "runs, best first"), table(["run", "status", "#lr", "#steps", "#train", "#dev", "best"], rows, { id: "trials", class: "grid" })));
}
