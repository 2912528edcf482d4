// ngramlm dashboard: one run (its curves, live while it runs) and runs side by side.
"use strict";

function curveSeries(curve, key, label, color, dash) {
  return { label, key, color, dash, points: curve.filter((p) => p[key] != null).map((p) => [p.step, p[key]]) };
}

function logToggle(redraw, id) {
  const box = el("input", { type: "checkbox", id: id || "log-steps", onchange: () => redraw() });
  return [el("label", { class: "toggle" }, box, " log steps"), box];
}

Views.run = async (main, { arg, onStop }) => {
  const data = await getJSON(`/api/runs/${encodeURIComponent(arg)}`);
  const r = data.row;
  const curve = data.curve.slice();
  const chartBox = el("div", { class: "chart-box", id: "curve" });
  const [toggle, logBox] = logToggle(() => drawCurve());
  const status = el("span", { id: "status" }, badge(r.status));
  const losses = el("div", { class: "cards", id: "losses" });
  const beat = el("dd", { id: "heartbeat" }, fmt.age(data.runtime.heartbeat_age_s));

  function drawCurve() {
    if (r.kind === "lr_find") {
      chartBox.replaceChildren(Charts.line({ series: [{ label: "batch loss", key: "batch_loss", color: Charts.PALETTE[0],
        points: curve.filter((p) => p.batch_loss != null).map((p) => [p.lr, p.batch_loss]), r: 1.5 }],
        xlabel: "learning rate", ylabel: "loss", logx: true }));
      return;
    }
    const series = [curveSeries(curve, "train_loss", "train", Charts.PALETTE[0], "5 4"),
      curveSeries(curve, "dev_loss", "dev", Charts.PALETTE[1])];
    if (data.counted && r.dev_loss != null && series.every((s) => s.points.length < 2)) {
      series.splice(0, 2, { label: `train ${fmt.loss(r.train_loss)}`, color: Charts.PALETTE[0], level: r.train_loss },
        { label: `dev ${fmt.loss(r.dev_loss)}`, color: Charts.PALETTE[1], level: r.dev_loss });
    }
    chartBox.replaceChildren(Charts.line({ series, xlabel: logBox.checked ? "step (log)" : "step",
      ylabel: "loss (nats per token)", logx: logBox.checked }));
  }
  // nats, and a word dataset's perplexity beside them (as train's and report's lines)
  const shown = (x) => (x == null ? "—" : data.perplexity ? `${fmt.loss(x)} (ppl ${Math.exp(Math.min(x, 700)).toLocaleString("en-US", { maximumFractionDigits: 1, minimumFractionDigits: 1 })})` : fmt.loss(x));
  function drawLosses(now) {
    const test = data.evaluation ? shown(data.evaluation.test_loss) : "not finalized";
    losses.replaceChildren(
      card("train", shown(now.train_loss)), card("dev", shown(now.dev_loss)),
      card("test", test, "test"), card("steps", `${fmt.int(now.steps_done)}${now.steps ? " / " + fmt.int(now.steps) : ""}`));
  }
  const rt = data.runtime;
  main.replaceChildren(
    el("h1", {}, `run ${r.run}`, r.name ? ` (${r.name})` : "", " ", status),
    el("p", { class: "sub" }, `${data.label} on `, el("a", { href: `#/runs?dataset=${encodeURIComponent(r.dataset)}` }, r.dataset),
      r.sweep != null ? [" · ", el("a", { href: `#/sweep/${r.sweep}` }, `sweep ${r.sweep}`)] : "",
      " · ", el("a", { href: `#/compare?runs=${r.run}` }, "compare with…")),
    data.error ? el("p", { class: "error" }, data.error) : "",
    data.note ? el("p", { class: "note" }, data.note) : "",
    losses,
    el("section", {}, el("h2", {}, r.kind === "lr_find" ? "loss against learning rate" : "train and dev loss", toggle),
      r.kind === "lr_find" ? "" : el("ul", { class: "legend" },
        el("li", {}, Charts.swatch(Charts.PALETTE[0], "5 4"), "train (the whole train split at each evaluation)"),
        el("li", {}, Charts.swatch(Charts.PALETTE[1]), "dev")), chartBox),
    el("div", { class: "two" },
      el("section", {}, el("h2", {}, "diagnosis"), data.diagnosis.length
        ? el("ul", { id: "diagnosis" }, data.diagnosis.map((f) => el("li", {}, el("b", {}, f.rule), ": ", f.message)))
        : el("p", { class: "muted" }, "none yet"),
      el("h2", {}, "samples"), samplesOf(data)),
      el("section", {}, el("h2", {}, "where it ran"), el("dl", { class: "kv", id: "runtime" },
        [["device", rt.device], ["precision", rt.precision], ["threads", rt.threads], ["host", rt.host], ["pid", rt.pid],
          ["ngramlm", rt.version], ["preset", rt.preset], ["created", fmt.when(rt.created_at)],
          ["started", fmt.when(rt.started_at)], ["ended", fmt.when(rt.ended_at)],
          ["time", fmt.secs(r.seconds)], ["batched with", rt.group_members ? `${rt.group_members} runs` : null],
          ["checkpoint", data.checkpoint ? `step ${fmt.int(data.checkpoint.step)}, ${(data.checkpoint.bytes / 1024).toFixed(0)} KiB, sha256 ${data.checkpoint.sha256.slice(0, 12)}…` : null]]
          .filter(([, v]) => v != null).map(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v))]),
        el("dt", {}, "heartbeat"), beat))),
    el("section", { id: "embeddings-box", hidden: true }),
    el("section", {}, el("h2", {}, "settings"), keyValues(Object.fromEntries(Object.entries(data.settings).map(([k, v]) => [k, fmt.num(v)])), { id: "settings", class: "kv cols" })),
    data.neighbours.length ? el("section", {}, el("h2", {}, "nearest words by embedding (cosine)"),
      table(["word", "nearest"], data.neighbours.map((n) => el("tr", {}, el("td", {}, n.word),
        el("td", {}, n.nearest.map((x) => `${x.word} ${x.cosine.toFixed(2)}`).join(", ")))), { class: "grid" })) : "");
  drawLosses(r);
  drawCurve();
  if (r.kind === "train" && !data.counted && data.checkpoint) drawEmbeddings(r.run);
  if (r.status !== "running") return;
  // Live: the points past the last one drawn, every 2 s (a 304 while nothing changed).
  let last = curve.length ? curve[curve.length - 1].step : -1;
  onStop(every(2000, async () => {
    const d = await getJSON(`/api/runs/${r.run}/live?after=${last}`);
    if (d.points.length) {
      curve.push(...d.points);
      last = curve[curve.length - 1].step;
      drawCurve();
    }
    drawLosses(d);
    beat.textContent = d.heartbeat_at ? fmt.age((Date.now() - Date.parse(d.heartbeat_at)) / 1000) : "—";
    if (d.status !== "running") {
      status.replaceChildren(badge(d.status));
      if (d.status === "finished") route(); // its diagnosis and samples, read again
      else current.stop();
    }
  }));
};

// The embedding table C as the lecture draws it: each token a point (its row's two
// principal components), the first 40 named (a word model's: its commonest).
async function drawEmbeddings(run) {
  const e = await getJSON(`/api/runs/${run}/embeddings`);
  const box = document.getElementById("embeddings-box");
  if (!box || !e.rows.length) return;
  const d = e.rows[0].length;
  const how = d > 2 ? `their two principal components (of ${d} dimensions)` : `their ${d} dimension${d > 1 ? "s" : ""}`;
  const named = Math.min(40, e.tokens.length);
  box.replaceChildren(el("h2", {}, "embeddings"),
    el("p", { class: "muted" }, `${e.tokens.length} tokens at ${how}`,
      named < e.tokens.length ? `; the ${named} commonest named` : ""),
    el("div", { class: "chart-box narrow", id: "embeddings" },
      Charts.scatter({ points: Charts.pca2(e.rows), labels: e.tokens, named })));
  box.hidden = false;
}

function card(label, value, id) {
  return el("div", { class: "card", id: `loss-${id || label}` }, el("div", { class: "card-label" }, label), el("div", { class: "card-value" }, value));
}

function samplesOf(data) {
  if (!data.samples.length) return el("p", { class: "muted" }, "no checkpoint to sample from yet");
  return el("ul", { class: "samples", id: "samples" }, data.samples.map((s) =>
    el("li", {}, el("span", { class: "sample" }, s.text), " ", el("span", { class: `where w-${s.in}` }, s.in))));
}

Views.compare = async (main, { params }) => {
  const input = el("input", { id: "compare-runs", value: params.get("runs") || "", placeholder: "run ids: 3,5,8", size: 24 });
  const go = () => { location.hash = `#/compare?runs=${input.value.replace(/\s+/g, "")}`; };
  input.addEventListener("keydown", (e) => { if (e.key === "Enter") go(); });
  const head = [el("h1", {}, "Compare"), el("div", { class: "toolbar" }, input, el("button", { type: "button", onclick: go }, "compare"))];
  if (!params.get("runs")) {
    main.replaceChildren(...head, el("p", { class: "muted" }, "Pick runs on the runs page (the boxes on the left), or give their ids here."));
    return;
  }
  const data = await getJSON(`/api/compare?runs=${encodeURIComponent(params.get("runs"))}`);
  const chartBox = el("div", { class: "chart-box", id: "overlay" });
  const [toggle, logBox] = logToggle(() => draw(), "log-steps");
  const which = el("select", { id: "which", onchange: () => draw() }, ["dev", "train", "both"].map((w) => el("option", { value: w }, w)));
  function draw() {
    const series = [];
    data.runs.forEach((r, i) => {
      const color = Charts.PALETTE[i % Charts.PALETTE.length];
      const drawn = r.curve.filter((p) => p.dev_loss != null).length > 1;
      for (const [key, name, dash] of [["dev_loss", "dev", null], ["train_loss", "train", "5 4"]]) {
        if (which.value !== "both" && which.value !== name) continue;
        if (r.counted || !drawn) {
          if (r[key] != null) series.push({ label: `${r.label} (${name} ${fmt.loss(r[key])})`, key: `${r.run}-${name}`, color, level: r[key] });
        } else {
          series.push(Object.assign(curveSeries(r.curve, key, `${r.label} ${name}`, color, dash), { key: `${r.run}-${name}`, r: 2 }));
        }
      }
    });
    chartBox.replaceChildren(Charts.line({ series, logx: logBox.checked, xlabel: logBox.checked ? "step (log)" : "step",
      ylabel: "loss (nats per token)", right: 24 }));
  }
  const legend = el("ul", { class: "legend" }, data.runs.map((r, i) => el("li", {},
    Charts.swatch(Charts.PALETTE[i % Charts.PALETTE.length]),
    el("a", { href: `#/run/${r.run}` }, r.label), " ", badge(r.status), ` on ${r.dataset}`)));
  const ids = data.runs.map((r) => r.run);
  const differ = data.differ.map((k) => el("tr", {}, el("th", { class: "key" }, k), ids.map((i) => el("td", {}, fmt.num(data.settings[i][k])))));
  main.replaceChildren(...head,
    el("section", {}, el("h2", {}, "loss curves ", which, toggle), legend, chartBox),
    el("section", {}, el("h2", {}, "settings that differ"),
      data.differ.length ? table(["setting", ...ids.map((i) => el("th", {}, el("a", { href: `#/run/${i}` }, `run ${i}`)))], differ, { id: "differ", class: "grid narrow" })
        : el("p", { class: "muted" }, "none"),
      el("p", { class: "muted" }, `${data.same} settings are the same in every run.`)));
  draw();
};
