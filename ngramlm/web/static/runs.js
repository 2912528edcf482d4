// ngramlm dashboard: the runs table (report's rows: filtered, sorted and paged by the
// server) and the datasets.
"use strict";

const LABELS = {
  run: "run", dataset: "dataset", sweep: "sweep", kind: "kind", name: "name", status: "status",
  block_size: "block", n_embd: "embd", n_hidden: "hidden", n_layers: "layers", batch_size: "batch",
  optimizer: "optimizer", lr: "lr", steps: "steps", steps_done: "steps done", seed: "seed",
  train_loss: "train", dev_loss: "dev", gap: "gap", test_loss: "test", seconds: "time",
  created_at: "created", best_in_sweep: "best in sweep", model: "model", precision: "precision",
};
const SHOWN = ["run", "dataset", "sweep", "status", "model", "name", "block_size", "n_embd",
  "n_hidden", "batch_size", "lr", "steps_done", "train_loss", "dev_loss", "gap", "test_loss",
  "seconds", "created_at"];
const CELL = {
  created_at: (v) => (v ? v.slice(0, 16).replace("T", " ") : "—"),
  train_loss: fmt.loss, dev_loss: fmt.loss, test_loss: fmt.loss, gap: fmt.gap, seconds: fmt.secs,
  lr: fmt.num, steps: fmt.int, steps_done: fmt.int,
  best_in_sweep: (v) => (v ? "★" : ""),
};
const PICKED = "ngramlm-compare";

function picked() {
  try { return JSON.parse(sessionStorage.getItem(PICKED) || "[]"); } catch (e) { return []; }
}

// A loss as the field shows it: perplexity for a word dataset, nats for characters
// (ngramlm.measure's rule); a run without final losses shows its last evaluation's, "*".
const LOSSES = { train_loss: "last_train_loss", dev_loss: "last_dev_loss", test_loss: null, best_dev: null };

function lossCell(key, row, ppl) {
  let v = row[key], last = false;
  if (v == null && LOSSES[key] && row[LOSSES[key]] != null) { v = row[LOSSES[key]]; last = true; }
  if (v == null) return "—";
  const shown = ppl ? Math.exp(Math.min(v, 700)).toLocaleString("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 }) : v.toFixed(4);
  const title = `${v.toFixed(4)} nats${ppl ? " (perplexity shown)" : ""}${last ? `, its last evaluation, at step ${fmt.int(row.last_eval_step)}` : ""}`;
  return el("span", { title, class: last ? "last" : null }, last ? shown + "*" : shown);
}

function gapCell(row, ppl) {
  if (row.gap == null) return "—";
  return ppl ? `x${Math.exp(Math.min(row.gap, 700)).toFixed(2)}` : fmt.gap(row.gap);
}

function cell(key, row, ppl) {
  const v = row[key];
  if (key in LOSSES) return lossCell(key, row, ppl);
  if (key === "gap") return gapCell(row, ppl);
  if (key === "run") return el("a", { href: `#/run/${v}` }, String(v));
  if (key === "sweep" && v != null) return el("a", { href: `#/sweep/${v}` }, String(v));
  if (key === "status") return badge(v);
  return (CELL[key] || ((x) => (x == null ? "—" : String(x))))(v);
}

Views.runs = async (main, { params, onStop }) => {
  const state = { params, all: params.get("columns") === "all" };
  const bar = el("form", { class: "filters", id: "filters", onsubmit: (e) => e.preventDefault() });
  const body = el("div", { id: "runs" });
  main.replaceChildren(el("h1", {}, "Runs"), bar, body);
  let data = await load(state);
  let menus = JSON.stringify(data.choices);
  drawFilters(bar, state, data, () => refresh());
  draw(body, state, data, () => refresh());
  // The settings that are not columns (dropout, weight decay, ...): read once, after the
  // table is drawn (a large store takes a moment), then offered by the filters.
  getJSON("/api/settings").then((settings) => {
    state.settings = settings;
    drawFilters(bar, state, data, () => refresh());
  }).catch(() => {});

  // The filters are drawn again only when the store's values change (a new dataset, a
  // new status), so a box being typed in keeps its focus.
  async function refresh() {
    setQuery("runs", state.params);
    data = await load(state);
    if (JSON.stringify(data.choices) !== menus) {
      menus = JSON.stringify(data.choices);
      drawFilters(bar, state, data, () => refresh());
    }
    draw(body, state, data, () => refresh());
  }
  // Live: the store's stamp is polled (a 304 while nothing changed); a change redraws.
  onStop(every(2500, async () => {
    const s = await getJSON("/api/stamp");
    if (s.stamp !== data.stamp) await refresh();
  }));
};

async function load(state) {
  const q = new URLSearchParams(state.params);
  q.delete("columns");
  return getJSON(`/api/runs?${q}`);
}

function drawFilters(bar, state, data, changed) {
  const p = state.params;
  const set = (key, value) => { if (value === "" || value == null) p.delete(key); else p.set(key, value); p.delete("offset"); changed(); };
  const choice = (key) => el("label", {}, `${key} `,
    el("select", { name: key, onchange: (e) => set(key, e.target.value) },
      el("option", { value: "" }, "any"),
      data.choices[key].map((v) => el("option", { value: v, selected: p.get(key) === v }, v))));
  const settings = state.settings || { numeric: [], choices: {} };
  const numeric = [...data.numeric, ...settings.numeric.map((k) => `hp.${k}`)];
  const ranges = [];
  for (const key of [...new Set([...p.keys()].filter((k) => /\.(min|max)$/.test(k)).map((k) => k.replace(/\.(min|max)$/, "")))]) {
    ranges.push(rangeRow(key, p, numeric.includes(key) ? numeric : [...numeric, key], changed));
  }
  const add = el("button", { type: "button", class: "ghost", id: "add-range", onclick: () => {
    bar.querySelector(".ranges").appendChild(rangeRow("dev_loss", p, numeric, changed)); } }, "+ range");
  // a setting with values that are not numbers (lr_schedule, init, norm...): one of them
  const named = Object.keys(settings.choices);
  const held = [...p.keys()].find((k) => k.startsWith("hp.") && !/\.(min|max)$/.test(k));
  const settingKey = el("select", { id: "setting-key", onchange: () => {
    if (held) p.delete(held);
    settingValue.replaceChildren(...valuesOf(settingKey.value));
  } }, el("option", { value: "" }, "setting"), named.map((k) => el("option", { value: k, selected: held === `hp.${k}` }, k)));
  const valuesOf = (k) => [el("option", { value: "" }, "any"),
    ...(settings.choices[k] || []).map((v) => el("option", { value: v, selected: p.get(`hp.${k}`) === v }, v))];
  const settingValue = el("select", { id: "setting-value", onchange: (e) => {
    if (settingKey.value) set(`hp.${settingKey.value}`, e.target.value);
  } }, ...valuesOf(held ? held.slice(3) : ""));
  bar.replaceChildren(
    el("div", { class: "row" }, choice("dataset"), choice("model"), choice("status"),
      el("label", {}, el("input", { type: "checkbox", name: "best", checked: p.get("best") === "1",
        onchange: (e) => set("best", e.target.checked ? "1" : "") }), " best per dataset only"),
      el("label", {}, el("input", { type: "checkbox", name: "columns", checked: state.all,
        onchange: (e) => { state.all = e.target.checked; set("columns", state.all ? "all" : ""); } }), " every column")),
    el("div", { class: "ranges" }, ranges, add,
      named.length ? el("span", { class: "setting" }, settingKey, " = ", settingValue) : ""));
}

function rangeRow(key, p, numeric, changed) {
  let timer = null;
  const select = el("select", { class: "range-key" }, numeric.map((k) => el("option", { value: k, selected: k === key }, LABELS[k] || k.replace(/^hp\./, ""))));
  const lo = el("input", { class: "range-min", placeholder: "min", size: 7, value: p.get(`${key}.min`) || "" });
  const hi = el("input", { class: "range-max", placeholder: "max", size: 7, value: p.get(`${key}.max`) || "" });
  const apply = () => {
    const had = p.has(`${key}.min`) || p.has(`${key}.max`);
    p.delete(`${key}.min`); p.delete(`${key}.max`);
    key = select.value;
    if (lo.value.trim()) p.set(`${key}.min`, lo.value.trim());
    if (hi.value.trim()) p.set(`${key}.max`, hi.value.trim());
    if (!had && !lo.value.trim() && !hi.value.trim()) return; // an empty range filters nothing
    p.delete("offset");
    changed();
  };
  const later = () => { clearTimeout(timer); timer = setTimeout(apply, 500); };
  lo.addEventListener("input", later);
  hi.addEventListener("input", later);
  lo.addEventListener("change", apply);
  hi.addEventListener("change", apply);
  select.addEventListener("change", apply);
  const drop = el("button", { type: "button", class: "ghost", title: "remove this range", onclick: () => {
    row.remove(); p.delete(`${key}.min`); p.delete(`${key}.max`); changed(); } }, "×");
  const row = el("span", { class: "range" }, select, " from ", lo, " to ", hi, drop);
  return row;
}

function draw(body, state, data, changed) {
  const p = state.params;
  const cols = state.all ? data.fields : SHOWN;
  const sort = p.get("sort"), desc = p.get("order") === "desc";
  const chosen = new Set(picked());
  const best = new Set(data.best);
  const numeric = new Set(data.numeric.filter((k) => k !== "sweep"));
  const words = new Set(data.perplexity || []);
  const head = [el("th", { class: "pick", title: "pick runs to compare" }, ""), el("th", { title: "best dev loss of its dataset" }, "★"),
    ...cols.map((key) => el("th", { "data-key": key, class: `sortable${numeric.has(key) ? " num" : ""}${sort === key ? (desc ? " desc" : " asc") : ""}`,
      title: `sort by ${key}`, onclick: () => {
        if (sort === key) p.set("order", desc ? "asc" : "desc"); else { p.set("sort", key); p.set("order", "asc"); }
        changed();
      } }, LABELS[key] || key))];
  const rows = data.rows.map((row) => el("tr", { "data-run": row.run, class: best.has(row.run) ? "best" : null },
    el("td", { class: "pick" }, el("input", { type: "checkbox", checked: chosen.has(row.run), onchange: (e) => {
      const now = new Set(picked());
      if (e.target.checked) now.add(row.run); else now.delete(row.run);
      sessionStorage.setItem(PICKED, JSON.stringify([...now]));
      compareButton.replaceWith(compareButton = compareLink());
    } })),
    el("td", { class: "star" }, best.has(row.run) ? "★" : ""),
    cols.map((key) => el("td", { class: `c-${key}${numeric.has(key) ? " num" : ""}` }, cell(key, row, words.has(row.dataset))))));
  const from = data.total ? data.offset + 1 : 0, to = data.offset + data.rows.length;
  const go = (offset) => { p.set("offset", String(Math.max(0, offset))); changed(); };
  const q = new URLSearchParams(p);
  ["limit", "offset", "columns"].forEach((k) => q.delete(k));
  let compareButton = compareLink();
  body.replaceChildren(
    el("div", { class: "toolbar" },
      el("span", { id: "count" }, `runs ${fmt.int(from)}–${fmt.int(to)} of ${fmt.int(data.total)}`,
        data.total !== data.runs_in_store ? ` (${fmt.int(data.runs_in_store)} in the store)` : ""),
      el("button", { type: "button", id: "prev", disabled: data.offset === 0, onclick: () => go(data.offset - data.limit) }, "‹ prev"),
      el("button", { type: "button", id: "next", disabled: to >= data.total, onclick: () => go(data.offset + data.limit) }, "next ›"),
      el("select", { id: "limit", onchange: (e) => { p.set("limit", e.target.value); p.delete("offset"); changed(); } },
        [50, 100, 200, 500].map((n) => el("option", { value: n, selected: data.limit === n }, `${n} a page`))),
      compareButton,
      el("span", { class: "spacer" }),
      el("a", { href: `/api/runs.csv?${q}`, id: "export-csv", download: "ngramlm-runs.csv" }, "CSV"),
      el("a", { href: `/api/runs.json?${q}`, id: "export-json", target: "_blank" }, "JSON")),
    el("div", { class: "scroll" }, table(head, rows, { id: "runs-table", class: "grid" })),
    el("p", { class: "muted", id: "units" }, "Losses in nats per token; a word dataset's as perplexity (its gap: dev ÷ train). ",
      "* a run that did not finish (running, pruned, killed, crashed): the losses of its last evaluation."));
}

function compareLink() {
  const ids = picked();
  return el("a", { class: `button${ids.length < 1 ? " disabled" : ""}`, id: "compare-picked",
    href: ids.length ? `#/compare?runs=${ids.join(",")}` : "#/compare" }, `compare ${ids.length} picked`);
}

Views.datasets = async (main) => {
  const data = await getJSON("/api/datasets");
  const rows = data.datasets.map((d) => el("tr", { "data-dataset": d.name },
    el("td", {}, el("a", { href: `#/runs?dataset=${encodeURIComponent(d.name)}` }, d.name)),
    el("td", {}, d.unit), el("td", { class: "num" }, fmt.int(d.lines)),
    el("td", { class: "num" }, fmt.int(d.train)), el("td", { class: "num" }, fmt.int(d.dev)),
    el("td", { class: "num" }, fmt.int(d.test)), el("td", { class: "num" }, fmt.int(d.vocab_size)),
    el("td", {}, d.split), el("td", { class: "num" }, String(d.min_count)),
    el("td", { class: "num" }, fmt.int(d.runs)), el("td", { class: "num" }, lossCell("best_dev", d, d.unit === "word")),
    el("td", { class: "num spent" }, String(d.test_evaluations_spent)),
    el("td", { class: "mono", title: d.sha256 }, d.sha256.slice(0, 16) + "…"),
    el("td", { class: "path" }, d.source)));
  main.replaceChildren(el("h1", {}, "Datasets"), exports("/api/datasets", "ngramlm-datasets"),
    el("p", { class: "muted" }, "Lines are words (a character dataset) or sentences (a word corpus); the test split is locked: only `ngramlm finalize` reads it, and each dataset counts the test evaluations spent on it."),
    el("div", { class: "scroll" }, table(["dataset", "unit", "#lines", "#train", "#dev", "#test", "#vocabulary",
      "split", "#min count", "#runs", "#best dev", "#test evaluations", "sha256", "source"], rows, { id: "datasets-table", class: "grid" })));
};
