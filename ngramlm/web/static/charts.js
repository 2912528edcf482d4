// ngramlm dashboard: the figures, drawn as SVG in the page (no library).
// Every text that comes from the store is set with textContent, never parsed as markup.
"use strict";

const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
    "#e377c2", "#17becf", "#7f7f7f", "#bcbd22", "#393b79", "#637939"];

  function svg(tag, attrs, parent) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  }

  function text(parent, x, y, content, attrs) {
    const t = svg("text", Object.assign({ x, y }, attrs || {}), parent);
    t.textContent = content;
    return t;
  }

  // Nice tick values between lo and hi (about n of them).
  function ticks(lo, hi, n) {
    if (!(hi > lo)) return [lo];
    const raw = (hi - lo) / Math.max(1, n);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
      out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    }
    return out;
  }

  // Ticks on a log axis between a > 0 and b: 1, 2, 5 times powers of ten (fewer when
  // they crowd), or the ends when none falls inside.
  function logTicks(a, b) {
    const out = [];
    for (let k = Math.floor(Math.log10(a)) - 1; k <= Math.ceil(Math.log10(b)); k++) {
      for (const m of [1, 2, 5]) {
        const v = m * Math.pow(10, k);
        if (v >= a * (1 - 1e-9) && v <= b * (1 + 1e-9)) out.push(v);
      }
    }
    if (out.length > 7) return out.filter((v) => Math.abs(Math.log10(v) - Math.round(Math.log10(v))) < 1e-9);
    return out.length >= 2 ? out : [a, b];
  }

  function fmtTick(v) {
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(0);
    if (a >= 1000) return v.toLocaleString("en-US", { maximumFractionDigits: 0 });
    return String(Number(v.toPrecision(4)));
  }

  // A scale: data -> pixels, linear or log10(1 + x) (steps from 0 on a log axis).
  function scale(lo, hi, a, b, log) {
    const f = log ? (v) => Math.log10(1 + Math.max(0, v)) : (v) => v;
    const f0 = f(lo), f1 = f(hi) === f(lo) ? f(lo) + 1 : f(hi);
    const s = (v) => a + ((f(v) - f0) / (f1 - f0)) * (b - a);
    s.ticks = (n) => {
      if (!log) return ticks(lo, hi, n);
      const out = [0];
      for (let p = 1; p <= hi * 10; p *= 10) if (p >= lo && p <= hi) out.push(p);
      return out.filter((v) => v >= lo);
    };
    return s;
  }

  function extent(values, pad) {
    let lo = Math.min(...values), hi = Math.max(...values);
    if (!isFinite(lo) || !isFinite(hi)) return [0, 1];
    if (lo === hi) { const d = Math.abs(lo) * 0.05 || 0.5; lo -= d; hi += d; }
    const p = (hi - lo) * (pad || 0);
    return [lo - p, hi + p];
  }

  function frame(width, height, margin) {
    const root = svg("svg", {
      viewBox: `0 0 ${width} ${height}`, width: "100%", class: "chart",
      preserveAspectRatio: "xMidYMid meet", role: "img",
    });
    svg("rect", { x: margin.l, y: margin.t, width: width - margin.l - margin.r,
      height: height - margin.t - margin.b, class: "plot-bg" }, root);
    return root;
  }

  function axes(root, x, y, box, labels) {
    const g = svg("g", { class: "axes" }, root);
    for (const v of x.ticks(7)) {
      const px = x(v);
      svg("line", { x1: px, x2: px, y1: box.t, y2: box.b, class: "grid" }, g);
      text(g, px, box.b + 16, fmtTick(v), { "text-anchor": "middle", class: "tick" });
    }
    for (const v of y.ticks(6)) {
      const py = y(v);
      svg("line", { x1: box.l, x2: box.r, y1: py, y2: py, class: "grid" }, g);
      text(g, box.l - 6, py + 4, fmtTick(v), { "text-anchor": "end", class: "tick" });
    }
    if (labels.x) text(g, (box.l + box.r) / 2, box.b + 34, labels.x, { "text-anchor": "middle", class: "label" });
    if (labels.y) text(g, 14, (box.t + box.b) / 2, labels.y,
      { "text-anchor": "middle", class: "label", transform: `rotate(-90 14 ${(box.t + box.b) / 2})` });
  }

  // Lines over a shared x axis. series: [{label, color, points: [[x, y], ...], dash,
  // level: y (a horizontal line, labelled), marks: true (a circle a point), end: a title
  // (a circle at the last point)}]; vlines: [{x, label}] (dashed vertical marks).
  function line(opts) {
    const W = opts.width || 760, H = opts.height || 340;
    const m = { l: 62, r: opts.right || 24, t: 14, b: 46 };
    const root = frame(W, H, m);
    const box = { l: m.l, r: W - m.r, t: m.t, b: H - m.b };
    const xs = [], ys = [], firsts = [];
    for (const s of opts.series) {
      for (const [px, py] of s.points || []) { xs.push(px); (px === 0 ? firsts : ys).push(py); }
      if (s.level != null) ys.push(s.level);
    }
    // A step-0 loss far above the rest (an init that starts at 27 nats) would flatten
    // every later point: the axis is then fitted to the rest, the start noted above it.
    const rest = ys.length ? [Math.min(...ys), Math.max(...ys)] : null;
    const high = rest && opts.clipStart !== false && firsts.some((v) => v > rest[1] + 5 * (rest[1] - rest[0] || 0.1));
    if (!high) ys.push(...firsts);
    if (!xs.length) xs.push(0, 1);
    const [x0, x1] = opts.logx ? [Math.min(...xs, 0), Math.max(...xs, 1)] : extent(xs, 0);
    const [y0, y1] = extent(ys.length ? ys : [0, 1], 0.05);
    const x = scale(x0, x1, box.l, box.r, opts.logx);
    const y = scale(y0, y1, box.b, box.t, false);
    axes(root, x, y, box, { x: opts.xlabel, y: opts.ylabel });
    const clip = `clip${Math.random().toString(36).slice(2)}`;
    svg("rect", { x: box.l, y: box.t - 4, width: box.r - box.l, height: box.b - box.t + 8 },
      svg("clipPath", { id: clip }, svg("defs", {}, root)));
    for (const v of opts.vlines || []) {  // vertical marks: [{x, label}] (a search's rungs)
      const g = svg("g", { class: "vline", "data-x": v.x }, root);
      svg("line", { x1: x(v.x), x2: x(v.x), y1: box.t, y2: box.b, stroke: "#888", "stroke-dasharray": "3 3" }, g);
      text(g, x(v.x) + 4, box.t + 12, v.label, { class: "note" });
    }
    if (high) {
      text(root, box.r - 8, box.t + 14, `step 0: ${Math.max(...firsts).toFixed(2)}, above the axis`,
        { class: "note", "text-anchor": "end" });
    }
    for (const s of opts.series) {
      const g = svg("g", { class: "series", "data-label": s.label, "data-key": s.key || "",
        "clip-path": `url(#${clip})` }, root);
      if (s.level != null) {
        svg("line", { x1: box.l, x2: box.r, y1: y(s.level), y2: y(s.level), stroke: s.color,
          "stroke-dasharray": "6 4", class: "level" }, g);
        text(g, box.r - 4, y(s.level) - 5, s.label, { "text-anchor": "end", fill: s.color, class: "level-label" });
        continue;
      }
      const pts = (s.points || []).filter(([px, py]) => isFinite(px) && isFinite(py));
      if (!pts.length) continue;
      const d = pts.map(([px, py], i) => `${i ? "L" : "M"}${x(px).toFixed(1)},${y(py).toFixed(1)}`).join("");
      const path = svg("path", { d, stroke: s.color, fill: "none", class: "line" }, g);
      if (s.dash) path.setAttribute("stroke-dasharray", s.dash);
      svg("title", {}, path).textContent = s.label;
      if (s.end) {  // a mark where the line stops (a pruned trial)
        const [px, py] = pts[pts.length - 1];
        const c = svg("circle", { cx: x(px).toFixed(1), cy: y(py).toFixed(1), r: 3, fill: s.color, class: "end" }, g);
        svg("title", {}, c).textContent = s.end;
      }
      if (s.marks !== false) {
        for (const [px, py] of pts) {
          const c = svg("circle", { cx: x(px).toFixed(1), cy: y(py).toFixed(1), r: s.r || 2.6,
            fill: s.color, class: "pt" }, g);
          svg("title", {}, c).textContent = `${s.label}: step ${fmtTick(px)}, ${py.toFixed(4)}`;
        }
      }
    }
    return root;
  }

  // Points (x, y) with a step line of the best so far: a search's dev against minutes.
  function progress(opts) {
    const series = [{ label: "best so far", key: "best", color: "#2ca02c", points: opts.best, marks: false }];
    for (const group of opts.groups) series.push(Object.assign({ marks: true }, group));
    const root = line({ series, xlabel: opts.xlabel, ylabel: opts.ylabel, width: 560, height: 320 });
    root.querySelectorAll('g[data-key="best"] path').forEach((p) => p.classList.add("best"));
    return root;
  }

  // Parallel coordinates: dims [{key, label, log, choices}], rows [{values: {key: v},
  // color, dash, title}]. A numeric axis spans the values drawn (log when asked).
  function parallel(opts) {
    const W = opts.width || 860, H = opts.height || 360;
    const m = { l: 50, r: 50, t: 30, b: 30 };
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", class: "chart parallel" });
    const n = opts.dims.length;
    const xAt = (i) => m.l + (n === 1 ? 0 : (i * (W - m.l - m.r)) / (n - 1));
    const ys = opts.dims.map((dim) => {
      const vals = opts.rows.map((r) => r.values[dim.key]).filter((v) => v != null);
      if (dim.choices || vals.some((v) => typeof v !== "number")) {
        const cats = dim.choices ? dim.choices.map(String) : [...new Set(vals.map(String))].sort();
        for (const v of vals.map(String)) if (!cats.includes(v)) cats.push(v);
        const y = (v) => H - m.b - ((cats.indexOf(String(v)) + 0.5) / cats.length) * (H - m.t - m.b);
        y.labels = cats.map((c) => [c, y(c)]);
        return y;
      }
      const log = dim.log && vals.every((v) => v > 0);
      const f = log ? Math.log10 : (v) => v;
      let lo = Math.min(...vals.map(f)), hi = Math.max(...vals.map(f));
      if (lo === hi) { lo -= 1; hi += 1; }
      const y = (v) => H - m.b - ((f(v) - lo) / (hi - lo)) * (H - m.t - m.b);
      const tv = log ? logTicks(Math.pow(10, lo), Math.pow(10, hi)) : ticks(lo, hi, 4);
      y.labels = tv.map((t) => [fmtTick(t), y(t)]);
      return y;
    });
    const lines = svg("g", { class: "lines" }, root);
    for (const r of opts.rows) {
      const pts = opts.dims.map((dim, i) => (r.values[dim.key] == null ? null : [xAt(i), ys[i](r.values[dim.key])]));
      if (pts.some((p) => p === null)) continue;
      const p = svg("path", { d: pts.map(([px, py], i) => `${i ? "L" : "M"}${px.toFixed(1)},${py.toFixed(1)}`).join(""),
        stroke: r.color, fill: "none", class: "pline" }, lines);
      if (r.dash) p.setAttribute("stroke-dasharray", r.dash);
      svg("title", {}, p).textContent = r.title || "";
    }
    opts.dims.forEach((dim, i) => {
      const g = svg("g", { class: "paxis", "data-key": dim.key }, root);
      svg("line", { x1: xAt(i), x2: xAt(i), y1: m.t, y2: H - m.b, class: "axis" }, g);
      text(g, xAt(i), m.t - 12, dim.label || dim.key, { "text-anchor": "middle", class: "label" });
      for (const [lab, py] of ys[i].labels) text(g, xAt(i) + 5, py + 4, lab, { class: "tick" });
    });
    return root;
  }

  // Horizontal bars: items [{label, value}] (0..max).
  function bars(opts) {
    const W = opts.width || 460, row = 26, H = opts.items.length * row + 20;
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", class: "chart bars" });
    const max = Math.max(...opts.items.map((it) => it.value), 1e-12);
    const l = 130, r = 60;
    opts.items.forEach((it, i) => {
      const y = 10 + i * row;
      text(root, l - 8, y + 15, it.label, { "text-anchor": "end", class: "label" });
      svg("rect", { x: l, y: y + 3, height: row - 8, width: Math.max(1, ((W - l - r) * it.value) / max),
        class: "bar", "data-key": it.label }, root);
      text(root, l + ((W - l - r) * it.value) / max + 6, y + 15, it.value.toFixed(3), { class: "tick" });
    });
    return root;
  }

  // A colour from good (0) to bad (1): blue, through purple, to orange.
  function ramp(t) {
    const c0 = [31, 78, 160], c1 = [230, 120, 30];
    const c = c0.map((v, i) => Math.round(v + (c1[i] - v) * Math.min(1, Math.max(0, t))));
    return `rgb(${c[0]},${c[1]},${c[2]})`;
  }

  // The rows' first two principal components (power iteration on the centred rows'
  // scatter matrix, each component kept orthogonal to the one before); rows of one or
  // two numbers are drawn as they are.
  function pca2(rows) {
    const n = rows.length, d = rows[0].length;
    if (d <= 2) return rows.map((r) => [r[0], d === 2 ? r[1] : 0]);
    const mean = Array(d).fill(0);
    rows.forEach((r) => r.forEach((v, j) => { mean[j] += v / n; }));
    const X = rows.map((r) => r.map((v, j) => v - mean[j]));
    const S = Array.from({ length: d }, (_, a) => Array.from({ length: d }, (_, b) => X.reduce((s, r) => s + r[a] * r[b], 0)));
    const dot = (u, v) => u.reduce((s, x, j) => s + x * v[j], 0);
    const comps = [];
    for (let k = 0; k < 2; k++) {
      let v = Array.from({ length: d }, (_, j) => (j === k ? 1 : 0.01 * (j + 1)));
      for (let it = 0; it < 300; it++) {
        let w = S.map((row) => dot(row, v));
        for (const u of comps) { const p = dot(w, u); w = w.map((x, j) => x - p * u[j]); }
        const norm = Math.hypot(...w) || 1;
        v = w.map((x) => x / norm);
      }
      comps.push(v);
    }
    return X.map((r) => comps.map((u) => dot(r, u)));
  }

  // Points with the first ``named`` labelled (a halo keeps a label readable over a dot),
  // on equal scales: distances mean something.
  function scatter(opts) {
    const W = opts.width || 620, H = opts.height || 520, pad = 28;
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", class: "chart scatter" });
    svg("rect", { x: 0, y: 0, width: W, height: H, class: "plot-bg" }, root);
    const xs = opts.points.map((p) => p[0]), ys = opts.points.map((p) => p[1]);
    const [x0, x1] = extent(xs, 0.04), [y0, y1] = extent(ys, 0.04);
    const k = Math.min((W - 2 * pad) / (x1 - x0), (H - 2 * pad) / (y1 - y0));
    const cx = (W - k * (x1 - x0)) / 2, cy = (H - k * (y1 - y0)) / 2;
    const at = ([x, y]) => [cx + k * (x - x0), H - cy - k * (y - y0)];
    const g = svg("g", { class: "dots" }, root);
    opts.points.forEach((p, i) => {
      const [px, py] = at(p);
      const c = svg("circle", { cx: px.toFixed(1), cy: py.toFixed(1), r: 3.5, class: "dot" }, g);
      svg("title", {}, c).textContent = opts.labels[i];
    });
    const named = svg("g", { class: "names" }, root);
    opts.points.slice(0, opts.named).forEach((p, i) => {
      const [px, py] = at(p);
      text(named, px + 5, py - 4, opts.labels[i], { class: "name" });
    });
    return root;
  }

  // A short line of a series' colour, for a legend.
  function swatch(color, dash) {
    const root = svg("svg", { width: 26, height: 10, class: "swatch" });
    const l = svg("line", { x1: 1, x2: 25, y1: 5, y2: 5, stroke: color, "stroke-width": 3 }, root);
    if (dash) l.setAttribute("stroke-dasharray", dash);
    return root;
  }

  return { line, progress, parallel, bars, scatter, pca2, ramp, swatch, PALETTE, fmtTick };
})();
