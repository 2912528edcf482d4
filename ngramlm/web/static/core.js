// ngramlm dashboard: what every view shares (elements, formats, the JSON API, the
// router). Views register in Views by the first part of the address (#/runs, #/run/12).
"use strict";

const Views = {};
let current = { stop() {} }; // the view on screen; stop() ends its timers

// An element: el("a", {href: "#/run/1", class: "x"}, "text", child, ...). Children that
// are strings become text nodes: nothing from the store is ever parsed as HTML.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    node.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
  return node;
}

const fmt = {
  loss: (x) => (x == null ? "—" : x.toFixed(4)),
  gap: (x) => (x == null ? "—" : (x > -0.0005 ? "+" + Math.abs(x).toFixed(3) : x.toFixed(3))),
  int: (x) => (x == null ? "—" : Number(x).toLocaleString("en-US")),
  num: (x) => (x == null ? "—" : typeof x !== "number" ? String(x)
    : Number.isInteger(x) ? x.toLocaleString("en-US") : String(Number(x.toPrecision(4)))),
  secs: (x) => (x == null ? "—" : x < 100 ? `${x.toFixed(1)}s` : x < 6000 ? `${(x / 60).toFixed(1)}m` : `${(x / 3600).toFixed(1)}h`),
  when: (iso) => (iso ? iso.replace("T", " ").slice(0, 19) : "—"),
  age: (s) => (s == null ? "—" : s < 90 ? `${Math.round(s)} s ago` : s < 5400 ? `${Math.round(s / 60)} min ago` : `${(s / 3600).toFixed(1)} h ago`),
};

function badge(status) {
  return el("span", { class: `badge st-${status}` }, status);
}

// GET a JSON endpoint; a refused request shows its one-line message and throws.
async function getJSON(path) {
  const res = await fetch(path, { headers: { Accept: "application/json" } });
  if (!res.ok) {
    let msg = `${res.status}`;
    try { msg = (await res.json()).error || msg; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  return res.json();
}

function problem(msg) {
  const box = document.getElementById("problem");
  box.textContent = msg;
  box.hidden = !msg;
}

// A timer that runs fn every ms until the view changes (and not while a call is out).
function every(ms, fn) {
  let busy = false;
  const id = setInterval(async () => {
    if (busy) return;
    busy = true;
    try { await fn(); } catch (e) { problem(e.message); } finally { busy = false; }
  }, ms);
  return () => clearInterval(id);
}

function route() {
  const hash = location.hash.replace(/^#\/?/, "") || "runs";
  const [path, qs] = hash.split("?");
  const [name, arg] = path.split("/");
  const view = Views[name] || Views.runs;
  current.stop();
  problem("");
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("on",
    a.dataset.nav === name || (a.dataset.nav === "runs" && name === "run") || (a.dataset.nav === "sweeps" && name === "sweep")));
  const main = document.getElementById("main");
  const stops = [];
  current = { stop() { stops.forEach((s) => s()); } };
  view(main, { arg, params: new URLSearchParams(qs || ""), onStop: (s) => stops.push(s) })
    .catch((e) => { main.replaceChildren(el("p", { class: "error" }, e.message)); });
}

// Replace the address's query without adding a history entry for every keystroke.
function setQuery(name, params) {
  const qs = params.toString();
  history.replaceState(null, "", `#/${name}${qs ? "?" + qs : ""}`);
}

// A table; a header given as "#name" heads a column of numbers (right-aligned).
function table(headers, rows, attrs) {
  const th = (h) => (h.startsWith("#") ? el("th", { class: "num" }, h.slice(1)) : el("th", {}, h));
  return el("table", attrs || {},
    el("thead", {}, el("tr", {}, headers.map((h) => (typeof h === "string" ? th(h) : h)))),
    el("tbody", {}, rows));
}

function keyValues(obj, attrs) {
  return el("dl", Object.assign({ class: "kv" }, attrs || {}),
    Object.entries(obj).map(([k, v]) => [el("dt", {}, k), el("dd", {}, v == null ? "—" : typeof v === "object" ? v : String(v))]));
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", async () => {
  try {
    const info = await getJSON("/api/info");
    document.getElementById("store").textContent = `${info.store} · read-only · ngramlm ${info.version}`;
  } catch (e) { problem(e.message); }
  route();
});

// A table's CSV and JSON files (the dashboard's export endpoints).
function exports(base, name) {
  return el("p", { class: "exports" }, "export: ",
    el("a", { href: `${base}.csv`, download: `${name}.csv`, class: "export-csv" }, "CSV"), " · ",
    el("a", { href: `${base}.json`, target: "_blank", class: "export-json" }, "JSON"));
}
