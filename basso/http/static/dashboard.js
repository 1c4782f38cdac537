// Basso's dashboard: draws the equity chart (uPlot) after every swap of the panels, shows the controls only on
// the instance that trades, and sends the operator's actions to the admin endpoints with the admin token as a
// Bearer header. The token is asked for once and kept in sessionStorage (this tab only), never in a URL.
"use strict";

const TOKEN_KEY = "basso.adminToken";
let chart = null;

function rupees(value) {
  return "₹" + Number(value).toLocaleString("en-IN", {maximumFractionDigits: 0});
}

function drawChart() {
  const holder = document.getElementById("equity-chart");
  const source = document.getElementById("equity-data");
  if (chart) { chart.destroy(); chart = null; }
  if (!holder || !source || typeof uPlot === "undefined") return;
  // /api/equity's reply: money as exact decimal strings, times as ISO-8601; uPlot wants numbers and seconds.
  const points = JSON.parse(source.textContent).points;
  holder.textContent = "";
  if (points.length === 0) { holder.textContent = "No equity recorded yet."; return; }
  const money = (v) => v === null ? null : Number(v);
  const data = [
    points.map(p => Date.parse(p.at) / 1000),
    points.map(p => money(p.closed)),
    points.map(p => money(p.blended)),
    points.map(p => money(p.high_water)),
    points.map(p => p.drawdown_pct),
  ];
  // The last mark is the book as it stands: it holds until now.
  const now = Date.now() / 1000;
  if (now > data[0][data[0].length - 1]) data.forEach((series, i) => series.push(i === 0 ? now : series[series.length - 1]));
  const width = Math.max(200, holder.clientWidth);
  chart = new uPlot({
    width: width, height: 260,
    scales: {x: {time: true}, pct: {auto: true}},
    series: [
      {},
      {label: "Closed", stroke: "#1f4e8c", width: 2, value: (u, v) => v == null ? "—" : rupees(v)},
      {label: "Blended", stroke: "#8a5a00", value: (u, v) => v == null ? "—" : rupees(v)},
      {label: "High water", stroke: "#6b6b6b", dash: [4, 4], value: (u, v) => v == null ? "—" : rupees(v)},
      {label: "Drawdown %", stroke: "#a11d1d", scale: "pct", value: (u, v) => v == null ? "—" : v.toFixed(2) + " %"},
    ],
    axes: [{}, {values: (u, vals) => vals.map(v => rupees(v)), size: 90}, {side: 1, scale: "pct", grid: {show: false}}],
  }, data, holder);
}

function leads() {
  const header = document.getElementById("panel-header");
  return header !== null && header.dataset.leads === "true";
}

function showControls() {
  const controls = document.getElementById("panel-controls");
  if (controls) controls.hidden = !leads();
  const kept = sessionStorage.getItem(TOKEN_KEY) !== null;
  document.getElementById("token-form").hidden = kept;
  document.getElementById("token-kept").hidden = !kept;
}

function showLive() {
  const live = document.getElementById("live");
  if (live) live.textContent = document.body.dataset.live === "true" ? "live" : "not live: reconnecting";
}

function say(text) {
  document.getElementById("control-result").textContent = text;
}

async function send(path, body) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token === null) {
    say("Enter the admin token first.");
    document.getElementById("admin-token").focus();
    return null;
  }
  const response = await fetch(path, {
    method: "POST",
    headers: {"Authorization": "Bearer " + token, "Content-Type": "application/json"},
    body: JSON.stringify(body),
  });
  const reply = await response.json().catch(() => ({}));
  if (response.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    showControls();
    say("Refused: the admin token is wrong. Enter it again.");
    return null;
  }
  if (!response.ok) {
    say("Refused (" + response.status + "): " + (reply.error || reply.status || "no reason given"));
    return null;
  }
  return reply;
}

function reason(form) {
  return form.elements.reason.value.trim();
}

function wire() {
  document.getElementById("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = document.getElementById("admin-token");
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    input.value = "";
    showControls();
    say("Admin token kept for this session.");
  });
  document.getElementById("forget-token").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showControls();
    say("Admin token forgotten.");
  });
  document.getElementById("kill-switch-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const on = event.submitter !== null && event.submitter.value === "true";
    const reply = await send("/api/kill-switch", {on: on, reason: reason(event.target)});
    if (reply) say("Kill switch " + (reply.kill_switch ? "on" : "off") + (reply.changed ? "." : " (it already was)."));
  });
  document.getElementById("flatten-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const reply = await send("/api/flatten", {confirm: true, reason: reason(event.target)});
    if (reply) say(reply.status === "accepted" ? "Flatten stored: " + reply.signals.length + " exit signal(s)." : "Nothing open.");
  });
  document.getElementById("capital-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const reply = await send("/api/capital", {kind: form.elements.kind.value, amount: form.elements.amount.value.trim(),
                                              note: form.elements.note.value.trim()});
    if (reply) { say("Booked: " + reply.kind + " of " + rupees(reply.amount) + "."); form.reset(); }
  });
  document.getElementById("panels").addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-ack]");
    if (!button) return;
    const reply = await send("/api/alerts/ack", {id: Number(button.dataset.ack)});
    if (reply) say("Alert " + reply.id + " acknowledged.");
  });
  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (event.target.id === "panels") { drawChart(); showControls(); showLive(); }
  });
  // Whether live updates flow: the page says so (a stale page must not pass for a live one).
  document.body.addEventListener("htmx:sseOpen", () => { document.body.dataset.live = "true"; showLive(); });
  document.body.addEventListener("htmx:sseError", () => { document.body.dataset.live = "false"; showLive(); });
  let resized = null;
  window.addEventListener("resize", () => { clearTimeout(resized); resized = setTimeout(drawChart, 150); });
}

document.addEventListener("DOMContentLoaded", () => { wire(); showControls(); drawChart(); });
